// Package hub is the master's WebSocket API: JSON-RPC 2.0 over gorilla
// WebSocket, with channels clients subscribe to. It bridges the bus to the
// clients: it subscribes upstream to a task's log channel when the first
// local client asks and unsubscribes when the last one leaves, and it
// delivers every log line exactly once and in order (see logSub).
//
// Shapes follow gorilla's chat example (one reader and one writer
// goroutine per connection; a client that cannot keep up is dropped) and
// centrifuge (reference-counted upstream subscriptions undone on failure;
// a per-client queue bounded in bytes; typed close codes).
package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wire"
)

// Channels clients may subscribe to.
const (
	ChannelNodes     = "nodes"
	ChannelTasks     = "tasks"
	ChannelSpiders   = "spiders"   // outcomes of spider syncs on nodes
	ChannelSchedules = "schedules" // schedule changes, fires and skips
	logPrefix        = "task:"
	logSuffix        = ":log"
)

// LogChannel is the client channel of a task's log.
func LogChannel(taskID string) string { return logPrefix + taskID + logSuffix }

// Close codes sent to clients, besides the standard ones (1009 for a frame
// over the read limit, 1001 when the server stops).
const (
	CloseSlowClient = 4008 // the client did not read fast enough
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
	// message). Zero means 60 s; it must exceed PingPeriod.
	PongWait time.Duration
	// WriteWait bounds one write. Zero means 10 s.
	WriteWait time.Duration
	// MaxInFlight bounds the calls of one client served at once; further
	// frames wait to be read. Zero means 16.
	MaxInFlight int
	// CheckOrigin decides whether a browser's Origin may connect.
	CheckOrigin func(r *http.Request) bool
	Log         *slog.Logger
}

// Backend serves the calls and reads the logs. The server implements it.
type Backend interface {
	// Call serves every method but subscribe and unsubscribe.
	Call(ctx context.Context, c *Client, method string, params json.RawMessage) (any, error)
	// ReadLog reads lines from..from+limit of a task's log (fewer at its
	// end) and the log's current length.
	ReadLog(ctx context.Context, taskID string, from int64, limit int) (*wire.LogLines, error)
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
	backend  Backend
	upstream Upstream
	upgrader websocket.Upgrader
	log      *slog.Logger
	nextID   atomic.Uint64
	slow     atomic.Int64 // clients dropped for being too slow

	ctx    context.Context // ends when the hub closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // client goroutines

	mu      sync.RWMutex
	clients map[*Client]struct{}
	closed  bool                           // Close was called: no more clients
	subs    map[string]map[*Client]*logSub // channel → subscribers (nil logSub for plain channels)
	lists   map[string][]*Client           // subs' keys as a list, per channel, made on demand (see subscribers); deleted when subs changes

	upMu sync.Mutex
	ups  map[string]*upstreamRef // bus channel → local reference count

	readAhead chan struct{} // backlog pages being read ahead (see logSub.readAhead)
	pages     *pages        // backlog pages shared by subscriptions catching up
	fan       *fanout       // broadcasts waiting for the fan-out goroutine
}

// maxReadAhead bounds the backlog pages read ahead at once in the whole
// hub, so that many clients catching up at once hold no more than this
// many extra pages in memory.
const maxReadAhead = 4

type upstreamRef struct {
	mu   sync.Mutex // held across the bus call, so subscribe and unsubscribe of one channel never reorder
	refs int
}

// New returns a Hub. Close it to disconnect every client.
func New(cfg Config, backend Backend, upstream Upstream) *Hub {
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
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg: cfg, backend: backend, upstream: upstream, log: cfg.Log,
		ctx: ctx, cancel: cancel,
		clients: map[*Client]struct{}{},
		subs:    map[string]map[*Client]*logSub{},
		lists:   map[string][]*Client{},
		ups:     map[string]*upstreamRef{},

		readAhead: make(chan struct{}, maxReadAhead),
		pages:     newPages(),
		fan:       newFanout(),
	}
	h.upgrader = websocket.Upgrader{
		// Clients send small calls; a frame larger than the read buffer
		// is read through it in pieces. Every idle connection holds its
		// read buffer, so it is kept small.
		ReadBufferSize: 1024, WriteBufferSize: 4096,
		CheckOrigin: cfg.CheckOrigin,
		// Pooled write buffers: idle connections then hold none.
		WriteBufferPool: &sync.Pool{},
	}
	h.wg.Add(1)
	go h.runFanout()
	return h
}

