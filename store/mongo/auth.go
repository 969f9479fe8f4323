package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// Users, credentials and the audit log.

func (s *Store) Users() store.Users             { return (*users)(s) }
func (s *Store) Credentials() store.Credentials { return (*credentials)(s) }
func (s *Store) Audit() store.Audit             { return (*audit)(s) }

// ---- users

type userDoc struct {
	ID           string    `bson:"_id"`
	Username     string    `bson:"username"`
	Role         string    `bson:"role"`
	PasswordHash string    `bson:"password_hash"`
	Disabled     bool      `bson:"disabled"`
	Created      time.Time `bson:"created"`
	Updated      time.Time `bson:"updated"`
}

func toUserDoc(u *store.User) *userDoc {
	return &userDoc{
		ID: u.ID, Username: u.Username, Role: u.Role, PasswordHash: u.PasswordHash, Disabled: u.Disabled,
		Created: ms(u.Created), Updated: ms(u.Updated),
	}
}

func (d *userDoc) user() store.User {
	return store.User{
		ID: d.ID, Username: d.Username, Role: d.Role, PasswordHash: d.PasswordHash, Disabled: d.Disabled,
		Created: d.Created.UTC(), Updated: d.Updated.UTC(),
	}
}

type users Store

func (s *users) Create(ctx context.Context, u *store.User) error {
	if err := store.CheckUser(u); err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	if _, err := s.users.InsertOne(ctx, toUserDoc(u)); err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, conflict(err))
	}
	return nil
}

func (s *users) get(ctx context.Context, what string, filter bson.D) (*store.User, error) {
	var d userDoc
	if err := findOne(ctx, s.users, filter, &d); err != nil {
		return nil, fmt.Errorf("store: get user %s: %w", what, err)
	}
	u := d.user()
	return &u, nil
}

func (s *users) Get(ctx context.Context, id string) (*store.User, error) {
	return s.get(ctx, id, bson.D{{Key: "_id", Value: id}})
}

func (s *users) GetByName(ctx context.Context, username string) (*store.User, error) {
	return s.get(ctx, fmt.Sprintf("%q", username), bson.D{{Key: "username", Value: username}})
}

func (s *users) List(ctx context.Context) ([]store.User, error) {
	list, err := findAll(ctx, s.users, bson.D{}, (*userDoc).user,
		options.Find().SetSort(bson.D{{Key: "username", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return list, nil
}

func (s *users) Update(ctx context.Context, u *store.User) error {
	if err := s.update(ctx, u); err != nil {
		return fmt.Errorf("store: update user %s: %w", u.ID, err)
	}
	return nil
}

func (s *users) update(ctx context.Context, u *store.User) error {
	if u.Username == "" {
		return errors.New("empty username")
	}
	if err := nameFree(ctx, s.users, "username", u.ID, u.Username); err != nil {
		return err
	}
	res, err := s.users.ReplaceOne(ctx, bson.D{{Key: "_id", Value: u.ID}}, toUserDoc(u))
	return matched(matchedCount(res), conflict(err))
}

func (s *users) Delete(ctx context.Context, id string) error {
	res, err := s.users.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err = matched(deletedCount(res), err); err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	return nil
}

// ---- credentials

type credentialDoc struct {
	ID       string `bson:"_id"`
	Kind     string `bson:"kind"`
	Name     string `bson:"name,omitempty"`
	UserID   string `bson:"user_id"`
	Role     string `bson:"role"`
	Hash     string `bson:"hash"`
	CSRF     string `bson:"csrf,omitempty"`
	ParentID string `bson:"parent_id,omitempty"`
	// Never expires, never used: absent rather than year 1, which also
	// keeps credentials that never expire out of DeleteExpired's $lt.
	Expires  time.Time `bson:"expires,omitempty"`
	LastUsed time.Time `bson:"last_used,omitempty"`
	Created  time.Time `bson:"created"`
}

func (d *credentialDoc) credential() store.Credential {
	return store.Credential{
		ID: d.ID, Kind: d.Kind, Name: d.Name, UserID: d.UserID, Role: d.Role, Hash: d.Hash, CSRF: d.CSRF,
		ParentID: d.ParentID, Expires: utcOrZero(d.Expires), LastUsed: utcOrZero(d.LastUsed), Created: d.Created.UTC(),
	}
}

type credentials Store

func (s *credentials) Create(ctx context.Context, c *store.Credential) error {
	if err := store.CheckCredential(c); err != nil {
		return fmt.Errorf("store: create credential: %w", err)
	}
	_, err := s.credentials.InsertOne(ctx, &credentialDoc{
		ID: c.ID, Kind: c.Kind, Name: c.Name, UserID: c.UserID, Role: c.Role, Hash: c.Hash, CSRF: c.CSRF,
		ParentID: c.ParentID, Expires: ms(c.Expires), LastUsed: ms(c.LastUsed), Created: ms(c.Created),
	})
	if err != nil {
		// The driver's duplicate key message quotes the key, here the
		// hash: keep it out of the error, which may be logged.
		if errors.Is(conflict(err), store.ErrConflict) {
			err = store.ErrConflict
		}
		return fmt.Errorf("store: create %s credential %s: %w", c.Kind, c.ID, err)
	}
	return nil
}

func (s *credentials) get(ctx context.Context, what string, filter bson.D) (*store.Credential, error) {
	var d credentialDoc
	if err := findOne(ctx, s.credentials, filter, &d); err != nil {
		return nil, fmt.Errorf("store: get credential%s: %w", what, err)
	}
	c := d.credential()
	return &c, nil
}

func (s *credentials) Get(ctx context.Context, id string) (*store.Credential, error) {
	return s.get(ctx, " "+id, bson.D{{Key: "_id", Value: id}})
}

func (s *credentials) GetByHash(ctx context.Context, hash string) (*store.Credential, error) {
	return s.get(ctx, " by hash", bson.D{{Key: "hash", Value: hash}})
}

// credentialFilter is f as a query, empty for the zero filter.
func credentialFilter(f store.CredentialFilter) bson.D {
	filter := bson.D{}
	if f.Kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: f.Kind})
	}
	if f.UserID != "" {
		filter = append(filter, bson.E{Key: "user_id", Value: f.UserID})
	}
	return filter
}

func (s *credentials) List(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	list, err := findAll(ctx, s.credentials, credentialFilter(f), (*credentialDoc).credential,
		options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list credentials: %w", err)
	}
	return list, nil
}

func (s *credentials) Touch(ctx context.Context, id string, at time.Time) error {
	res, err := s.credentials.UpdateByID(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "last_used", Value: ms(at)}}}})
	if err = matched(matchedCount(res), err); err != nil {
		return fmt.Errorf("store: touch credential %s: %w", id, err)
	}
	return nil
}

