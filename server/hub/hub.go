// Package hub is the master's WebSocket API: JSON-RPC 2.0 over WebSocket,
// with channels clients subscribe to, as package wsapi names them. It
// bridges the bus to the clients: it subscribes upstream to a task's log
// or items channel when the first local client asks and unsubscribes when
// the last one leaves, and it delivers every log line and every item
// exactly once and in order (see streamSub).
//
// The hub is the logic (subscriptions, reference counts, stream followers,
// calls); moving frames over a connection is internal/wsconn's: framing,
// the non-blocking write path, the queue bounded in bytes, the writer
// goroutine, ping/pong.
//
// Shapes follow gorilla's chat example (one reader and one writer
// goroutine per connection; a client that cannot keep up is dropped) and
// centrifuge (reference-counted upstream subscriptions undone on failure;
// a per-client queue bounded in bytes; typed close codes).
package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Config configures a Hub. Zero values mean the documented default.
type Config struct {
	// MaxFrame is the largest frame a client may send. Zero means 64 KiB;
	// past it the connection is closed with 1009.
	MaxFrame int64
	// SendQueue bounds, in bytes, what may wait to be written to one
	// client. Zero means 8 MiB; past it the client is closed with 4008.
	SendQueue int
	// MaxSubscriptions per client. Zero means 1,000.
	MaxSubscriptions int
	// PingPeriod is how often the server pings. Zero means 25 s.
	PingPeriod time.Duration
	// PongWait is how long a connection may stay silent (no pong, no
	// message). Zero means 60 s. It must exceed PingPeriod, with room for
	// the pong's round trip: New refuses a pair where it does not, since
	// every connection would then be dropped between two pings.
	PongWait time.Duration
	// WriteWait bounds one write. Zero means 10 s.
	WriteWait time.Duration
	// MaxInFlight bounds the calls of one client served at once; further
	// frames wait to be read. Zero means 16.
	MaxInFlight int
	// CheckOrigin decides whether a browser's Origin may connect.
	CheckOrigin func(r *http.Request) bool
	// Authorize decides whether a client's principal may call a method
	// (subscribe and unsubscribe included), before the call is served; its
	// error is the reply. Nil allows every call.
	Authorize func(p auth.Principal, method string) error
	// AuthorizeChannel decides whether a client's principal may subscribe
	// to a channel, once Authorize let it call subscribe; its error is the
	// reply. Nil allows every channel.
	AuthorizeChannel func(p auth.Principal, channel string) error
	// MaxConnections bounds the open connections: past it a request is
	// refused before the upgrade with 503. Zero means 10,000.
	MaxConnections int
	// MaxPerAddress bounds the open connections of one client address:
	// past it a request is refused before the upgrade with 429. Zero
	// means 100.
	MaxPerAddress int
	// ClientAddr is the address a request comes from, as the per-address
	// cap counts it. Nil means the connection's peer (no proxy).
	ClientAddr func(r *http.Request) string
	// Observe, when set, is told of every call a client makes once it
	// parses: its method (as sent: one Authorize refused may be any
	// string), the JSON-RPC error code it got (0: it succeeded) and how
	// long serving it took. It runs on the client's goroutines and must be
	// quick.
	Observe func(method string, code int, took time.Duration)
	// Initial, when set, is asked for what a client subscribing to a
	// channel that is not a task's stream gets first: the channel's
	// current state (the "system" channel's), or nil for nothing.
	Initial func(channel string) any
	Log     *slog.Logger
}

// Backend serves the calls and reads the tasks' streams. The server
// implements it.
type Backend interface {
	// Call serves every method but subscribe and unsubscribe.
	Call(ctx context.Context, c *Client, method string, params json.RawMessage) (any, error)
	// ReadLog reads lines from..from+limit of a task's log (fewer at its
	// end) and the log's current length.
	ReadLog(ctx context.Context, taskID string, from int64, limit int) (*wire.LogBatch, error)
	// ReadItems reads items from..from+limit of a task (fewer at its end)
	// and how many it has now.
	ReadItems(ctx context.Context, taskID string, from int64, limit int) (*wire.ItemBatch, error)
	// TaskEnded reports whether the task exists and has ended, with its
	// status.
	TaskEnded(ctx context.Context, taskID string) (ended bool, status string, err error)
	// ErrorCode maps an error to a JSON-RPC error code and message.
	ErrorCode(err error) (int, string)
}

