// Package server is a crawlhub master: it serves the REST API, the
// WebSocket API and the dashboard, calls nodes over the bus and watches
// their heartbeats. Masters keep no state but their clients, so any number
// may run against the same Redis and store.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/sync/errgroup"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/server/scheduler"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	// Listen is the HTTP address. Zero means 127.0.0.1:8080.
	Listen string
	// Token is the start token: an admin credential that lives in the
	// configuration and acts as the user admin. Required.
	Token string
	// AdminPassword is the password of the user admin created at first
	// start (when the store has no users), also set on an admin that has
	// no password yet. Empty: none until one is set.
	AdminPassword string
	// PasswordParams are the argon2id costs of new password hashes. Zero
	// means auth.DefaultParams.
	PasswordParams auth.Params
	// CredentialCheck is how often open WebSockets are checked for an
	// expired credential or a disabled, deleted or demoted user. Zero
	// means 30 s.
	CredentialCheck time.Duration
	// AllowedOrigins lists extra Origins allowed to open WebSockets, besides
	// the server's own.
	AllowedOrigins []string
	// Heartbeat is the agents' heartbeat interval; a node is offline after
	// 3 missed beats. Zero means 5 s.
	Heartbeat time.Duration
	// CallTimeout is the deadline of a call to a node. Zero means 5 s.
	CallTimeout time.Duration
	// SendQueue bounds, in bytes, what may wait to be written to one
	// WebSocket client. Zero means the hub's default (8 MiB).
	SendQueue int
	// MaxArchive bounds an uploaded spider archive. Zero means 100 MiB.
	MaxArchive int64
	// AuditRetention is how long audit entries are kept. Zero means 90 days.
	AuditRetention time.Duration
	// TLSCert and TLSKey are PEM files: with both, the server serves
	// HTTPS (and HTTP/2) only. Neither means plain HTTP.
	TLSCert, TLSKey string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client's address; none means the connection's peer is the
	// client (see clientAddr).
	TrustedProxies []netip.Prefix
	// MaxWebSockets bounds the open WebSocket connections; zero means
	// 10,000. MaxWebSocketsPerAddress bounds them per client address;
	// zero means 100.
	MaxWebSockets, MaxWebSocketsPerAddress int
	// Dist is the built dashboard. Nil serves a page saying it is not built.
	Dist fs.FS
	// ClusterSecret signs every message the master publishes and is
	// required on every message it receives (wire.Signer). Zero means the
	// insecure bus: nothing is signed or checked.
	ClusterSecret string
	// PublicURL is the dashboard's address as people reach it (behind a
	// proxy, the proxy's); alerts link to it. Empty: alerts carry no links.
	PublicURL string
	// SMTP is the mail server of email alerts; a zero Addr means none.
	SMTP alerts.SMTP
	// AlertRetry is the wait before each retry of a failed alert; nil
	// means alerts.DefaultRetry (8 attempts over about an hour).
	AlertRetry []time.Duration
	// AlertPoll is how often the store is asked for alerts due for a
	// retry. Zero means 10 s.
	AlertPoll time.Duration
	Version   string
	Log       *slog.Logger

	// StoreTimeout bounds each store call but those that stream or sweep
	// (store_deadline.go): past it the call fails with 503
	// store_unavailable. Zero means 2 s.
	StoreTimeout time.Duration
	// DrainDelay is how long a stopping master keeps serving with /readyz
	// at 503 "draining" before it closes its listener, for a load balancer
	// to take it out of rotation first. Zero means it closes at once.
	DrainDelay time.Duration
}

// Server is one master.
type Server struct {
	cfg    Config
	store  store.Store
	bus    bus.Bus
	signer *wire.Signer // nil: the insecure bus
	caller *wire.Caller
	echo   *echo.Echo
	ln     net.Listener
	tls    *tls.Config // nil: plain HTTP
	hub    *hub.Hub
	sched  *scheduler.Scheduler
	alerts *alerts.Alerts
	log    *slog.Logger
	prom   *metrics
	// draining is set once the master stops (drain.go).
	draining atomic.Bool

	mu       sync.Mutex
	lastBeat map[string]time.Time // node id → last heartbeat heard by this master
	// itemCounts spares the store a count of a task's items on every read.
	itemCounts itemCounts
	names      map[string]string // node id → name, for events
	points     chan heardPoint   // heartbeats' load for the store (see nodemetrics.go)
	// pointsDropped counts the heartbeats' points the queue had no room for.
	pointsDropped atomic.Int64
	// beats is the time on the last heartbeat heard from each node: it
	// names a node's coming and going the same way on every master
	// (alerts.NodeEvent).
	beats map[string]time.Time
	// nodeAlertsFrom: a node first heard before then was online before this
	// master started, and is not news (see nodeAlert).
	nodeAlertsFrom time.Time

	// Sign-in failures, per username and per address (see login).
	loginUsers, loginAddrs *auth.Throttle
	pwSlots                chan struct{} // password checks running (see checkPassword)
	touches                touched       // when this master last recorded each credential's use

	// usersMu serialises user changes on this master, so the last-admin
	// check and the write it allows are one step.
	usersMu sync.Mutex

	busState     busState     // whether the bus is reachable (busstate.go)
	statusEvents recentEvents // task_status events already passed on
}