func (s *credentials) Delete(ctx context.Context, id string) error {
	res, err := s.credentials.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err = matched(deletedCount(res), err); err != nil {
		return fmt.Errorf("store: delete credential %s: %w", id, err)
	}
	return nil
}

// DeleteMatching finds the matching ids, then deletes those ids: the ids
// returned are exactly the credentials that are gone (one created between
// the two steps is left, as if it had come just after).
func (s *credentials) DeleteMatching(ctx context.Context, f store.CredentialFilter) ([]string, error) {
	filter := credentialFilter(f)
	if len(filter) == 0 {
		return nil, errors.New("store: delete credentials: refusing to delete every credential (empty filter)")
	}
	ids, err := findAll(ctx, s.credentials, filter, func(d *struct {
		ID string `bson:"_id"`
	}) string {
		return d.ID
	}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: delete credentials: %w", err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if _, err := s.credentials.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return nil, fmt.Errorf("store: delete %d credentials: %w", len(ids), err)
	}
	return ids, nil
}

func (s *credentials) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	res, err := s.credentials.DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lt", Value: ms(before)}}}})
	if err != nil {
		return 0, fmt.Errorf("store: delete expired credentials: %w", err)
	}
	return int(deletedCount(res)), nil
}

// ---- audit

type auditDoc struct {
	ID           string    `bson:"_id"`
	Time         time.Time `bson:"time"`
	Actor        string    `bson:"actor"`
	UserID       string    `bson:"user_id"`
	CredentialID string    `bson:"credential_id,omitempty"`
	Address      string    `bson:"address,omitempty"`
	Action       string    `bson:"action"`
	Target       string    `bson:"target"`
	Detail       string    `bson:"detail,omitempty"`
}

func (d *auditDoc) entry() store.AuditEntry {
	return store.AuditEntry{
		ID: d.ID, Time: d.Time.UTC(), Actor: d.Actor, UserID: d.UserID, CredentialID: d.CredentialID,
		Address: d.Address, Action: d.Action, Target: d.Target, Detail: d.Detail,
	}
}

type audit Store

func (s *audit) Append(ctx context.Context, e *store.AuditEntry) error {
	if err := checkID(e.ID); err != nil {
		return fmt.Errorf("store: append audit entry %q: %w", e.Action, err)
	}
	if e.Time.IsZero() {
		e.Time = store.Now()
	}
	_, err := s.audit.InsertOne(ctx, &auditDoc{
		ID: e.ID, Time: ms(e.Time), Actor: e.Actor, UserID: e.UserID, CredentialID: e.CredentialID,
		Address: e.Address, Action: e.Action, Target: e.Target, Detail: e.Detail,
	})
	if err != nil {
		return fmt.Errorf("store: append audit entry %q: %w", e.Action, conflict(err))
	}
	return nil
}

// List counts and pages in two reads, as tasks' List does (and for the
// same reason): an entry appended in between can make them disagree by one.
func (s *audit) List(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, int, error) {
	filter := bson.D{}
	for _, c := range []struct{ key, val string }{
		{"action", f.Action}, {"user_id", f.UserID}, {"target", f.Target},
	} {
		if c.val != "" {
			filter = append(filter, bson.E{Key: c.key, Value: c.val})
		}
	}
	total, err := s.audit.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("store: count audit: %w", err)
	}
	opts := options.Find().SetSort(bson.D{{Key: "time", Value: -1}, {Key: "_id", Value: -1}})
	if f.Offset > 0 {
		opts.SetSkip(int64(f.Offset))
	}
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	list, err := findAll(ctx, s.audit, filter, (*auditDoc).entry, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	return list, int(total), nil
}

func (s *audit) DeleteBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := s.audit.DeleteMany(ctx, bson.D{{Key: "time", Value: bson.D{{Key: "$lt", Value: ms(before)}}}})
	if err != nil {
		return 0, fmt.Errorf("store: delete audit entries: %w", err)
	}
	return int(deletedCount(res)), nil
}
