package hub

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Client is one WebSocket connection.
type Client struct {
	// The connection first: what delivering a message touches then sits
	// at the start of the Client (see wsconn.Conn).
	conn wsconn.Conn

	hub       *Hub
	id        string
	seq       uint64 // the order clients connected in
	remote    string
	principal auth.Principal // who the connection acts as, for its whole life
	addr      string         // the client address the connection caps count
	// expiry closes the connection when its credential expires; nil for
	// one that never does. Stopped when the client goes.
	expiry *time.Timer

	ctx    context.Context // ends when the client goes
	cancel context.CancelFunc
	calls  sync.WaitGroup // calls and catch-ups in flight

	mu   sync.Mutex // guards gone
	gone bool       // set before calls.Wait: no more goCall

	// subs is read and written only while serving the client's frames,
	// one at a time (see readPump), and after that by remove; no lock.
	subs map[string]struct{}
}

// ID identifies the client in logs and in "cancelled by".
func (c *Client) ID() string { return c.id }

// Remote is the client's address.
func (c *Client) Remote() string { return c.remote }

// Principal is who the client acts as: what it authenticated with when it
// connected.
func (c *Client) Principal() auth.Principal { return c.principal }

// tooSlow is told by the connection that it dropped the client.
func (c *Client) tooSlow() {
	c.hub.slow.Add(1)
	c.hub.log.Info("client too slow; disconnecting", "client_id", c.id)
}

// closed is told by the connection that its writer closed it: the client
// goes, and the writer's share of the hub's wait group is given back (see
// ServeHTTP).
func (c *Client) closed() {
	c.cancel()
	c.hub.wg.Done()
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
	sem := make(chan struct{}, c.hub.cfg.MaxInFlight)
	for {
		text, msg, err := c.conn.Read()
		if err != nil {
			if errors.Is(err, wsconn.ErrTooLarge) {
				c.hub.log.Info("client sent a frame over the limit; closed with 1009", "client_id", c.id)
			}
			return
		}
		// The frame is served on a goroutine of its own, waited for (so
		// calls are still taken in order): decoding and serving grow a
		// goroutine's stack, and this one stays parked in a read for the
		// connection's whole life, its stack with it.
		done := make(chan bool, 1)
		go func() { done <- c.serveFrame(text, msg, sem) }()
		if !<-done {
			return
		}
	}
}

// serveFrame serves one frame from the client. It reports false when the
// client is going.
func (c *Client) serveFrame(text bool, msg []byte, sem chan struct{}) bool {
	if !text {
		c.reply(nil, nil, &rpcError{Code: wsapi.CodeInvalidRequest, Message: "send JSON-RPC requests as text frames"})
		return true
	}
	req, rerr := parseRequest(msg)
	if rerr != nil {
		c.reply(req.idOrNull(), nil, rerr)
		return true
	}
	if c.hub.cfg.Observe != nil {
		req.start = time.Now()
	}
	if authz := c.hub.cfg.Authorize; authz != nil {
		if err := authz(c.principal, req.Method); err != nil {
			rerr := c.hub.rpcError(err)
			c.observe(req, rerr)
			if req.ID != nil {
				c.reply(req.ID, nil, rerr)
			}
			return true
		}
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
		var rerr *rpcError
		if err != nil {
			rerr = c.hub.rpcError(err)
		}
		c.observe(req, rerr)
		if req.ID == nil {
			return // a notification: no answer
		}
		if rerr != nil {
			c.reply(req.ID, nil, rerr)
			return
		}
		c.reply(req.ID, res, nil)
	})
	return true
}

// rpcError is err as a JSON-RPC error: as it is when it is one, else
// mapped by the backend.
func (h *Hub) rpcError(err error) *rpcError {
	var re *rpcError
	if !errors.As(err, &re) {
		code, text := h.backend.ErrorCode(err)
		re = &rpcError{Code: code, Message: text}
	}
	return re
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

// answer replies to req and tells Config.Observe.
func (c *Client) answer(req *request, result any, rerr *rpcError) {
	c.observe(req, rerr)
	c.reply(req.ID, result, rerr)
}

// observe tells Config.Observe how req went.
func (c *Client) observe(req *request, rerr *rpcError) {
	obs := c.hub.cfg.Observe
	if obs == nil {
		return
	}
	code := 0
	if rerr != nil {
		code = rerr.Code
	}
	obs(req.Method, code, time.Since(req.start))
}

func (c *Client) reply(id json.RawMessage, result any, rerr *rpcError) {
	msg, err := encodeResponse(id, result, rerr)
	if err != nil {
		c.hub.log.Error("response not encoded", "client_id", c.id, "err", err)
		msg, _ = encodeResponse(id, nil, &rpcError{Code: wsapi.CodeInternal, Message: "internal error: " + err.Error()})
	}
	c.conn.Enqueue(wsconn.TextFrame(msg))
}
