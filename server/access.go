package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
)

// Where a request's credential came from. A cookie needs CSRF protection
// on what changes state; the others cannot be sent by another site's page.
const (
	viaBearer = "bearer" // Authorization: Bearer
	viaCookie = "cookie" // the session cookie
	viaTicket = "ticket" // ?ticket= (WebSocket only)
	viaQuery  = "query"  // ?token= (kept for scripts)
)

const (
	// SessionCookie holds the dashboard's session secret.
	SessionCookie = "crawlhub_session"
	// CSRFHeader carries a session's CSRF token on state-changing
	// requests signed in with the cookie.
	CSRFHeader = "X-CSRF-Token"
	// touchEvery bounds how often a credential's LastUsed is written: a
	// script polling every second costs the store one write a minute.
	touchEvery = time.Minute
)

// Keys of what access leaves in the echo context for the handlers behind
// it (the principal itself is in the request's context: auth.FromContext).
const (
	ctxCredential = "crawlhub.credential" // *store.Credential, nil for the start token
	ctxUser       = "crawlhub.user"       // *store.User, nil for the start token without an admin user
)

// access is the one middleware that resolves who is asking, for every
// route but those needing no credentials, and checks what they may do
// against the route's row: 401 without a valid credential, 403 when the
// role is short or a cookie-authenticated change lacks its CSRF token.
func (s *Server) access(r route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if r.Role == roleNone {
			return next
		}
		return func(c echo.Context) error {
			req := c.Request()
			res, err := s.authenticate(c, r.Path == "/ws")
			if err != nil {
				return err
			}
			p := res.principal
			if !auth.Allows(p.Role, r.Role) {
				return forbidden("this needs the " + r.Role + " role; " + p.Actor() + " has the " + p.Role + " role: ask an admin")
			}
			if res.via == viaCookie && changesState(req.Method) {
				got := req.Header.Get(CSRFHeader)
				if got == "" || res.cred == nil || subtle.ConstantTimeCompare([]byte(got), []byte(res.cred.CSRF)) != 1 {
					return forbidden("missing or wrong " + CSRFHeader + " header: a request signed in with the session cookie must send the csrf token that sign-in and GET /api/me return")
				}
			}
			c.Set(ctxCredential, res.cred)
			c.Set(ctxUser, res.user)
			c.SetRequest(req.WithContext(auth.NewContext(req.Context(), p)))
			return next(c)
		}
	}
}

func changesState(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// resolved is who a request acts as and what proved it.
type resolved struct {
	principal auth.Principal
	via       string
	cred      *store.Credential // nil for the start token
	user      *store.User       // nil for the start token without an admin user
}

// presented is the credential a request carries, by the first that
// applies of: the Authorization header, the session cookie, ?ticket= (on
// the WebSocket only), ?token=.
func presented(r *http.Request, ws bool) (secret, via string) {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok), viaBearer
		}
		return "", viaBearer
	}
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		return ck.Value, viaCookie
	}
	q := r.URL.Query()
	if t := q.Get("ticket"); ws && t != "" {
		return t, viaTicket
	}
	return q.Get("token"), viaQuery
}

// errNoCredential is the 401 of a request without a usable credential; the
// message says every way in.
var errNoCredential = unauthorized("missing or wrong credentials: sign in, or send 'Authorization: Bearer <token>' with an API token or the token the server printed at start")

// authenticate resolves the principal of c's request.
func (s *Server) authenticate(c echo.Context, ws bool) (*resolved, error) {
	secret, via := presented(c.Request(), ws)
	if secret == "" {
		return nil, errNoCredential
	}
	ctx := c.Request().Context()
	addr := s.clientAddr(c.Request())
	if via != viaCookie && via != viaTicket && s.isStartToken(secret) {
		res, err := s.startTokenPrincipal(ctx)
		if err != nil {
			return nil, err
		}
		res.via, res.principal.Address = via, addr
		return res, nil
	}
	cred, err := s.store.Credentials().GetByHash(ctx, auth.HashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoCredential
	}
	if err != nil {
		return nil, err
	}
	var res *resolved
	switch {
	case via == viaTicket && cred.Kind == store.CredentialTicket:
		res, err = s.useTicket(ctx, cred)
	case via == viaCookie && cred.Kind == store.CredentialSession,
		(via == viaBearer || via == viaQuery) && cred.Kind == store.CredentialToken:
		res, err = s.credentialPrincipal(ctx, cred)
		if err == nil {
			s.touch(ctx, cred.ID)
		}
	default:
		// A secret of one kind where another belongs (a ticket as a
		// bearer token, a token in the cookie): as good as none.
		return nil, errNoCredential
	}
	if err != nil {
		return nil, err
	}
	res.via, res.principal.Address = via, addr
	return res, nil
}

