package server

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
)

const (
	// adminUsername is the user created at first start, whom the start
	// token acts as.
	adminUsername = "admin"
	// sessionLifetime is how long a dashboard sign-in lasts: a week, then
	// the dashboard asks for the password again. Signing out, or an admin
	// disabling the user, ends it sooner.
	sessionLifetime = 7 * 24 * time.Hour
	// ticketLifetime is how long a WebSocket ticket may wait to be used.
	ticketLifetime = 30 * time.Second
)

// loginRequest is the body of POST /api/auth/login: a username and
// password, or a token (an API token or the start token).
type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// loginResponse is the answer of a sign-in.
type loginResponse struct {
	User store.User `json:"user"`
	Role string     `json:"role"`
	CSRF string     `json:"csrf"`
}

const badLogin = "wrong username or password"

// login signs in with a password or a token and starts a session: the
// cookie carries its secret, the answer its CSRF token. Failures are
// throttled per username and per address.
func (s *Server) login(c echo.Context) error {
	var req loginRequest
	if err := bindJSON(c, &req, `{"username": "alice", "password": "…"} or {"token": "…"}`); err != nil {
		return err
	}
	byToken := req.Token != ""
	if byToken == (req.Username != "" || req.Password != "") {
		return badRequest(`send {"username", "password"} or {"token"}, not both and not neither`)
	}
	addr := s.clientAddr(c.Request())
	userKey, addrKey := "", "addr:"+addr
	if !byToken {
		userKey = "user:" + strings.ToLower(req.Username)
	}
	if wait := s.loginWait(userKey, addrKey); wait > 0 {
		return s.throttled(c, wait)
	}
	ctx := c.Request().Context()
	var (
		u        *store.User
		ceiling  string // the session's role: at most this
		tokName  string
		failWhy  string
		username = req.Username
	)
	if byToken {
		u, ceiling, tokName, failWhy = s.loginToken(ctx, req.Token)
		if u != nil {
			username = u.Username
		}
	} else {
		u, failWhy = s.loginPassword(ctx, req.Username, req.Password)
		// A password sign-in is the user: the session follows the user's
		// role as it changes (the role in effect is the lower of the two).
		ceiling = auth.Admin
	}
	if failWhy != "" {
		s.log.Warn("sign-in failed", "username", username, "address", addr, "reason", failWhy)
		s.auditAs(ctx, auth.Principal{Address: addr}, AuditLoginFailed, username, failWhy)
		wait := s.loginFailed(userKey, addrKey)
		if wait > 0 {
			return s.throttled(c, wait)
		}
		if byToken {
			return unauthorized("unknown, expired or revoked token")
		}
		return unauthorized(badLogin)
	}
	if userKey != "" {
		s.loginUsers.Succeed(userKey)
	}
	sess, secret, err := s.newSession(ctx, u, ceiling, tokName)
	if err != nil {
		return err
	}
	setSessionCookie(c, secret, sess.Expires)
	p := auth.Principal{UserID: u.ID, Username: u.Username, Role: auth.Lower(ceiling, u.Role), Kind: auth.KindSession, CredentialID: sess.ID}
	detail := "with a password"
	if byToken {
		detail = "with " + tokName
	}
	s.log.Info("signed in", "username", u.Username, "address", addr, "how", detail)
	s.appendAudit(ctx, &store.AuditEntry{Actor: p.Actor(), UserID: u.ID, CredentialID: sess.ID, Address: addr, Action: AuditLogin, Target: u.Username, Detail: detail})
	return c.JSON(http.StatusOK, loginResponse{User: *u, Role: p.Role, CSRF: sess.CSRF})
}