// Upstream is the part of the bus the hub subscribes with.
type Upstream interface {
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
}

// Hub holds the clients of one master. Safe for concurrent use.
type Hub struct {
	cfg      Config
	connCfg  wsconn.Config // cfg's part that the connections use
	backend  Backend
	upstream Upstream
	upgrader *wsconn.Upgrader
	log      *slog.Logger
	nextID   atomic.Uint64
	slow     atomic.Int64 // clients dropped for being too slow

	ctx    context.Context // ends when the hub closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // client goroutines

	mu      sync.RWMutex
	clients map[*Client]struct{}
	closed  bool                              // Close was called: no more clients
	subs    map[string]map[*Client]*streamSub // channel → subscribers (nil streamSub for plain channels)
	lists   map[string][]*Client              // subs' keys as a list, per channel, made on demand (see subscribers); deleted when subs changes

	// closeCode and closeReason are what CloseWith tells clients (zero:
	// 1001); a client that connects as the hub closes is told the same.
	closeCode   int
	closeReason string

	upMu sync.Mutex
	ups  map[string]*upstreamRef // bus channel → local reference count

	caps caps // connections counted against MaxConnections and MaxPerAddress

	readAhead chan struct{} // backlog pages being read ahead (see streamSub.readAhead)
	pages     *pages        // backlog pages shared by subscriptions catching up
	fan       *fanout       // broadcasts waiting for the fan-out goroutine
}

// maxReadAhead bounds the backlog pages read ahead at once in the whole
// hub, so that many clients catching up at once hold no more than this
// many extra pages in memory.
const maxReadAhead = 4

// New returns a Hub. Close it to disconnect every client.
func New(cfg Config, backend Backend, upstream Upstream) (*Hub, error) {
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = 64 << 10
	}
	if cfg.SendQueue == 0 {
		cfg.SendQueue = 8 << 20
	}
	if cfg.MaxSubscriptions == 0 {
		cfg.MaxSubscriptions = 1000
	}
	if cfg.PingPeriod == 0 {
		cfg.PingPeriod = 25 * time.Second
	}
	if cfg.PongWait == 0 {
		cfg.PongWait = 60 * time.Second
	}
	if cfg.WriteWait == 0 {
		cfg.WriteWait = 10 * time.Second
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 16
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if err := cfg.capDefaults(); err != nil {
		return nil, err
	}
	if cfg.PingPeriod < 0 {
		return nil, fmt.Errorf("hub: PingPeriod (%v) must be positive", cfg.PingPeriod)
	}
	if cfg.PongWait <= cfg.PingPeriod {
		return nil, fmt.Errorf("hub: PongWait (%v) must exceed PingPeriod (%v), or every connection is dropped before it can answer a ping: raise PongWait or lower PingPeriod", cfg.PongWait, cfg.PingPeriod)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, backend: backend, upstream: upstream, log: cfg.Log,
		connCfg: wsconn.Config{MaxFrame: cfg.MaxFrame, SendQueue: cfg.SendQueue,
			PingPeriod: cfg.PingPeriod, PongWait: cfg.PongWait, WriteWait: cfg.WriteWait},
		upgrader: wsconn.NewUpgrader(cfg.CheckOrigin),
		ctx:      ctx, cancel: cancel,
		clients: map[*Client]struct{}{},
		subs:    map[string]map[*Client]*streamSub{},
		lists:   map[string][]*Client{},
		ups:     map[string]*upstreamRef{},
		caps:    caps{perAddr: map[string]int{}},

		readAhead: make(chan struct{}, maxReadAhead),
		pages:     newPages(),
		fan:       newFanout(),
	}
	h.wg.Add(1)
	go h.runFanout()
	return h, nil
}

