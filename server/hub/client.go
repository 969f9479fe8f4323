package hub

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

// maxFrameOut bounds a frame of coalesced messages, so clients with the
// usual 1 MiB read limits (Python's websockets) can take it.
const maxFrameOut = 512 << 10

var frameRoom [maxFrameHeader]byte

// framePool holds the buffers of coalesced frames (up to maxFrameOut).
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// Client is one WebSocket connection.
type Client struct {
	// What delivering a message touches comes first, together (see
	// enqueue): with many clients, each delivery's cache misses count.
	mu       sync.Mutex
	closing  bool     // no more enqueues; the writer closes the connection
	writing  bool     // a writer runs, or one closed the connection
	flushDue bool     // a non-blocking write left part of a frame: the writer finishes it
	queue    [][]byte // frames (see textFrame)
	queued   int      // bytes in queue
	out      *outConn // the hub's writes

	hub    *Hub
	conn   *websocket.Conn // reads (and gorilla's own replies to a close or a protocol error)
	id     string
	seq    uint64 // the order clients connected in
	remote string

	ctx    context.Context // ends when the client goes
	cancel context.CancelFunc
	calls  sync.WaitGroup // calls and catch-ups in flight

	// Also under mu:
	closeCode int
	closeText string
	room      chan struct{} // capacity 1: the writer took messages off the queue
	gone      bool          // set before calls.Wait: no more goCall
	// The writer runs only while there is something to write (see
	// signal): an idle connection has no goroutine but its reader.
	pingDue  bool        // the ping timer fired: the writer pings
	pongDue  bool        // the client pinged: the writer answers with pong
	pongData []byte      // what the last ping carried
	ping     *time.Timer // PingPeriod after the last ping
	stalled  *time.Timer // WriteWait/2 into a write: too slow (the writer's)
	stopCtx  func() bool // unregisters the signal on ctx's end

	// subs is read and written only while serving the client's frames,
	// one at a time (see readPump), and after that by remove; no lock.
	subs map[string]struct{}
}

func newClient(h *Hub, conn *websocket.Conn, out *outConn, id, remote string) *Client {
	ctx, cancel := context.WithCancel(h.ctx)
	c := &Client{hub: h, conn: conn, out: out, id: id, remote: remote, ctx: ctx, cancel: cancel,
		room: make(chan struct{}, 1), subs: map[string]struct{}{}}
	c.ping = time.AfterFunc(h.cfg.PingPeriod, func() {
		c.mu.Lock()
		c.pingDue = true
		c.mu.Unlock()
		c.signal()
	})
	// The hub closing or the reader ending: the writer says goodbye and
	// closes the connection.
	c.stopCtx = context.AfterFunc(ctx, c.signal)
	return c
}

// ID identifies the client in logs and in "cancelled by".
func (c *Client) ID() string { return c.id }

// Remote is the client's address.
func (c *Client) Remote() string { return c.remote }

// enqueue sends one frame (see textFrame). When nothing waits for the
// client it is written at once, without blocking; otherwise it is queued
// for the writer. A client whose queue would pass the limit is closed with
// 4008 instead: it never slows the caller. f must not change afterwards:
// it may be shared by many clients.
func (c *Client) enqueue(f []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if !c.writing && len(c.queue) == 0 {
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
			c.queue = append(c.queue, f)
			c.queued += len(f)
		default: // the connection failed: the writer ends it
			c.closing, c.closeCode = true, 0
		}
		c.mu.Unlock()
		c.signal()
		return
	}
	// One message larger than the whole queue still goes out alone.
	if c.queued > 0 && c.queued+len(f) > c.hub.cfg.SendQueue {
		c.mu.Unlock()
		c.tooSlow()
		return
	}
	c.queue = append(c.queue, f)
	c.queued += len(f)
	c.mu.Unlock()
	c.signal()
}

// tooSlow drops what waits for the client and has the writer close it
// with 4008.
func (c *Client) tooSlow() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing, c.closeCode = true, wsapi.CloseSlowClient
	c.closeText = "too slow: the client did not read what it was sent in time; reconnect and resubscribe with since"
	c.queue, c.queued = nil, 0
	c.mu.Unlock()
	c.hub.slow.Add(1)
	c.hub.log.Info("client too slow; disconnecting", "client_id", c.id)
	c.signal()
}

