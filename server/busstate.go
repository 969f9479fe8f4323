package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/wsapi"
)

func busUnavailable(msg string) *APIError { return newAPIError(CodeBusUnavailable, msg) }

// SystemStatus is what the system channel carries and GET /api/system
// answers: whether this master reaches the cluster bus, and since when
// (zero: since it started).
type SystemStatus struct {
	Bus     string    `json:"bus"` // "up" or "down"
	Since   time.Time `json:"since,omitzero"`
	Message string    `json:"message,omitempty"`
}

const (
	busUp   = "up"
	busDown = "down"
)

// busState follows the bus's health: it tells the clients (the system
// channel), pauses judging nodes by their heartbeats while none can be
// heard, and catches up what the outage cost once the bus is back.
type busState struct {
	mu     sync.Mutex
	status SystemStatus
}

// watchBus starts following b's health, if it has one (the in-process
// bus is always up). Called once the hub exists.
func (s *Server) watchBus(b bus.Bus) {
	s.busState.status = SystemStatus{Bus: busUp}
	w, ok := b.(bus.Watcher)
	if !ok {
		return
	}
	// Runs on a goroutine of the bus: everything here returns at once.
	w.Watch(func(up bool) {
		st := SystemStatus{Bus: busUp, Since: time.Now().UTC()}
		if !up {
			st.Bus = busDown
			st.Message = "the cluster bus (Redis) is unavailable: live logs, node calls and new tasks wait until it is back; running tasks go on"
		}
		s.busState.mu.Lock()
		s.busState.status = st
		s.busState.mu.Unlock()
		if up {
			// Nodes get a full offlineAfter to be heard again before
			// they count as gone: no heartbeat could arrive meanwhile.
			now := time.Now()
			s.mu.Lock()
			for id := range s.lastBeat {
				s.lastBeat[id] = now
			}
			s.mu.Unlock()
			s.hub.Resync()
		}
		s.hub.Broadcast(wsapi.ChannelSystem, st)
	})
}

// systemStatus is this master's current SystemStatus.
func (s *Server) systemStatus() SystemStatus {
	s.busState.mu.Lock()
	defer s.busState.mu.Unlock()
	return s.busState.status
}

// busDown reports whether the bus is known to be unreachable.
func (s *Server) busDown() bool { return s.systemStatus().Bus == busDown }

// errBusDown is the error of a call that needs the bus while it is down.
func errBusDown(what string) error {
	return fmt.Errorf("%s: %w; retry once it is back", what, bus.ErrUnavailable)
}

// liveBus is CallerConfig.Live: a call fails at once while the bus is
// down, before the node's own liveness is looked at.
func (s *Server) liveBus(ctx context.Context, nodeID string) error {
	if s.busDown() {
		return errBusDown("node " + nodeID + " cannot be called")
	}
	return s.live(ctx, nodeID)
}

// systemHTTP answers GET /api/system.
func (s *Server) systemHTTP(c echo.Context) error {
	return c.JSON(http.StatusOK, s.systemStatus())
}

// initial is the hub's Config.Initial: a new subscriber of the system
// channel gets the current status first.
func (s *Server) initial(channel string) any {
	if channel == wsapi.ChannelSystem {
		return s.systemStatus()
	}
	return nil
}

// recentEvents remembers the ids of the last task_status events heard, so
// one an agent sent again (its first PUBLISH failed, or seemed to while
// Redis hung, and was delivered after all) is passed on once.
type recentEvents struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring [1024]string
	next int
}

// first reports whether id is heard for the first time.
func (r *recentEvents) first(id string) bool {
	if id == "" {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[string]struct{}, len(r.ring))
	}
	if _, ok := r.seen[id]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.seen, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.seen[id] = struct{}{}
	return true
}
