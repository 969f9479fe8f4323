package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// User is a person who signs in to the dashboard. Role is one of the auth
// package's roles; the store keeps it as given.
type User struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
	// PasswordHash is the PHC-format hash (argon2id) of the password, or
	// "" for a user who cannot sign in with a password (yet). Never sent.
	PasswordHash string `json:"-"`
	// Disabled users cannot sign in, and their sessions and tokens stop
	// working.
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Users stores users. Usernames are unique.
type Users interface {
	// Create stores u (u.ID must be set); ErrConflict if the username is
	// taken.
	Create(ctx context.Context, u *User) error
	// Get and GetByName return ErrNotFound for an unknown user.
	Get(ctx context.Context, id string) (*User, error)
	GetByName(ctx context.Context, username string) (*User, error)
	// List returns every user ordered by username.
	List(ctx context.Context) ([]User, error)
	// Update replaces the user with u.ID; ErrNotFound, or ErrConflict for
	// a username another user has.
	Update(ctx context.Context, u *User) error
	// Delete removes the user; ErrNotFound for an unknown id. It does not
	// remove the user's credentials: callers delete those first.
	Delete(ctx context.Context, id string) error
}

// Credential kinds, as the store keeps them.
const (
	CredentialToken   = "token"   // a named API token
	CredentialSession = "session" // a dashboard sign-in (the cookie)
	CredentialTicket  = "ticket"  // a single-use WebSocket ticket
)

// Credential is a secret that acts as a user: an API token, a dashboard
// session or a WebSocket ticket. Only a hash of the secret is stored.
type Credential struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Name   string `json:"name,omitempty"`
	UserID string `json:"user_id"`
	// Role is what the credential may do: never more than its owner's role
	// (checked when it is used, since the owner's role may change).
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the secret: secrets are long and random,
	// so a fast hash is enough and lookups stay one index read. Never sent.
	Hash string `json:"-"`
	// CSRF is a session's anti-forgery token. Never sent but at sign-in.
	CSRF string `json:"-"`
	// ParentID is, for a ticket, the credential that asked for it (the
	// WebSocket it opens is closed when that one is revoked).
	ParentID string    `json:"parent_id,omitempty"`
	Expires  time.Time `json:"expires,omitzero"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Created  time.Time `json:"created"`
}

// Expired reports whether c has an expiry and it is not after now.
func (c *Credential) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !c.Expires.After(now)
}

// CredentialFilter selects credentials; zero fields match everything.
type CredentialFilter struct {
	Kind   string
	UserID string
}

// Credentials stores credentials. Hashes are unique.
type Credentials interface {
	// Create stores c (c.ID must be set); ErrConflict if the hash exists.
	Create(ctx context.Context, c *Credential) error
	// Get and GetByHash return ErrNotFound for an unknown credential,
	// expired ones included (callers check Expired).
	Get(ctx context.Context, id string) (*Credential, error)
	GetByHash(ctx context.Context, hash string) (*Credential, error)
	// List returns the matching credentials, newest first.
	List(ctx context.Context, f CredentialFilter) ([]Credential, error)
	// Touch records a use: LastUsed = at. ErrNotFound for an unknown id.
	Touch(ctx context.Context, id string, at time.Time) error
	// Delete removes one credential; ErrNotFound if it is not there, which
	// is how a ticket is used only once: whoever deletes it uses it.
	Delete(ctx context.Context, id string) error
	// DeleteMatching removes the matching credentials and returns their
	// ids (signing a user out everywhere, revoking a disabled user's
	// tokens). A zero filter is refused with an error.
	DeleteMatching(ctx context.Context, f CredentialFilter) ([]string, error)
	// DeleteExpired removes the credentials whose expiry is before before,
	// and says how many.
	DeleteExpired(ctx context.Context, before time.Time) (int, error)
}

// AuditEntry records one thing someone did.
type AuditEntry struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	// Actor names who did it (auth.Principal.Actor); UserID and
	// CredentialID identify them.
	Actor        string `json:"actor"`
	UserID       string `json:"user_id,omitempty"`
	CredentialID string `json:"credential_id,omitempty"`
	// Address is the client's address (behind trusted proxies, the one
	// they forwarded).
	Address string `json:"address,omitempty"`
	// Action is a dotted verb: "task.run", "task.cancel", "spider.upload",
	// "user.create", "token.revoke", "auth.login", "auth.login_failed" …
	Action string `json:"action"`
	// Target is what it was done to: an id, a name.
	Target string `json:"target,omitempty"`
	// Detail is anything else a person would want to know, in words.
	Detail string `json:"detail,omitempty"`
}

// AuditFilter selects audit entries; zero fields match everything. Limit
// zero means no limit.
type AuditFilter struct {
	Action string `json:"action,omitempty"`
	UserID string `json:"user_id,omitempty"`
	Target string `json:"target,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	Offset int    `json:"offset,omitempty"`
}

// Audit stores the audit log.
type Audit interface {
	// Append stores e (e.ID must be set; a zero Time is set to now).
	Append(ctx context.Context, e *AuditEntry) error
	// List returns the matching entries, newest first (by Time, then id),
	// and how many match in all regardless of Limit and Offset.
	List(ctx context.Context, f AuditFilter) ([]AuditEntry, int, error)
	// DeleteBefore removes entries older than before (retention).
	DeleteBefore(ctx context.Context, before time.Time) (int, error)
}

// CheckUser is what every store checks before storing u: a valid id and a
// username.
func CheckUser(u *User) error {
	if !ValidID(u.ID) {
		return fmt.Errorf("invalid id %q: want 24 hex digits (store.NewID)", u.ID)
	}
	if u.Username == "" {
		return errors.New("empty username")
	}
	return nil
}

// CheckCredential is what every store checks before storing c: a valid id,
// a known kind and a hash (an empty one would match a lookup of "").
func CheckCredential(c *Credential) error {
	if !ValidID(c.ID) {
		return fmt.Errorf("invalid id %q: want 24 hex digits (store.NewID)", c.ID)
	}
	switch c.Kind {
	case CredentialToken, CredentialSession, CredentialTicket:
	default:
		return fmt.Errorf("unknown credential kind %q", c.Kind)
	}
	if c.Hash == "" {
		return errors.New("no hash")
	}
	return nil
}