// loginPassword checks a username and password. failWhy, for the log and
// the audit, is "" on success; the caller answers every failure alike.
func (s *Server) loginPassword(ctx context.Context, username, password string) (u *store.User, failWhy string) {
	u, err := s.store.Users().GetByName(ctx, username)
	hash := ""
	switch {
	case errors.Is(err, store.ErrNotFound):
		failWhy = "no such user"
	case err != nil:
		s.log.Error("sign-in: user not read", "username", username, "err", err)
		failWhy = "store error"
	case u.PasswordHash == "":
		failWhy = "the user has no password"
	default:
		hash = u.PasswordHash
	}
	if err := s.checkPassword(ctx, hash, password); err != nil || failWhy != "" {
		if failWhy != "" {
			return nil, failWhy
		}
		if errors.Is(err, ctx.Err()) {
			return nil, "the request ended while waiting to check the password"
		}
		if !errors.Is(err, auth.ErrMismatch) {
			s.log.Error("sign-in: stored password hash unusable", "username", username, "err", err)
		}
		return nil, "wrong password"
	}
	if u.Disabled {
		return nil, "the user is disabled"
	}
	return u, ""
}

// loginToken signs in with an API token (the session gets at most the
// token's role) or the start token (the user admin).
func (s *Server) loginToken(ctx context.Context, secret string) (u *store.User, ceiling, name, failWhy string) {
	if s.isStartToken(secret) {
		u, err := s.store.Users().GetByName(ctx, adminUsername)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, "", "", "the start token signs in as the user admin, who no longer exists"
		case err != nil:
			s.log.Error("sign-in: user not read", "username", adminUsername, "err", err)
			return nil, "", "", "store error"
		case u.Disabled:
			return nil, "", "", "the user admin is disabled"
		}
		return u, auth.Admin, "the start token", ""
	}
	cred, err := s.store.Credentials().GetByHash(ctx, auth.HashSecret(secret))
	if err != nil || cred.Kind != store.CredentialToken {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("sign-in: token not read", "err", err)
		}
		return nil, "", "", "unknown token"
	}
	res, err := s.credentialPrincipal(ctx, cred)
	if err != nil {
		return nil, "", "", err.Error()
	}
	return res.user, res.principal.Role, "the token " + cred.Name, ""
}

// checkPassword checks password against hash ("" for no user or no
// password: the check then takes as long and fails), at most
// cap(s.pwSlots) at once: each check holds 19 MiB for tens of
// milliseconds, so a flood of sign-ins waits its turn instead of eating
// the master's memory.
func (s *Server) checkPassword(ctx context.Context, hash, password string) error {
	select {
	case s.pwSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.pwSlots }()
	if hash == "" {
		return auth.CheckNoPassword(password)
	}
	return auth.CheckPassword(hash, password)
}

// newSession stores a session for u whose role is at most ceiling; name
// says how it signed in ("" for a password), as the session's name.
func (s *Server) newSession(ctx context.Context, u *store.User, ceiling, name string) (*store.Credential, string, error) {
	secret := auth.NewSecret(auth.PrefixSession)
	now := store.Now()
	if name == "" {
		name = "a password"
	}
	sess := &store.Credential{ID: store.NewID(), Kind: store.CredentialSession, Name: "signed in with " + name,
		UserID: u.ID, Role: ceiling, Hash: auth.HashSecret(secret), CSRF: auth.NewSecret(auth.PrefixCSRF),
		Expires: now.Add(sessionLifetime), LastUsed: now, Created: now}
	if err := s.store.Credentials().Create(ctx, sess); err != nil {
		return nil, "", err
	}
	return sess, secret, nil
}

func setSessionCookie(c echo.Context, secret string, expires time.Time) {
	ck := &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: c.Request().TLS != nil}
	if secret == "" {
		ck.MaxAge = -1
	} else {
		ck.Expires = expires
	}
	c.SetCookie(ck)
}

// loginWait is how long a sign-in must wait: the longer of the username's
// and the address's lockouts.
func (s *Server) loginWait(userKey, addrKey string) time.Duration {
	w := s.loginAddrs.Wait(addrKey)
	if userKey != "" {
		w = max(w, s.loginUsers.Wait(userKey))
	}
	return w
}

func (s *Server) loginFailed(userKey, addrKey string) time.Duration {
	w := s.loginAddrs.Fail(addrKey)
	if userKey != "" {
		w = max(w, s.loginUsers.Fail(userKey))
	}
	return w
}

func (s *Server) throttled(c echo.Context, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return newAPIError(CodeTooManyRequests, "too many failed sign-ins: try again in "+(time.Duration(secs)*time.Second).String())
}