// Close disconnects every client (close code 1001) and waits for their
// goroutines.
func (h *Hub) Close() { h.CloseWith(0, "") }

// CloseWith is Close telling every client code and reason instead (a
// master that drains says 1012: reconnect elsewhere). Zero code means
// 1001.
func (h *Hub) CloseWith(code int, reason string) {
	// No client is added once closed is set (under mu, as ServeHTTP adds
	// its goroutines under mu): wg.Add never races wg.Wait.
	h.mu.Lock()
	h.closed = true
	h.closeCode, h.closeReason = code, reason
	if code != 0 {
		// Each writer sends the close frame before it sees the hub's
		// context end (which would say 1001).
		for c := range h.clients {
			c.conn.Close(code, reason)
		}
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Stats are the hub's counters.
type Stats struct {
	Clients         int   `json:"clients"`
	SlowDisconnects int64 `json:"slow_disconnects"`
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	return Stats{Clients: h.Clients(), SlowDisconnects: h.slow.Load()}
}

// Clients is the number of connected clients.
func (h *Hub) Clients() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.clients)
}

// ServeHTTP upgrades an authenticated request to a WebSocket and serves it
// until it closes. Authentication is the caller's: check it before, and
// put the principal the connection acts as in r's context
// (auth.NewContext); every call is authorized against it.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr, ok := h.admit(w, r)
	if !ok {
		return // admit answered with the reason
	}
	p, _ := auth.FromContext(r.Context())
	remote := r.RemoteAddr
	if p.Address != "" {
		remote = p.Address
	}
	c := &Client{hub: h, remote: remote, addr: addr, principal: p, subs: map[string]struct{}{}}
	if err := c.conn.Accept(h.upgrader, w, r); err != nil {
		h.leave(addr)
		return // the upgrader answered with the reason
	}
	c.seq = h.nextID.Add(1)
	c.id = fmt.Sprintf("c%d", c.seq)
	c.ctx, c.cancel = context.WithCancel(h.ctx)
	h.mu.Lock()
	if h.closed {
		code, reason := h.closeCode, h.closeReason
		h.mu.Unlock()
		c.cancel()
		h.leave(addr)
		if code == 0 {
			code, reason = wsapi.CloseGoingAway, "server shutting down"
		}
		c.conn.Reject(code, reason)
		return
	}
	h.clients[c] = struct{}{}
	// Two shares: the reader's, and the writer's, which the connection
	// gives back once its writer has closed it (see Client.closed);
	// writers run only while there is something to write.
	h.wg.Add(2)
	// Started after the check: a hub closing from here on ends c.ctx,
	// and the writer then closes the connection. Started under the lock:
	// whoever finds c among the clients (Disconnect) finds it started.
	c.conn.Start(c.ctx, &h.connCfg, c.tooSlow, c.closed)
	if !p.Expires.IsZero() {
		// At once, not at the next periodic check: an expired token stops
		// working on open connections as it does on requests.
		c.expiry = time.AfterFunc(time.Until(p.Expires), func() {
			c.conn.Close(wsapi.CloseRevoked, "the credential this connection opened with expired: sign in again")
		})
	}
	h.mu.Unlock()
	h.log.Debug("client connected", "client_id", c.id, "remote", r.RemoteAddr)
	go func() { defer h.wg.Done(); c.readPump() }()
}

// Principals returns the principal of every connected client, one per
// client (so the same principal may come more than once).
func (h *Hub) Principals() []auth.Principal {
	h.mu.RLock()
	defer h.mu.RUnlock()
	ps := make([]auth.Principal, 0, len(h.clients))
	for c := range h.clients {
		ps = append(ps, c.principal)
	}
	return ps
}

