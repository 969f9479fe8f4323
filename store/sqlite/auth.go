package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// ---- users

type users Store

const userCols = `id, username, role, password_hash, disabled, created, updated`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	var created, updated int64
	err := row.Scan(&u.ID, &u.Username, &u.Role, &u.PasswordHash, &u.Disabled, &created, &updated)
	u.Created, u.Updated = fromMS(created), fromMS(updated)
	return u, err
}

func (s *users) Create(ctx context.Context, u *store.User) error {
	if err := store.CheckUser(u); err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?,?,?,?,?,?,?)`,
		u.ID, u.Username, u.Role, u.PasswordHash, u.Disabled, ms(u.Created), ms(u.Updated))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create user %q: %w", u.Username, err)
	}
	return nil
}

func (s *users) get(ctx context.Context, what, where string, arg any) (*store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user %s: %w", what, err)
	}
	return &u, nil
}

func (s *users) Get(ctx context.Context, id string) (*store.User, error) {
	return s.get(ctx, id, "id = ?", id)
}

func (s *users) GetByName(ctx context.Context, username string) (*store.User, error) {
	return s.get(ctx, fmt.Sprintf("%q", username), "username = ?", username)
}

func (s *users) List(ctx context.Context) ([]store.User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	list, err := collect(rows, scanUser)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return list, nil
}

func (s *users) Update(ctx context.Context, u *store.User) error {
	if u.Username == "" {
		return fmt.Errorf("store: update user %s: empty username", u.ID)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE users SET username=?, role=?, password_hash=?, disabled=?,
		created=?, updated=? WHERE id = ?`,
		u.Username, u.Role, u.PasswordHash, u.Disabled, ms(u.Created), ms(u.Updated), u.ID)
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err = affected(res, err); err != nil {
		return fmt.Errorf("store: update user %s: %w", u.ID, err)
	}
	return nil
}

func (s *users) Delete(ctx context.Context, id string) error {
	if err := affected(s.w.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)); err != nil {
		return fmt.Errorf("store: delete user %s: %w", id, err)
	}
	return nil
}

// ---- credentials

type credentials Store

const credentialCols = `id, kind, name, user_id, role, hash, csrf, parent_id, expires, last_used, created`

func scanCredential(row interface{ Scan(...any) error }) (store.Credential, error) {
	var c store.Credential
	var expires, lastUsed, created int64
	err := row.Scan(&c.ID, &c.Kind, &c.Name, &c.UserID, &c.Role, &c.Hash, &c.CSRF, &c.ParentID,
		&expires, &lastUsed, &created)
	c.Expires, c.LastUsed, c.Created = fromMS(expires), fromMS(lastUsed), fromMS(created)
	return c, err
}

func (s *credentials) Create(ctx context.Context, c *store.Credential) error {
	if err := store.CheckCredential(c); err != nil {
		return fmt.Errorf("store: create credential: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO credentials (`+credentialCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		c.ID, c.Kind, c.Name, c.UserID, c.Role, c.Hash, c.CSRF, c.ParentID, ms(c.Expires), ms(c.LastUsed), ms(c.Created))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		// Never the hash in an error: it is as good as a password to
		// anyone who can read the database's neighbour, the log.
		return fmt.Errorf("store: create %s credential %s: %w", c.Kind, c.ID, err)
	}
	return nil
}

func (s *credentials) get(ctx context.Context, what, where string, arg any) (*store.Credential, error) {
	c, err := scanCredential(s.r.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM credentials WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get credential%s: %w", what, err)
	}
	return &c, nil
}

func (s *credentials) Get(ctx context.Context, id string) (*store.Credential, error) {
	return s.get(ctx, " "+id, "id = ?", id)
}

func (s *credentials) GetByHash(ctx context.Context, hash string) (*store.Credential, error) {
	return s.get(ctx, " by hash", "hash = ?", hash)
}

// credentialWhere is the condition of f, "" for the zero filter.
func credentialWhere(f store.CredentialFilter) (string, []any) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.UserID != "" {
		where, args = append(where, "user_id = ?"), append(args, f.UserID)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

func (s *credentials) List(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	cond, args := credentialWhere(f)
	rows, err := s.r.QueryContext(ctx, `SELECT `+credentialCols+` FROM credentials`+cond+
		` ORDER BY created DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list credentials: %w", err)
	}
	list, err := collect(rows, scanCredential)
	if err != nil {
		return nil, fmt.Errorf("store: list credentials: %w", err)
	}
	return list, nil
}

func (s *credentials) Touch(ctx context.Context, id string, at time.Time) error {
	if err := affected(s.w.ExecContext(ctx, `UPDATE credentials SET last_used = ? WHERE id = ?`, ms(at), id)); err != nil {
		return fmt.Errorf("store: touch credential %s: %w", id, err)
	}
	return nil
}

func (s *credentials) Delete(ctx context.Context, id string) error {
	if err := affected(s.w.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, id)); err != nil {
		return fmt.Errorf("store: delete credential %s: %w", id, err)
	}
	return nil
}

func (s *credentials) DeleteMatching(ctx context.Context, f store.CredentialFilter) ([]string, error) {
	cond, args := credentialWhere(f)
	if cond == "" {
		return nil, errors.New("store: delete credentials: refusing to delete every credential (empty filter)")
	}
	rows, err := s.w.QueryContext(ctx, `DELETE FROM credentials`+cond+` RETURNING id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: delete credentials: %w", err)
	}
	ids, err := collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, row.Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("store: delete credentials: %w", err)
	}
	return ids, nil
}

func (s *credentials) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	// A zero expiry (stored as the zero time's milliseconds) means never.
	n, err := rows(s.w.ExecContext(ctx, `DELETE FROM credentials WHERE expires > ? AND expires < ?`,
		ms(time.Time{}), ms(before)))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired credentials: %w", err)
	}
	return int(n), nil
}

// ---- audit

type audit Store

const auditCols = `id, time, actor, user_id, credential_id, address, action, target, detail`

func scanAudit(row interface{ Scan(...any) error }) (store.AuditEntry, error) {
	var e store.AuditEntry
	var at int64
	err := row.Scan(&e.ID, &at, &e.Actor, &e.UserID, &e.CredentialID, &e.Address, &e.Action, &e.Target, &e.Detail)
	e.Time = fromMS(at)
	return e, err
}

func (s *audit) Append(ctx context.Context, e *store.AuditEntry) error {
	if err := checkID(e.ID); err != nil {
		return fmt.Errorf("store: append audit entry %q: %w", e.Action, err)
	}
	if e.Time.IsZero() {
		e.Time = store.Now()
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit (`+auditCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		e.ID, ms(e.Time), e.Actor, e.UserID, e.CredentialID, e.Address, e.Action, e.Target, e.Detail)
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: append audit entry %q: %w", e.Action, err)
	}
	return nil
}

func (s *audit) List(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, int, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"action", f.Action}, {"user_id", f.UserID}, {"target", f.Target},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	// Count and page in one read transaction, so the total matches the page.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count audit: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+auditCols+` FROM audit`+cond+
		` ORDER BY time DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	list, err := collect(rows, scanAudit)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list audit: %w", err)
	}
	return list, total, nil
}

func (s *audit) DeleteBefore(ctx context.Context, before time.Time) (int, error) {
	n, err := rows(s.w.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, ms(before)))
	if err != nil {
		return 0, fmt.Errorf("store: delete audit entries: %w", err)
	}
	return int(n), nil
}