// signal makes sure a writer runs to write what is queued, ping, or close.
func (c *Client) signal() {
	c.mu.Lock()
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// write is the only writer of the connection while it runs (signal starts
// it; one at a time). It sends the queued messages, several at once as one
// JSON array frame when the client is behind, pings when the ping timer
// said so, and closes the connection when told to or when the client goes.
// With nothing left to do it returns: an idle connection costs no
// goroutine stack for its writer.
func (c *Client) write() {
	for {
		c.mu.Lock()
		switch {
		case c.closing:
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			c.finish(code, text, c.hub.cfg.WriteWait)
			return
		case c.ctx.Err() != nil:
			c.mu.Unlock()
			c.finish(wsapi.CloseGoingAway, "server shutting down", time.Second)
			return
		case c.pingDue:
			c.pingDue = false
			c.mu.Unlock()
			if err := c.writeFrame(pingFrame); err != nil {
				c.finish(0, "", 0)
				return
			}
			c.ping.Reset(c.hub.cfg.PingPeriod)
			continue
		case c.pongDue:
			c.pongDue = false
			f := controlFrame(opPong, c.pongData)
			c.mu.Unlock()
			if err := c.writeFrame(f); err != nil {
				c.finish(0, "", 0)
				return
			}
			continue
		case len(c.queue) == 0:
			if c.flushDue {
				c.flushDue = false
				c.mu.Unlock()
				if err := c.writeFrame(nil); err != nil {
					c.finish(0, "", 0)
					return
				}
				continue
			}
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.flushDue = false // writeFrame finishes what is pending first
		// Take as many messages as fit one frame.
		n, size := 1, len(framePayload(c.queue[0]))
		for n < len(c.queue) && size+len(framePayload(c.queue[n]))+1 <= maxFrameOut {
			size += len(framePayload(c.queue[n])) + 1
			n++
		}
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		for _, f := range batch {
			c.queued -= len(f)
		}
		if len(c.queue) == 0 {
			c.queue = nil // let the backing array go
		}
		c.mu.Unlock()
		select {
		case c.room <- struct{}{}:
		default:
		}

		var out []byte
		var frame *[]byte
		if n == 1 {
			out = batch[0]
		} else {
			// A pooled buffer: a client that once caught up on a burst
			// does not keep a frame's worth of memory while idle.
			frame = framePool.Get().(*[]byte)
			// Room for the header in front, written once the length is
			// known.
			out = append((*frame)[:0], frameRoom[:]...)
			out = append(out, '[')
			for i, f := range batch {
				if i > 0 {
					out = append(out, ',')
				}
				p := framePayload(f)
				if len(p) > 1 && p[0] == '[' { // already an array (see runFanout): its elements
					p = p[1 : len(p)-1]
				}
				out = append(out, p...)
			}
			out = append(out, ']')
			*frame = out
			var hb [maxFrameHeader]byte
			h := appendFrameHeader(hb[:0], opText, len(out)-maxFrameHeader)
			out = out[maxFrameHeader-len(h):]
			copy(out, h)
		}
		err := c.writeFrame(out)
		if frame != nil {
			framePool.Put(frame)
		}
		if err != nil {
			c.finish(0, "", 0)
			return
		}
	}
}

// writeFrame writes f (after what a non-blocking write left unfinished).
// A write that blocks for half the write deadline means the client
// stopped reading (its socket buffers are full): it is too slow even if
// its queue has room. The blocked write may still finish if the client
// reads again, and then it gets the 4008 close; if not, the deadline ends
// the connection. Only the writer calls it.
func (c *Client) writeFrame(f []byte) error {
	if c.stalled == nil {
		c.stalled = time.AfterFunc(c.hub.cfg.WriteWait/2, c.tooSlow)
	} else {
		c.stalled.Reset(c.hub.cfg.WriteWait / 2)
	}
	err := c.out.writeFrame(f, time.Now().Add(c.hub.cfg.WriteWait))
	c.stalled.Stop()
	return err
}

// finish sends a close frame (unless code is 0: the connection failed),
// closes the connection, which ends readPump too, and releases the
// client's timers. No writer runs after it.
func (c *Client) finish(code int, text string, wait time.Duration) {
	if code != 0 {
		_ = c.out.writeFrame(controlFrame(opClose, websocket.FormatCloseMessage(code, text)), time.Now().Add(wait))
	}
	c.conn.Close()
	c.cancel()
	c.stopCtx()
	c.ping.Stop()
	if c.stalled != nil {
		c.stalled.Stop()
	}
	c.mu.Lock()
	// writing stays true: signal starts no writer. Nothing more is queued.
	c.closing, c.queue, c.queued = true, nil, 0
	c.mu.Unlock()
	c.hub.wg.Done() // the writer's share of the client (see ServeHTTP)
}

// readPump reads frames until the connection fails, dispatching calls.
func (c *Client) readPump() {
	defer func() {
		c.cancel()
		c.mu.Lock()
		c.gone = true
		c.mu.Unlock()
		c.calls.Wait()
		c.hub.remove(c)
		c.hub.log.Debug("client disconnected", "client_id", c.id)
	}()
	c.conn.SetReadLimit(c.hub.cfg.MaxFrame)
	_ = c.conn.SetReadDeadline(time.Now().Add(c.hub.cfg.PongWait))
	// Pongs are written by the writer, in turn with everything else and
	// under its deadline (gorilla's own handler would write from here).
	c.conn.SetPingHandler(func(data string) error {
		c.mu.Lock()
		c.pongDue = true
		c.pongData = append(c.pongData[:0], data...)
		c.mu.Unlock()
		c.signal()
		return nil
	})
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(c.hub.cfg.PongWait))
	})
	sem := make(chan struct{}, c.hub.cfg.MaxInFlight)
	for {
		kind, msg, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.hub.log.Info("client sent a frame over the limit; closed with 1009", "client_id", c.id)
			}
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(c.hub.cfg.PongWait))
		// The frame is served on a goroutine of its own, waited for (so
		// calls are still taken in order): decoding and serving grow a
		// goroutine's stack, and this one stays parked in a read for the
		// connection's whole life, its stack with it.
		done := make(chan bool, 1)
		go func() { done <- c.serveFrame(kind, msg, sem) }()
		if !<-done {
			return
		}
	}
}

