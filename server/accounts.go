package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Users and API tokens: the admin's users pages and everyone's own tokens.
// Who may call which route is in the route table; what is left here is the
// rules that depend on the data (the last admin, own tokens versus any).

// validUsername: letters, digits, dot, underscore and hyphen, so a name
// reads the same in a URL, a log line and an audit entry.
var validUsername = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

const (
	minPassword = 8
	// maxPassword bounds the work of hashing one (argon2 reads all of it).
	maxPassword  = 1024
	maxTokenName = 64
)

func checkUsername(name string) error {
	if !validUsername.MatchString(name) {
		return badRequest(fmt.Sprintf("username %q is not valid: use 1 to 64 letters, digits, dots, underscores or hyphens", name))
	}
	return nil
}

func checkPassword(pw string) error {
	switch n := utf8.RuneCountInString(pw); {
	case n < minPassword:
		return badRequest(fmt.Sprintf("the password is too short: use at least %d characters", minPassword))
	case len(pw) > maxPassword:
		return badRequest(fmt.Sprintf("the password is too long: use at most %d bytes", maxPassword))
	}
	return nil
}

func checkRole(role string) error {
	if !auth.ValidRole(role) {
		return badRequest(fmt.Sprintf("role %q is not valid: use %s, %s or %s", role, auth.Admin, auth.Operator, auth.Viewer))
	}
	return nil
}

// principal is who the request acts as. The middleware sets one on every
// authenticated request; its absence is a route missing from the table.
func principal(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return p, unauthorized("sign in first: send 'Authorization: Bearer <token>' or use the session cookie")
	}
	return p, nil
}

// whoami is the body of GET /api/me for a WebSocket connection's
// principal (the me method): the user as stored now, without the CSRF
// token, which only a cookie request needs.
func (s *Server) whoami(ctx context.Context, p auth.Principal) (meResponse, error) {
	out := meResponse{User: store.User{ID: p.UserID, Username: p.Username, Role: p.Role}, Role: p.Role, Kind: p.Kind, TokenName: p.TokenName}
	if p.UserID != "" {
		u, err := s.store.Users().Get(ctx, p.UserID)
		switch {
		case err == nil:
			out.User = *u
		case !errors.Is(err, store.ErrNotFound):
			return out, err
		}
	}
	return out, nil
}

func (s *Server) userByID(ctx context.Context, id string) (*store.User, error) {
	if !store.ValidID(id) {
		return nil, badRequest("user id " + id + " is not valid: ids are 24 hex digits, as listed by GET /api/users")
	}
	u, err := s.store.Users().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no user has id " + id)
	}
	return u, err
}

// lastAdmin reports whether u is the only enabled admin: demoting,
// disabling or deleting them would leave nobody able to manage users.
func (s *Server) lastAdmin(ctx context.Context, u *store.User) (bool, error) {
	if u.Role != auth.Admin || u.Disabled {
		return false, nil
	}
	all, err := s.store.Users().List(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range all {
		if o.ID != u.ID && o.Role == auth.Admin && !o.Disabled {
			return false, nil
		}
	}
	return true, nil
}

func lastAdminConflict(u *store.User, what string) error {
	return conflict(fmt.Sprintf("%s is the last enabled admin and cannot be %s: make another user admin first", u.Username, what))
}

// signOut deletes the user's credentials f selects and closes the
// WebSockets they opened.
func (s *Server) signOut(ctx context.Context, f store.CredentialFilter) error {
	ids, err := s.store.Credentials().DeleteMatching(ctx, f)
	if err != nil {
		return fmt.Errorf("signing the user out: %w", err)
	}
	s.credentialsRevoked(ctx, ids)
	return nil
}

func (s *Server) listUsers(c echo.Context) error {
	users, err := s.store.Users().List(c.Request().Context())
	if err != nil {
		return err
	}
	if users == nil {
		users = []store.User{}
	}
	return c.JSON(http.StatusOK, list[store.User]{Items: users, Total: len(users)})
}

const userExample = `{"username": "alice", "password": "at least 8 characters", "role": "viewer"}`

func (s *Server) createUser(c echo.Context) error {
	ctx := c.Request().Context()
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}
	if err := bindJSON(c, &req, userExample); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = auth.Viewer
	}
	if err := checkUsername(req.Username); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	if err := checkRole(req.Role); err != nil {
		return err
	}
	hash, err := s.hashPassword(req.Password)
	if err != nil {
		return err
	}
	now := store.Now()
	u := &store.User{ID: store.NewID(), Username: req.Username, Role: req.Role, PasswordHash: hash, Created: now, Updated: now}
	if err := s.store.Users().Create(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return conflict("a user named " + u.Username + " exists: choose another username")
		}
		return err
	}
	s.audit(ctx, AuditUserCreate, u.Username, "role "+u.Role)
	return c.JSON(http.StatusCreated, u)
}