// Close disconnects every client (close code 1001) and waits for their
// goroutines.
func (h *Hub) Close() {
	// No client is added once closed is set (under mu, as ServeHTTP adds
	// its goroutines under mu): wg.Add never races wg.Wait.
	h.mu.Lock()
	h.closed = true
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
// until it closes. Authentication is the caller's: check it before.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hw := &hijackWrapper{ResponseWriter: w}
	conn, err := h.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return // the upgrader answered with the reason
	}
	seq := h.nextID.Add(1)
	c := newClient(h, conn, hw.conn, fmt.Sprintf("c%d", seq), r.RemoteAddr)
	c.seq = seq
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		c.stopCtx()
		c.ping.Stop()
		c.cancel()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		conn.Close()
		return
	}
	h.clients[c] = struct{}{}
	// Two shares: the reader's, and the writer's, which the writer that
	// closes the connection gives back (see Client.finish); writers run
	// only while there is something to write.
	h.wg.Add(2)
	h.mu.Unlock()
	h.log.Debug("client connected", "client_id", c.id, "remote", r.RemoteAddr)
	go func() { defer h.wg.Done(); c.readPump() }()
}

// remove forgets a client and releases its subscriptions.
func (h *Hub) remove(c *Client) {
	h.mu.Lock()
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
		if id, ok := taskOfChannel(ch); ok {
			released = append(released, wire.LogChannel(id))
		}
	}
	h.mu.Unlock()
	for _, up := range released {
		h.release(up)
	}
}

func taskOfChannel(ch string) (string, bool) {
	if !strings.HasPrefix(ch, logPrefix) || !strings.HasSuffix(ch, logSuffix) {
		return "", false
	}
	id := strings.TrimSuffix(strings.TrimPrefix(ch, logPrefix), logSuffix)
	return id, id != ""
}

// acquire takes a reference on an upstream channel, subscribing on the
// first. A failed subscribe is undone: the reference is not kept.
func (h *Hub) acquire(ctx context.Context, channel string) error {
	h.upMu.Lock()
	u := h.ups[channel]
	if u == nil {
		u = &upstreamRef{}
		h.ups[channel] = u
	}
	u.mu.Lock()
	h.upMu.Unlock()
	defer u.mu.Unlock()
	if u.refs == 0 {
		if err := h.upstream.Subscribe(ctx, channel); err != nil {
			h.upMu.Lock()
			if u.refs == 0 && h.ups[channel] == u {
				delete(h.ups, channel)
			}
			h.upMu.Unlock()
			return err
		}
	}
	u.refs++
	return nil
}

// release drops a reference, unsubscribing upstream on the last.
func (h *Hub) release(channel string) {
	h.upMu.Lock()
	u := h.ups[channel]
	if u == nil {
		h.upMu.Unlock()
		return
	}
	u.mu.Lock()
	h.upMu.Unlock()
	defer u.mu.Unlock()
	u.refs--
	if u.refs > 0 {
		return
	}
	h.upMu.Lock()
	if h.ups[channel] == u {
		delete(h.ups, channel)
	}
	h.upMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.upstream.Unsubscribe(ctx, channel); err != nil {
		h.log.Warn("upstream unsubscribe failed", "channel", channel, "err", err)
	}
}

// UpstreamRefs is how many local subscriptions hold an upstream channel.
func (h *Hub) UpstreamRefs(channel string) int {
	h.upMu.Lock()
	u := h.ups[channel]
	h.upMu.Unlock()
	if u == nil {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refs
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

// HandleLog takes one message from a task's bus log channel. It runs on
// the bus's receive goroutine: it only queues.
func (h *Hub) HandleLog(payload []byte) {
	lb, err := decodeLiveBatch(payload)
	if err != nil {
		h.log.Warn("dropped malformed log batch", "err", err)
		return
	}
	ch := LogChannel(lb.b.TaskID)
	h.mu.RLock()
	m := h.subs[ch]
	subs := make([]*logSub, 0, len(m))
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

// errors for subscriptions.
var (
	errTooMany    = errors.New("too many subscriptions")
	errSubscribed = errors.New("already subscribed")
)