// logout ends the session the request came with (if it came with one),
// closes the WebSockets it opened, and clears the cookie.
func (s *Server) logout(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	ctx := c.Request().Context()
	if p.Kind == auth.KindSession && p.CredentialID != "" {
		if err := s.store.Credentials().Delete(ctx, p.CredentialID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		s.credentialsRevoked(ctx, []string{p.CredentialID})
		s.audit(ctx, AuditLogout, p.Username, "")
	}
	setSessionCookie(c, "", time.Time{})
	return c.NoContent(http.StatusNoContent)
}

// meResponse is GET /api/me.
type meResponse struct {
	User      store.User `json:"user"`
	Role      string     `json:"role"`
	Kind      string     `json:"kind"`
	TokenName string     `json:"token_name,omitempty"`
	CSRF      string     `json:"csrf,omitempty"`
}

// me says who the request acts as.
func (s *Server) me(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	out := meResponse{Role: p.Role, Kind: p.Kind, TokenName: p.TokenName}
	if u, _ := c.Get(ctxUser).(*store.User); u != nil {
		out.User = *u
	} else {
		out.User = store.User{ID: p.UserID, Username: p.Username, Role: p.Role}
	}
	if cred, _ := c.Get(ctxCredential).(*store.Credential); cred != nil && cred.Kind == store.CredentialSession {
		out.CSRF = cred.CSRF
	}
	return c.JSON(http.StatusOK, out)
}

// wsTicketResponse is POST /api/ws-ticket.
type wsTicketResponse struct {
	Ticket  string    `json:"ticket"`
	Expires time.Time `json:"expires"`
}

// wsTicket issues a single-use ticket to open /ws?ticket=… within 30 s,
// so a browser keeps long-lived secrets out of URLs. The connection acts
// as the credential that asked.
func (s *Server) wsTicket(c echo.Context) error {
	p, _ := auth.FromContext(c.Request().Context())
	secret := auth.NewSecret(auth.PrefixTicket)
	now := store.Now()
	t := &store.Credential{ID: store.NewID(), Kind: store.CredentialTicket, UserID: p.UserID, Role: p.Role,
		Hash: auth.HashSecret(secret), ParentID: p.CredentialID, Expires: now.Add(ticketLifetime), Created: now}
	if err := s.store.Credentials().Create(c.Request().Context(), t); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, wsTicketResponse{Ticket: secret, Expires: t.Expires})
}

// hashPassword hashes a new password with the configured costs.
func (s *Server) hashPassword(pw string) (string, error) {
	return auth.HashPassword(pw, s.cfg.PasswordParams)
}

// ensureAdmin creates the user admin when the store has no users (the
// first start), with the configured password if there is one. Masters
// starting together may both try: the second finds the name taken, which
// is as good. A configured password is also set on an admin that has
// none yet, never over one set since.
func (s *Server) ensureAdmin(ctx context.Context) error {
	users, err := s.store.Users().List(ctx)
	if err != nil {
		return err
	}
	hash := ""
	if s.cfg.AdminPassword != "" {
		if hash, err = s.hashPassword(s.cfg.AdminPassword); err != nil {
			return err
		}
	}
	if len(users) == 0 {
		now := store.Now()
		u := &store.User{ID: store.NewID(), Username: adminUsername, Role: auth.Admin, PasswordHash: hash, Created: now, Updated: now}
		if err := s.store.Users().Create(ctx, u); err != nil && !errors.Is(err, store.ErrConflict) {
			return err
		} else if err == nil {
			s.log.Info("created the user admin", "password_set", hash != "")
			return nil
		}
		users, err = s.store.Users().List(ctx)
		if err != nil {
			return err
		}
	}
	if hash == "" {
		return nil
	}
	for i := range users {
		if u := &users[i]; u.Username == adminUsername && u.PasswordHash == "" {
			u.PasswordHash, u.Updated = hash, store.Now()
			if err := s.store.Users().Update(ctx, u); err != nil {
				return err
			}
			s.log.Info("set the password of the user admin from the configuration")
		}
	}
	return nil
}
