package server

import (
	"context"
	"net/http"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

// drainTimeout bounds how long a stopping master waits for the HTTP
// requests in flight to finish; those still running then are cut off.
const drainTimeout = 10 * time.Second

// drainReason is what a stopping master tells its WebSocket clients with
// close code 1012 (at most 123 bytes: a close frame's reason).
const drainReason = "this master is shutting down: reconnect, to another master if there is one"

// drain is a master's way out once its context ends (SIGTERM): /readyz
// answers 503 "draining" and new WebSockets are refused, so a load
// balancer sends nothing new; open WebSockets are closed with 1012, so
// their clients reconnect elsewhere at once and resume with since; after
// DrainDelay the listener closes and the requests in flight get
// drainTimeout to finish. A master owns nothing else that must be handed
// over: a schedule's fire time, an alert's attempt and the overview's
// fold are claimed on the bus one at a time, and a claim left by a master
// that stopped mid-way is taken over by another once it expires.
func (s *Server) drain(srv *http.Server) {
	s.draining.Store(true)
	s.log.Info("master draining: refusing new WebSockets, telling open ones to reconnect elsewhere (1012)",
		"websockets", s.hub.Clients(), "delay", s.cfg.DrainDelay)
	s.hub.CloseWith(wsapi.CloseServiceRestart, drainReason)
	if s.cfg.DrainDelay > 0 {
		time.Sleep(s.cfg.DrainDelay) // serving on with /readyz at 503, for the load balancer to notice
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		s.log.Warn("master drained: requests still in flight were cut off", "after", drainTimeout)
		return
	}
	s.log.Info("master drained")
}

// errDraining answers what a draining master no longer takes.
func errDraining() *APIError {
	return unavailable("draining: this master is shutting down; use another one")
}