func (s *Server) updateUser(c echo.Context) error {
	ctx := c.Request().Context()
	var req struct {
		Role     *string `json:"role"`
		Password *string `json:"password"`
		Disabled *bool   `json:"disabled"`
	}
	if err := bindJSON(c, &req, `any of {"role": "operator", "password": "…", "disabled": true}`); err != nil {
		return err
	}
	if req.Role == nil && req.Password == nil && req.Disabled == nil {
		return badRequest(`nothing to change: send any of "role", "password", "disabled"`)
	}
	if req.Role != nil {
		if err := checkRole(*req.Role); err != nil {
			return err
		}
	}
	if req.Password != nil {
		if err := checkPassword(*req.Password); err != nil {
			return err
		}
	}
	// One change at a time on this master, so two admins demoting each
	// other cannot both pass the last-admin check.
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, err := s.userByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	last, err := s.lastAdmin(ctx, u)
	if err != nil {
		return err
	}
	var changes []string
	demoted, disabling := false, false
	if req.Role != nil && *req.Role != u.Role {
		if last && *req.Role != auth.Admin {
			return lastAdminConflict(u, "demoted")
		}
		changes = append(changes, "role "+u.Role+" → "+*req.Role)
		demoted = auth.Rank(*req.Role) < auth.Rank(u.Role)
		u.Role = *req.Role
	}
	if req.Disabled != nil && *req.Disabled != u.Disabled {
		if last && *req.Disabled {
			return lastAdminConflict(u, "disabled")
		}
		disabling = *req.Disabled
		u.Disabled = *req.Disabled
		changes = append(changes, map[bool]string{true: "disabled", false: "enabled"}[u.Disabled])
	}
	if req.Password != nil {
		hash, err := s.hashPassword(*req.Password)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		changes = append(changes, "password reset")
	}
	if len(changes) == 0 {
		return c.JSON(http.StatusOK, u) // nothing differs: nothing to record
	}
	u.Updated = store.Now()
	if err := s.store.Users().Update(ctx, u); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no user has id " + u.ID)
		}
		return err
	}
	switch {
	case disabling:
		// A disabled user's sessions and tokens go, so that nothing they
		// left running keeps acting for them.
		if err := s.signOut(ctx, store.CredentialFilter{UserID: u.ID}); err != nil {
			return err
		}
	case req.Password != nil:
		// A reset password signs the user out of every dashboard; their API
		// tokens are not the password and keep working.
		if err := s.signOut(ctx, store.CredentialFilter{UserID: u.ID, Kind: store.CredentialSession}); err != nil {
			return err
		}
	}
	if demoted && !disabling {
		if err := s.closeAbove(ctx, u.ID, u.Role); err != nil {
			return err
		}
	}
	s.audit(ctx, AuditUserUpdate, u.Username, strings.Join(changes, "; "))
	return c.JSON(http.StatusOK, u)
}

// closeAbove closes, on every master, the WebSockets opened with the
// user's credentials that may do more than role: they acted at the old
// role, and come back at the new one (the credentials stay valid).
func (s *Server) closeAbove(ctx context.Context, userID, role string) error {
	creds, err := s.store.Credentials().List(ctx, store.CredentialFilter{UserID: userID})
	if err != nil {
		return err
	}
	var ids []string
	for _, cr := range creds {
		if auth.Rank(cr.Role) > auth.Rank(role) {
			ids = append(ids, cr.ID)
		}
	}
	s.closeCredentials(ctx, wire.CredentialsRevoked{IDs: ids, Above: role})
	return nil
}

