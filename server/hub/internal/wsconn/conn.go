// Package wsconn is the transport of the hub's WebSocket connections:
// framing, the non-blocking write path, the per-client queue bounded in
// bytes, the writer goroutine, and ping/pong. What goes over a connection
// (JSON-RPC, subscriptions, logs) is the hub's business; this package only
// moves frames and decides when a client is too slow to keep.
//
// It writes its frames itself rather than through gorilla's writer: a
// message going to many clients is framed once (server frames are not
// masked, so the bytes are the same for every client), and a client with
// nothing waiting gets it with one non-blocking write from the goroutine
// that delivers it, with no writer goroutine to wake and no timer to set.
// Only when that write cannot finish (the client's socket buffer is full)
// or the client already has messages waiting does its writer goroutine
// take over, with a deadline; it answers the client's pings too. Gorilla
// still reads, and writes the few frames of its own (the handshake, the
// replies to a close or to a protocol error) through outConn, which orders
// them with this package's. A write that fails may leave part of a frame
// on the wire, so after one nothing more is written.
//
// Shapes follow centrifuge's writer (a queue bounded in bytes, a slow
// client closed with a typed code) and gorilla's chat example (one reader
// and one writer per connection).
package wsconn

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Config is shared by the connections of one hub and must not change once
// they use it. Every field must be set (the hub fills in its defaults).
type Config struct {
	MaxFrame   int64         // the largest frame a client may send; past it, 1009
	SendQueue  int           // bytes that may wait for one client; past it, 4008
	PingPeriod time.Duration // how often the server pings
	PongWait   time.Duration // how long a connection may stay silent; more than PingPeriod
	WriteWait  time.Duration // bounds one write; a write blocked for half of it is a client too slow
}

// Upgrader answers WebSocket handshakes with connections this package
// writes to.
type Upgrader struct{ u websocket.Upgrader }

// NewUpgrader returns an Upgrader; checkOrigin decides whether a browser's
// Origin may connect (nil: only the server's own).
func NewUpgrader(checkOrigin func(*http.Request) bool) *Upgrader {
	return &Upgrader{websocket.Upgrader{
		// Clients send small calls; a frame larger than the read buffer
		// is read through it in pieces. Every idle connection holds its
		// read buffer, so it is kept small.
		ReadBufferSize: 1024, WriteBufferSize: 4096,
		CheckOrigin: checkOrigin,
		// Pooled write buffers: idle connections then hold none.
		WriteBufferPool: &sync.Pool{},
	}}
}

// Conn is the server's side of one WebSocket connection. Its zero value is
// ready for Accept; after that, either Start or Reject. It is meant to be
// held by value as the first field of its owner, so that what delivering a
// message touches sits together at the start of one allocation.
//
// Enqueue and WaitRoom are safe for concurrent use; Read is for one reader
// goroutine.
type Conn struct {
	// What delivering a message touches comes first, together (see
	// Enqueue): with many clients, each delivery's cache misses count.
	mu       sync.Mutex
	closing  bool     // no more enqueues; the writer closes the connection
	writing  bool     // a writer runs, or one closed the connection
	flushDue bool     // a non-blocking write left part of a frame: the writer finishes it
	queue    queue    // frames waiting for the writer
	out      *outConn // this package's writes
	cfg      *Config

	ws      *websocket.Conn // reads (and gorilla's own replies to a close or a protocol error)
	ctx     context.Context // ends the connection
	onSlow  func()
	onClose func()

	// Also under mu:
	closeCode int
	closeText string
	room      chan struct{} // capacity 1: the writer took messages off the queue
	// The writer runs only while there is something to write (see
	// signal): an idle connection has no goroutine but its reader.
	pingDue  bool        // the ping timer fired: the writer pings
	pongDue  bool        // the client pinged: the writer answers with pong
	pongData []byte      // what the last ping carried
	ping     *time.Timer // PingPeriod after the last ping
	stalled  *time.Timer // WriteWait/2 into a write: too slow (the writer's)
	stopCtx  func() bool // unregisters the signal on ctx's end
}

// Accept answers the WebSocket handshake of r. When it fails the upgrader
// has answered with the reason.
func (c *Conn) Accept(u *Upgrader, w http.ResponseWriter, r *http.Request) error {
	hw := &hijackWrapper{ResponseWriter: w}
	ws, err := u.u.Upgrade(hw, r, nil)
	if err != nil {
		return err
	}
	c.ws, c.out = ws, hw.conn
	return nil
}

// Reject closes an accepted connection that will not be started, telling
// the client why.
func (c *Conn) Reject(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.ws.Close()
}

