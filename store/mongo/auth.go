package mongo

import (
	"context"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// errNoAuth is what the users, credentials and audit aggregates answer
// until MongoDB stores them.
var errNoAuth = errors.New("store: users, credentials and the audit log are not stored in MongoDB yet")

func (s *Store) Users() store.Users             { return noUsers{} }
func (s *Store) Credentials() store.Credentials { return noCredentials{} }
func (s *Store) Audit() store.Audit             { return noAudit{} }

type noUsers struct{}

func (noUsers) Create(context.Context, *store.User) error              { return errNoAuth }
func (noUsers) Get(context.Context, string) (*store.User, error)       { return nil, errNoAuth }
func (noUsers) GetByName(context.Context, string) (*store.User, error) { return nil, errNoAuth }
func (noUsers) List(context.Context) ([]store.User, error)             { return nil, errNoAuth }
func (noUsers) Update(context.Context, *store.User) error              { return errNoAuth }
func (noUsers) Delete(context.Context, string) error                   { return errNoAuth }

type noCredentials struct{}

func (noCredentials) Create(context.Context, *store.Credential) error { return errNoAuth }
func (noCredentials) Get(context.Context, string) (*store.Credential, error) {
	return nil, errNoAuth
}
func (noCredentials) GetByHash(context.Context, string) (*store.Credential, error) {
	return nil, errNoAuth
}
func (noCredentials) List(context.Context, store.CredentialFilter) ([]store.Credential, error) {
	return nil, errNoAuth
}
func (noCredentials) Touch(context.Context, string, time.Time) error { return errNoAuth }
func (noCredentials) Delete(context.Context, string) error           { return errNoAuth }
func (noCredentials) DeleteMatching(context.Context, store.CredentialFilter) ([]string, error) {
	return nil, errNoAuth
}
func (noCredentials) DeleteExpired(context.Context, time.Time) (int, error) { return 0, errNoAuth }

type noAudit struct{}

func (noAudit) Append(context.Context, *store.AuditEntry) error { return errNoAuth }
func (noAudit) List(context.Context, store.AuditFilter) ([]store.AuditEntry, int, error) {
	return nil, 0, errNoAuth
}
func (noAudit) DeleteBefore(context.Context, time.Time) (int, error) { return 0, errNoAuth }