// isStartToken compares in constant time: the start token is an admin
// credential.
func (s *Server) isStartToken(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(secret), []byte(s.cfg.Token)) == 1
}

// startTokenPrincipal is the start token's principal: the user admin with
// the admin role, whatever the store says of that user (or if it says
// nothing, being away), so the token in the configuration always gets an
// operator back in.
func (s *Server) startTokenPrincipal(ctx context.Context) (*resolved, error) {
	res := &resolved{principal: auth.Principal{Username: adminUsername, Role: auth.Admin, Kind: auth.KindStartToken}}
	u, err := s.store.Users().GetByName(ctx, adminUsername)
	switch {
	case err == nil:
		res.principal.UserID, res.user = u.ID, u
	case !errors.Is(err, store.ErrNotFound):
		s.log.Debug("start token: the user admin not read", "err", err)
	}
	return res, nil
}

// credentialPrincipal is the principal of a stored session or token: its
// user must exist and be enabled, and its role is the lower of the
// credential's and the user's current one.
func (s *Server) credentialPrincipal(ctx context.Context, cred *store.Credential) (*resolved, error) {
	what := "token"
	if cred.Kind == store.CredentialSession {
		what = "session"
	}
	if cred.Expired(time.Now()) {
		if what == "session" {
			return nil, unauthorized("the session has expired: sign in again")
		}
		return nil, unauthorized("the token " + cred.Name + " has expired: create a new one")
	}
	u, err := s.store.Users().Get(ctx, cred.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized("the user of this " + what + " no longer exists")
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, unauthorized("the user " + u.Username + " is disabled: ask an admin")
	}
	role := auth.Lower(cred.Role, u.Role)
	if role == "" {
		return nil, unauthorized("this " + what + " has no valid role")
	}
	p := auth.Principal{UserID: u.ID, Username: u.Username, Role: role, Kind: auth.KindSession, CredentialID: cred.ID, Expires: cred.Expires}
	if cred.Kind == store.CredentialToken {
		p.Kind, p.TokenName = auth.KindToken, cred.Name
	}
	return &resolved{cred: cred, user: u, principal: p}, nil
}

// useTicket spends a WebSocket ticket: whoever deletes it uses it, so it
// opens one connection even with several masters. The connection acts as
// the credential that asked for the ticket (CredentialID is that one's,
// so revoking it closes the connection), with at most the ticket's role.
func (s *Server) useTicket(ctx context.Context, t *store.Credential) (*resolved, error) {
	if err := s.store.Credentials().Delete(ctx, t.ID); errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized("this ticket was already used: ask POST /api/ws-ticket for another")
	} else if err != nil {
		return nil, err
	}
	if t.Expired(time.Now()) {
		return nil, unauthorized("this ticket has expired (tickets last 30 seconds): ask POST /api/ws-ticket for another")
	}
	var res *resolved
	var err error
	if t.ParentID == "" {
		// Asked for with the start token.
		res, err = s.startTokenPrincipal(ctx)
	} else {
		var parent *store.Credential
		parent, err = s.store.Credentials().Get(ctx, t.ParentID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, unauthorized("the session or token that asked for this ticket was revoked: sign in again")
		}
		if err != nil {
			return nil, err
		}
		res, err = s.credentialPrincipal(ctx, parent)
	}
	if err != nil {
		return nil, err
	}
	res.principal.Role = auth.Lower(res.principal.Role, t.Role)
	if res.principal.Role == "" {
		return nil, unauthorized("this ticket has no valid role")
	}
	res.principal.Kind = auth.KindTicket
	return res, nil
}

// touched remembers when this master last recorded each credential's use.
type touched struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// touch records a credential's use at most once per touchEvery per
// master. A failure costs only the LastUsed shown in the token list.
func (s *Server) touch(ctx context.Context, id string) {
	now := time.Now()
	s.touches.mu.Lock()
	if s.touches.last == nil {
		s.touches.last = map[string]time.Time{}
	}
	if now.Sub(s.touches.last[id]) < touchEvery {
		s.touches.mu.Unlock()
		return
	}
	s.touches.last[id] = now
	if len(s.touches.last) > 10_000 {
		for k, t := range s.touches.last {
			if now.Sub(t) >= touchEvery {
				delete(s.touches.last, k)
			}
		}
	}
	s.touches.mu.Unlock()
	if err := s.store.Credentials().Touch(ctx, id, store.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Warn("credential use not recorded", "credential_id", id, "err", err)
	}
}