// New listens on cfg.Listen and connects to the bus through connect, which
// is called with the handler of the master's messages. Run serves.
func New(cfg Config, st store.Store, connect func(bus.Handler) (bus.Bus, error)) (*Server, error) {
	if cfg.Token == "" {
		return nil, errors.New("server: a token is required")
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:8080"
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CredentialCheck == 0 {
		cfg.CredentialCheck = 30 * time.Second
	}
	// Every store call the master makes is timed, the scheduler's too.
	prom := newMetrics()
	st = timeStore(st, prom.store, cfg.StoreTimeout)
	s := &Server{cfg: cfg, store: st, log: cfg.Log, prom: prom, lastBeat: map[string]time.Time{}, names: map[string]string{},
		points: make(chan heardPoint, metricsQueue),
		beats:  map[string]time.Time{},
		// A person mistypes a few times; a script guessing does not stop.
		// Many people may share an address (an office), so it may fail
		// more often than one username.
		loginUsers: auth.NewThrottle(auth.ThrottleConfig{Limit: 5}),
		loginAddrs: auth.NewThrottle(auth.ThrottleConfig{Limit: 20}),
		pwSlots:    make(chan struct{}, max(2, runtime.NumCPU())),
	}
	var err error
	if s.tls, err = loadTLS(cfg); err != nil {
		return nil, err
	}
	if s.signer, err = wire.NewSigner(cfg.ClusterSecret, cfg.Log); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	b, err := connect(s.handleBus)
	if err != nil {
		return nil, err
	}
	raw := b
	b = countingBus{Bus: b, errs: &prom.busErrors}
	s.bus = b
	s.caller = wire.NewCaller(wire.CallerConfig{
		Bus: b, Live: s.liveBus, Event: s.event, Timeout: cfg.CallTimeout, Signer: s.signer, Observer: prom, Log: cfg.Log,
	})
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("server: listen on %s: %w", cfg.Listen, err)
	}
	s.ln = ln
	s.hub, err = hub.New(hub.Config{Log: cfg.Log, SendQueue: cfg.SendQueue, CheckOrigin: func(*http.Request) bool { return true },
		Authorize: authorizeRPC, AuthorizeChannel: authorizeChannel,
		MaxConnections: cfg.MaxWebSockets, MaxPerAddress: cfg.MaxWebSocketsPerAddress, ClientAddr: s.clientAddr,
		Observe: prom.observeJSONRPC, Initial: s.initial}, wsBackend{s}, b)
	if err != nil {
		ln.Close()
		b.Close()
		return nil, err
	}
	s.watchBus(raw)
	prom.register(s)
	s.alerts = s.newAlerts()
	s.sched = scheduler.New(scheduler.Config{Store: st, Bus: b, Fire: s.fireSchedules, Emit: s.emitScheduleFired, Log: cfg.Log})
	s.echo = s.routes()
	s.harden(s.echo)
	return s, nil
}

// Addr is the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) handleBus(channel string, payload []byte) {
	if channel == wire.MasterChannel {
		s.caller.Handle(payload)
		return
	}
	payload, ok := s.signer.Accept(channel, payload)
	if !ok {
		return
	}
	switch {
	case wire.IsLogChannel(channel):
		s.hub.HandleLog(payload)
	case wire.IsItemsChannel(channel):
		s.hub.HandleItems(payload)
	}
}

// Hub is the WebSocket hub (for tests and benchmarks).
func (s *Server) Hub() *hub.Hub { return s.hub }

// Run serves until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	defer s.bus.Close()
	if err := s.bus.Subscribe(ctx, wire.MasterChannel); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	// The user admin exists before the first request, so the start token
	// and --admin-password work at once; if the store is away, watchAccess
	// keeps trying.
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	adminErr := s.ensureAdmin(actx)
	cancel()
	if adminErr != nil {
		s.log.Warn("user admin not created yet; retrying", "err", adminErr)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		srv := s.httpServer()
		errc := make(chan error, 1)
		go func() {
			if s.tls != nil {
				errc <- srv.ServeTLS(s.ln, "", "")
			} else {
				errc <- srv.Serve(s.ln)
			}
		}()
		select {
		case err := <-errc:
			return fmt.Errorf("server: %w", err)
		case <-gctx.Done():
		}
		s.drain(srv) // hijacked WebSockets are not waited for: the hub closes them
		<-errc
		return nil
	})
	g.Go(func() error { s.watchNodes(gctx); return nil })
	g.Go(func() error { s.watchStore(gctx); return nil })
	g.Go(func() error { s.watchAccess(gctx, adminErr == nil); return nil })
	g.Go(func() error { return s.sched.Run(gctx) })
	g.Go(func() error { s.expireAudit(gctx); return nil })
	g.Go(func() error { s.recordNodeMetrics(gctx); return nil })
	g.Go(func() error { return s.alerts.Run(gctx) })
	g.Go(func() error { s.foldStats(gctx); return nil })
	s.log.Info("master serving", "addr", s.Addr(), "url", s.URL())
	return g.Wait()
}