// Start serves an accepted connection until ctx ends or the connection
// fails; then the writer says goodbye (1001 when ctx ended) and closes it,
// which ends Read too. onSlow is called once if the client is dropped for
// being too slow. onClose is called once, last, when the writer has closed
// the connection: no goroutine of the Conn's runs after it. The owner
// counts the writer as running from Start until onClose.
func (c *Conn) Start(ctx context.Context, cfg *Config, onSlow, onClose func()) {
	c.cfg, c.ctx, c.onSlow, c.onClose = cfg, ctx, onSlow, onClose
	c.room = make(chan struct{}, 1)
	c.ping = time.AfterFunc(cfg.PingPeriod, func() {
		c.mu.Lock()
		c.pingDue = true
		c.mu.Unlock()
		c.signal()
	})
	// The owner's context ending: the writer says goodbye and closes the
	// connection.
	c.stopCtx = context.AfterFunc(ctx, c.signal)

	c.ws.SetReadLimit(cfg.MaxFrame)
	_ = c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	// Pongs are written by the writer, in turn with everything else and
	// under its deadline (gorilla's own handler would write from the
	// reader).
	c.ws.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pongDue = true
		c.pongData = append(c.pongData[:0], data...)
		c.mu.Unlock()
		c.signal()
		return nil
	})
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(cfg.PongWait))
	})
}

// ErrTooLarge is Read's error for a frame over MaxFrame; the client has
// been sent 1009.
var ErrTooLarge = websocket.ErrReadLimit

// Read returns the next message from the client; text reports a text
// frame. A message, like a pong, shows the client is alive: it pushes back
// the deadline by which the connection must show a sign of life.
func (c *Conn) Read() (text bool, msg []byte, err error) {
	kind, msg, err := c.ws.ReadMessage()
	if err != nil {
		return false, nil, err
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.cfg.PongWait))
	return kind == websocket.TextMessage, msg, nil
}

// Enqueue sends one frame (see TextFrame). When nothing waits for the
// client it is written at once, without blocking; otherwise it is queued
// for the writer. A client whose queue would pass the limit is closed with
// 4008 instead: it never slows the caller. f must not change afterwards:
// it may be shared by many clients.
//
// Enqueue never waits on the network nor on a slow client: it takes c.mu,
// which nobody holds across a write that can block (tryWrite does not
// block, and the writer lets go of it before writing); tryWrite gives up
// rather than wait for outConn's lock, and holding that lock it is the
// socket's only writer. At worst Enqueue starts the writer goroutine.
func (c *Conn) Enqueue(f []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if !c.writing && c.queue.empty() {
		// No writer and nothing waiting: write it now. The write never
		// blocks, so holding mu across it is brief, and no writer can
		// start meanwhile.
		rest, err := c.out.tryWrite(f)
		switch {
		case err == nil && !rest:
			c.mu.Unlock()
			return
		case err == nil:
			c.flushDue = true // the writer finishes it
		case err == errWouldBlock:
			c.queue.push(f)
		default: // the connection failed: the writer ends it
			c.closing, c.closeCode = true, 0
		}
		c.mu.Unlock()
		c.signal()
		return
	}
	if c.queue.overflows(f, c.cfg.SendQueue) {
		c.mu.Unlock()
		c.tooSlow()
		return
	}
	c.queue.push(f)
	c.mu.Unlock()
	c.signal()
}

// tooSlow drops what waits for the client and has the writer close it
// with 4008.
func (c *Conn) tooSlow() {
	if c.Close(wsapi.CloseSlowClient, "too slow: the client did not read what it was sent in time; reconnect and resubscribe with since") {
		c.onSlow()
	}
}

// Close drops what waits for the client and has the writer close the
// connection with code and text. It does not wait. It reports false when
// the connection was already closing (the first reason stands).
func (c *Conn) Close(code int, text string) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	c.closing, c.closeCode, c.closeText = true, code, text
	c.queue.reset()
	c.mu.Unlock()
	c.signal()
	return true
}

// WaitRoom blocks until at most half the send queue is used, so a sender
// of a long backlog sends it at the pace the client takes it instead of
// overflowing the queue. A client that takes nothing for WriteWait is too
// slow and is closed with 4008, as one whose queue overflows. It returns
// false when the connection is closing or ctx ends.
func (c *Conn) WaitRoom(ctx context.Context) bool {
	stuck := time.NewTimer(c.cfg.WriteWait)
	defer stuck.Stop()
	for {
		c.mu.Lock()
		ok, closing := c.queue.size <= c.cfg.SendQueue/2, c.closing
		c.mu.Unlock()
		if closing {
			return false
		}
		if ok {
			return true
		}
		select {
		case <-c.room:
			stuck.Reset(c.cfg.WriteWait)
		case <-stuck.C:
			c.tooSlow()
			return false
		case <-ctx.Done():
			return false
		}
	}
}
