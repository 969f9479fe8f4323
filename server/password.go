package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
)

// changeOwnPassword lets every user change their own password, with the
// current one: a session left open on a shared screen, or a token, is not
// enough to take the account over. Wrong current passwords count as failed
// sign-ins (the same throttle), and the user's other dashboard sessions
// end; API tokens are not the password and keep working.
func (s *Server) changeOwnPassword(c echo.Context) error {
	var req struct {
		Current  string `json:"current"`
		Password string `json:"password"`
	}
	if err := bindJSON(c, &req, `{"current": "the password now", "password": "at least 8 characters"}`); err != nil {
		return err
	}
	if err := checkPassword(req.Password); err != nil {
		return err
	}
	ctx := c.Request().Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	userKey, addrKey := "user:"+strings.ToLower(p.Username), "addr:"+p.Address
	if wait := s.loginWait(userKey, addrKey); wait > 0 {
		return s.throttled(c, wait)
	}
	s.usersMu.Lock()
	defer s.usersMu.Unlock()
	u, err := s.userByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	// A user who never had a password (admin after the first start, signed
	// in with the printed link) sets one with an empty current one.
	if err := s.checkCurrent(ctx, u.PasswordHash, req.Current); err != nil {
		s.log.Warn("password change refused: wrong current password", "username", u.Username, "address", p.Address)
		s.audit(ctx, AuditLoginFailed, u.Username, "wrong current password when changing it")
		if wait := s.loginFailed(userKey, addrKey); wait > 0 {
			return s.throttled(c, wait)
		}
		return forbidden("the current password is wrong")
	}
	s.loginUsers.Succeed(userKey)
	if u.PasswordHash, err = s.hashPassword(req.Password); err != nil {
		return err
	}
	u.Updated = store.Now()
	if err := s.store.Users().Update(ctx, u); err != nil {
		return err
	}
	if err := s.endOtherSessions(c, u.ID, p); err != nil {
		return err
	}
	s.audit(ctx, AuditPasswordChange, u.Username, "changed their own password")
	return c.JSON(http.StatusOK, u)
}

// endOtherSessions signs the user out of every dashboard but the one
// asking (if it is one).
func (s *Server) endOtherSessions(c echo.Context, userID string, p auth.Principal) error {
	ctx := c.Request().Context()
	sessions, err := s.store.Credentials().List(ctx, store.CredentialFilter{UserID: userID, Kind: store.CredentialSession})
	if err != nil {
		return err
	}
	var ended []string
	for _, cr := range sessions {
		if cr.ID == p.CredentialID {
			continue
		}
		if err := s.store.Credentials().Delete(ctx, cr.ID); err == nil {
			ended = append(ended, cr.ID)
		}
	}
	s.credentialsRevoked(ctx, ended)
	return nil
}

// checkCurrent checks the current password; none stored matches only "".
func (s *Server) checkCurrent(ctx context.Context, hash, current string) error {
	if hash == "" {
		if current == "" {
			return nil
		}
		return auth.ErrMismatch
	}
	return s.checkPassword(ctx, hash, current)
}
