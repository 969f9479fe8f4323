// Package client is a Go client of crawlhub's WebSocket API: JSON-RPC 2.0
// calls, channel subscriptions, and followers of a task's log and items
// that reconnect and resume with "since" so no line or item is missed or
// repeated. The command-line clients (crawlhub logs, crawlhub run
// --follow, crawlhub items) use it. The API's names
// and shapes (methods, channels, codes, LogData) are package wsapi's.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Error is a JSON-RPC error answered by the server.
type Error = wsapi.Error

// Publication is one notification on a subscribed channel; decode its
// Data by channel (wsapi.LogData on a task's log).
type Publication = wsapi.Publication[json.RawMessage]

// Conn is one connection. Calls are safe for concurrent use;
// publications arrive on Publications() until the connection ends.
type Conn struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	nextID atomic.Int64

	mu      sync.Mutex
	waiting map[int64]chan *message
	err     error // why the connection ended

	pubs chan Publication
	done chan struct{}
}

type message struct {
	ID     *int64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
}

// Dial connects to a server. base is its HTTP URL (http://host:port); the
// token goes in the Authorization header.
func Dial(ctx context.Context, base, token string) (*Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("server url %q: %w", base, err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/ws"
	u.RawQuery = ""
	h := http.Header{"Authorization": {"Bearer " + token}}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil {
			var e struct {
				Message string `json:"message"`
			}
			buf := new(bytes.Buffer)
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			if json.Unmarshal(buf.Bytes(), &e) == nil && e.Message != "" {
				return nil, fmt.Errorf("connect to %s: %s (HTTP %d)", u.Host, e.Message, resp.StatusCode)
			}
		}
		return nil, fmt.Errorf("connect to %s: %w", u.Host, err)
	}
	ws.SetReadLimit(-1)
	// gorilla's default answers a ping with a 1 s write deadline and ends
	// the connection if that fails; a busy machine can miss it. A missed
	// pong is the server's business (it closes dead connections itself).
	ws.SetPingHandler(func(m string) error {
		_ = ws.WriteControl(websocket.PongMessage, []byte(m), time.Now().Add(10*time.Second))
		return nil
	})
	c := &Conn{ws: ws, waiting: map[int64]chan *message{}, pubs: make(chan Publication, 1024), done: make(chan struct{})}
	go c.read()
	return c, nil
}

// Publications delivers the notifications of subscribed channels, in
// order. It is closed when the connection ends; Err then says why. Read it
// steadily: a client that does not keep up is disconnected by the server.
func (c *Conn) Publications() <-chan Publication { return c.pubs }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (a *websocket.CloseError for a close
// frame, e.g. wsapi.CloseSlowClient for a client too slow).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.wmu.Lock()
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(wsapi.CloseNormal, ""))
	c.wmu.Unlock()
	return c.ws.Close()
}

func (c *Conn) read() {
	defer func() {
		close(c.pubs)
		close(c.done)
		c.mu.Lock()
		for id, w := range c.waiting {
			close(w)
			delete(c.waiting, id)
		}
		c.mu.Unlock()
	}()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		data = bytes.TrimSpace(data)
		var msgs []message
		if len(data) > 0 && data[0] == '[' {
			// The server coalesces queued messages into one array frame.
			err = json.Unmarshal(data, &msgs)
		} else {
			var m message
			err = json.Unmarshal(data, &m)
			msgs = []message{m}
		}
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("malformed frame from server: %w", err)
			c.mu.Unlock()
			c.ws.Close()
			return
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Method == wsapi.MethodPublish {
				var p Publication
				if json.Unmarshal(m.Params, &p) == nil {
					c.pubs <- p
				}
				continue
			}
			if m.ID == nil {
				continue
			}
			c.mu.Lock()
			w := c.waiting[*m.ID]
			delete(c.waiting, *m.ID)
			c.mu.Unlock()
			if w != nil {
				w <- m
			}
		}
	}
}

// Call makes one call and decodes its result into out (may be nil).
func (c *Conn) Call(ctx context.Context, method string, params, out any) error {
	id := c.nextID.Add(1)
	w := make(chan *message, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("connection closed: %w", err)
	}
	c.waiting[id] = w
	c.mu.Unlock()
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	err = c.ws.WriteMessage(websocket.TextMessage, req)
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case m, ok := <-w:
		if !ok {
			return fmt.Errorf("connection closed: %w", c.Err())
		}
		if m.Error != nil {
			return m.Error
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiting, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Subscribe subscribes to a channel (see wsapi's channels); since (>= 0)
// applies to a task's log and items.
func (c *Conn) Subscribe(ctx context.Context, channel string, since int64) error {
	p := wsapi.SubscribeParams{Channel: channel}
	if since > 0 {
		p.Since = &since
	}
	return c.Call(ctx, wsapi.MethodSubscribe, p, nil)
}

// ErrFollowGap is returned when the server sent lines or items that do not
// follow the previous ones: it would be a server bug, reported rather than
// hidden.
var ErrFollowGap = errors.New("entries out of order")