func (s *Server) deleteUser(c echo.Context) error {
	ctx := c.Request().Context()
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, err := s.userByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	last, err := s.lastAdmin(ctx, u)
	if err != nil {
		return err
	}
	if last {
		return lastAdminConflict(u, "deleted")
	}
	// Credentials first: a user deleted halfway keeps none that work.
	if err := s.signOut(ctx, store.CredentialFilter{UserID: u.ID}); err != nil {
		return err
	}
	if err := s.store.Users().Delete(ctx, u.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.audit(ctx, AuditUserDelete, u.Username, "")
	return c.NoContent(http.StatusNoContent)
}

// --- API tokens --------------------------------------------------------------

func (s *Server) listTokens(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	f := store.CredentialFilter{Kind: store.CredentialToken, UserID: c.QueryParam("user_id")}
	if !auth.Allows(p.Role, auth.Admin) {
		if f.UserID != "" && f.UserID != p.UserID {
			return forbidden("only an admin may list other users' tokens")
		}
		if p.UserID == "" {
			return c.JSON(http.StatusOK, list[store.Credential]{Items: []store.Credential{}})
		}
		f.UserID = p.UserID
	}
	creds, err := s.store.Credentials().List(ctx, f)
	if err != nil {
		return err
	}
	if creds == nil {
		creds = []store.Credential{}
	}
	return c.JSON(http.StatusOK, list[store.Credential]{Items: creds, Total: len(creds)})
}

// NewToken is the answer to POST /api/tokens: the secret, shown this once
// (only its hash is stored), and the credential as GET /api/tokens lists it.
type NewToken struct {
	Token      string           `json:"token"`
	Credential store.Credential `json:"credential"`
}

func (s *Server) createToken(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	var req struct {
		Name    string    `json:"name"`
		Role    string    `json:"role"`
		Expires time.Time `json:"expires"`
	}
	if err := bindJSON(c, &req, `{"name": "ci-deploy", "role": "operator", "expires": "2027-01-01T00:00:00Z"} (role and expires optional)`); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if n := utf8.RuneCountInString(req.Name); n == 0 || n > maxTokenName {
		return badRequest(fmt.Sprintf("a token needs a name of 1 to %d characters, saying what uses it (e.g. \"ci-deploy\")", maxTokenName))
	}
	if req.Role == "" {
		req.Role = p.Role
	}
	if err := checkRole(req.Role); err != nil {
		return err
	}
	if !auth.Allows(p.Role, req.Role) {
		return forbidden(fmt.Sprintf("a token cannot have more rights than the credential creating it (%s): ask for role %s or lower", p.Role, p.Role))
	}
	now := store.Now()
	if !req.Expires.IsZero() && !req.Expires.After(now) {
		return badRequest("expires " + req.Expires.Format(time.RFC3339) + " is not in the future: give a later time, or none for a token that does not expire")
	}
	if p.UserID == "" {
		return forbidden("this credential belongs to no user and cannot own tokens: sign in as a user")
	}
	mine, err := s.store.Credentials().List(ctx, store.CredentialFilter{Kind: store.CredentialToken, UserID: p.UserID})
	if err != nil {
		return err
	}
	for _, t := range mine {
		if t.Name == req.Name {
			return conflict("you have a token named " + req.Name + " already: choose another name, or revoke that one first")
		}
	}
	secret := auth.NewSecret(auth.PrefixToken)
	hash := auth.HashSecret(secret)
	cr := store.Credential{ID: store.NewID(), Kind: store.CredentialToken, Name: req.Name, UserID: p.UserID,
		Role: req.Role, Hash: hash, Expires: req.Expires.UTC().Truncate(time.Millisecond), Created: now}
	if err := s.store.Credentials().Create(ctx, &cr); err != nil {
		return err
	}
	detail := "name " + cr.Name + ", role " + cr.Role
	if !cr.Expires.IsZero() {
		detail += ", expires " + cr.Expires.Format(time.RFC3339)
	}
	s.audit(ctx, AuditTokenCreate, cr.ID, detail)
	return c.JSON(http.StatusCreated, NewToken{Token: secret, Credential: cr})
}

func (s *Server) deleteToken(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	id := c.Param("id")
	if !store.ValidID(id) {
		return badRequest("token id " + id + " is not valid: ids are 24 hex digits, as listed by GET /api/tokens")
	}
	// Someone else's token is "not found" to a non-admin: its existence is
	// none of their business.
	cr, err := s.store.Credentials().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (cr.Kind != store.CredentialToken ||
		(cr.UserID != p.UserID && !auth.Allows(p.Role, auth.Admin)))) {
		return notFound("no token of yours has id " + id + ": GET /api/tokens lists them")
	}
	if err != nil {
		return err
	}
	if err := s.store.Credentials().Delete(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("token " + id + " was revoked meanwhile")
		}
		return err
	}
	s.credentialsRevoked(ctx, []string{id})
	detail := "name " + cr.Name
	if cr.UserID != p.UserID {
		detail += ", of user " + cr.UserID
	}
	s.audit(ctx, AuditTokenRevoke, id, detail)
	return c.NoContent(http.StatusNoContent)
}
