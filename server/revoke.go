package server

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// credentialsRevoked ends what the credentials with these ids opened on
// every master: this one closes its WebSockets opened with them (or with
// tickets they asked for) with 4001 at once, and tells the others on the
// bus to do the same. Call it after deleting the credentials from the
// store (a revoked token, a signed-out session, a disabled or deleted
// user's credentials): requests stop working from the deletion on, open
// connections from here.
func (s *Server) credentialsRevoked(ctx context.Context, ids []string) {
	s.closeCredentials(ctx, wire.CredentialsRevoked{IDs: ids})
}

// closeCredentials closes, on every master, the WebSockets that ev names.
func (s *Server) closeCredentials(ctx context.Context, ev wire.CredentialsRevoked) {
	if len(ev.IDs) == 0 {
		return
	}
	s.closeRevoked(ev)
	if err := s.caller.Emit(ctx, wire.EvCredentialsRevoked, ev); err != nil {
		// The other masters still close them at their next check.
		s.log.Warn("credential revocation not published", "err", err)
	}
}

// credentialsRevokedEvent serves EvCredentialsRevoked from any master.
func (s *Server) credentialsRevokedEvent(env *wire.Envelope) {
	var ev wire.CredentialsRevoked
	if err := json.Unmarshal(env.Payload, &ev); err != nil {
		s.log.Warn("dropped malformed credentials_revoked event", "err", err)
		return
	}
	s.closeRevoked(ev)
}

func (s *Server) closeRevoked(ev wire.CredentialsRevoked) {
	set := make(map[string]bool, len(ev.IDs))
	for _, id := range ev.IDs {
		set[id] = true
	}
	text := "the credential this connection opened with was revoked: sign in again"
	if ev.Above != "" {
		text = "your role was lowered to " + ev.Above + ": reconnect"
	}
	s.hub.Disconnect(func(p auth.Principal) bool {
		return p.CredentialID != "" && set[p.CredentialID] && (ev.Above == "" || auth.Rank(p.Role) > auth.Rank(ev.Above))
	}, wsapi.CloseRevoked, text)
}

// watchAccess runs every CredentialCheck until ctx ends: it makes sure the
// user admin exists (unless adminDone: it once did), closes WebSockets whose
// credential expired or went, or whose user was disabled, deleted or
// demoted below the connection's role, and deletes expired credentials
// from the store.
func (s *Server) watchAccess(ctx context.Context, adminDone bool) {
	t := time.NewTicker(s.cfg.CredentialCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !adminDone {
			if err := s.ensureAdmin(ctx); err != nil {
				s.log.Warn("user admin not created yet", "err", err)
			} else {
				adminDone = true
			}
		}
		s.checkConnections(ctx)
		if _, err := s.store.Credentials().DeleteExpired(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("expired credentials not deleted", "err", err)
		}
	}
}

// checkConnections closes the connections that would no longer be let in.
// A store that does not answer closes nothing: it is not the client's
// fault.
func (s *Server) checkConnections(ctx context.Context) {
	now := time.Now()
	credOK := map[string]bool{}
	userRank := map[string]int{} // 0: gone or disabled
	for _, p := range s.hub.Principals() {
		if p.CredentialID == "" {
			continue // the start token lives in the configuration
		}
		if _, seen := credOK[p.CredentialID]; !seen {
			c, err := s.store.Credentials().Get(ctx, p.CredentialID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				credOK[p.CredentialID] = false
			case err != nil:
				s.log.Warn("connections not checked", "err", err)
				return
			default:
				credOK[p.CredentialID] = !c.Expired(now)
			}
		}
		if _, seen := userRank[p.UserID]; !seen {
			u, err := s.store.Users().Get(ctx, p.UserID)
			switch {
			case errors.Is(err, store.ErrNotFound):
				userRank[p.UserID] = 0
			case err != nil:
				s.log.Warn("connections not checked", "err", err)
				return
			case u.Disabled:
				userRank[p.UserID] = 0
			default:
				userRank[p.UserID] = auth.Rank(u.Role)
			}
		}
	}
	n := s.hub.Disconnect(func(p auth.Principal) bool {
		if p.CredentialID == "" {
			return false
		}
		ok, known := credOK[p.CredentialID]
		rank, knownUser := userRank[p.UserID]
		// Connections that came after the reads above are not judged.
		return (known && !ok) || (knownUser && rank < auth.Rank(p.Role))
	}, wsapi.CloseRevoked, "the credential this connection opened with expired or was revoked, or its user was disabled, deleted or given a lower role: sign in again")
	if n > 0 {
		s.log.Info("closed connections whose access ended", "count", n)
	}
}