// serveFrame serves one frame from the client. It reports false when the
// client is going.
func (c *Client) serveFrame(kind int, msg []byte, sem chan struct{}) bool {
	if kind != websocket.TextMessage {
		c.reply(nil, nil, &rpcError{Code: wsapi.CodeInvalidRequest, Message: "send JSON-RPC requests as text frames"})
		return true
	}
	req, rerr := parseRequest(msg)
	if rerr != nil {
		c.reply(req.idOrNull(), nil, rerr)
		return true
	}
	// Subscriptions change c.subs: served in order, one frame at a time.
	switch req.Method {
	case wsapi.MethodSubscribe:
		c.subscribe(req)
		return true
	case wsapi.MethodUnsubscribe:
		c.unsubscribe(req)
		return true
	}
	select {
	case sem <- struct{}{}:
	case <-c.ctx.Done():
		return false
	}
	c.goCall(func() {
		defer func() { <-sem }()
		res, err := c.hub.backend.Call(c.ctx, c, req.Method, req.Params)
		if req.ID == nil {
			return // a notification: no answer
		}
		if err != nil {
			var re *rpcError
			if !errors.As(err, &re) {
				code, text := c.hub.backend.ErrorCode(err)
				re = &rpcError{Code: code, Message: text}
			}
			c.reply(req.ID, nil, re)
			return
		}
		c.reply(req.ID, res, nil)
	})
	return true
}

// waitRoom blocks until at most half the send queue is used, so a reader
// of a long backlog sends it at the pace the client takes it instead of
// overflowing the queue. A client that takes nothing for WriteWait is too
// slow and is closed with 4008, as one whose queue overflows. It returns
// false when the client is gone.
func (c *Client) waitRoom(ctx context.Context) bool {
	stuck := time.NewTimer(c.hub.cfg.WriteWait)
	defer stuck.Stop()
	for {
		c.mu.Lock()
		ok, closing := c.queued <= c.hub.cfg.SendQueue/2, c.closing
		c.mu.Unlock()
		if closing {
			return false
		}
		if ok {
			return true
		}
		select {
		case <-c.room:
			stuck.Reset(c.hub.cfg.WriteWait)
		case <-stuck.C:
			c.tooSlow()
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// goCall runs f on a goroutine the client waits for before it is removed.
// After the client is gone it does nothing and reports false.
func (c *Client) goCall(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	c.calls.Add(1)
	go func() {
		defer c.calls.Done()
		f()
	}()
	return true
}

func (c *Client) reply(id json.RawMessage, result any, rerr *rpcError) {
	msg, err := encodeResponse(id, result, rerr)
	if err != nil {
		c.hub.log.Error("response not encoded", "client_id", c.id, "err", err)
		msg, _ = encodeResponse(id, nil, &rpcError{Code: wsapi.CodeInternal, Message: "internal error: " + err.Error()})
	}
	c.enqueue(textFrame(msg))
}