// Disconnect closes, with code and text, every client whose principal
// match accepts, and says how many. It does not wait for them to go.
func (h *Hub) Disconnect(match func(auth.Principal) bool, code int, text string) int {
	h.mu.RLock()
	var gone []*Client
	for c := range h.clients {
		if match(c.principal) {
			gone = append(gone, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range gone {
		c.conn.Close(code, text)
		h.log.Info("client disconnected", "client_id", c.id, "user", c.principal.Username, "code", code, "reason", text)
	}
	return len(gone)
}

// remove forgets a client and releases its subscriptions.
func (h *Hub) remove(c *Client) {
	h.leave(c.addr)
	h.mu.Lock()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	delete(h.clients, c)
	var released []string
	for ch := range c.subs {
		delete(h.lists, ch)
		if m := h.subs[ch]; m != nil {
			if s := m[c]; s != nil {
				s.stop()
			}
			delete(m, c)
			if len(m) == 0 {
				delete(h.subs, ch)
			}
		}
		if id, k := streamOf(ch); k != nil {
			released = append(released, k.upstream(id))
		}
	}
	h.mu.Unlock()
	for _, up := range released {
		h.release(up)
	}
}

// Broadcast sends data to every client subscribed to a plain channel
// (nodes, tasks, spiders). The notification is encoded once for all of them, and
// sent by the fan-out goroutine (see fanout.go): Broadcast only waits
// when many megabytes of broadcasts are already waiting.
func (h *Hub) Broadcast(channel string, data any) {
	h.mu.RLock()
	n := len(h.subs[channel])
	h.mu.RUnlock()
	if n == 0 {
		return
	}
	msg, err := encodePublish(channel, data)
	if err != nil {
		h.log.Error("broadcast not encoded", "channel", channel, "err", err)
		return
	}
	h.putBroadcast(channel, msg)
}

// HandleLog takes one message from a task's bus log channel.
func (h *Hub) HandleLog(payload []byte) { h.handle(logKind, payload) }

// HandleItems takes one message from a task's bus items channel.
func (h *Hub) HandleItems(payload []byte) { h.handle(itemsKind, payload) }

// handle takes one message from a task's bus channel of stream k.
//
// It runs on the bus's only receive goroutine, so everything behind it on
// the bus (node replies, events, every other task's log) waits while it
// runs. It writes to the subscribers' sockets from that goroutine all the
// same, because nothing on the way waits on a client or on the network:
//
//   - h.mu is read-locked only to copy the subscribers; its write lock is
//     held only to update the hub's maps and lists, never across a call,
//     a read or a write.
//   - streamSub.live takes the subscription's mu. Under it nobody waits or
//     does I/O: a catch-up lets go of it before WaitRoom and before
//     reading the stream, and holds it only to Enqueue (and to frame the
//     part of a batch a subscriber still needs, once).
//   - wsconn.Conn.Enqueue takes the connection's mu, which nobody holds
//     across a write that can block (the writer goroutine lets go of it
//     first), and writes with one write(2) on the non-blocking socket,
//     which takes what the socket buffer has room for and returns. It
//     takes the outConn's lock only if it is free (TryLock), and holding
//     it is the socket's only writer, so the write starts at once. When
//     another write is in progress or the buffer is full, the frame is
//     queued for the writer goroutine instead, and a client whose queue
//     is full is closed with 4008 (its writer sends the close).
//   - A gap (a batch past the next entry) starts a catch-up on a goroutine
//     of its own.
//
// So a client that stopped reading costs the bus one write(2) that takes
// nothing and a queue append, never a wait: the time handle takes grows
// with the batch and the number of subscribers, not with how slow any of
// them is.
func (h *Hub) handle(k *kind, payload []byte) {
	lb, err := k.decode(payload)
	if err != nil {
		h.log.Warn("dropped malformed "+k.name+" batch", "err", err)
		return
	}
	ch := k.channel(lb.taskID)
	h.mu.RLock()
	m := h.subs[ch]
	subs := make([]*streamSub, 0, len(m))
	for _, s := range m {
		if s != nil {
			subs = append(subs, s)
		}
	}
	h.mu.RUnlock()
	// Subscribers in step with the stream all get the same bytes, encoded
	// once (see liveBatch).
	for _, s := range subs {
		s.live(lb)
	}
}
