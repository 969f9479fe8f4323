package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// Server kinds a client can talk to.
const (
	KindCrawlhub   = "crawlhub"
	KindCentrifugo = "centrifugo"
	KindBare       = "bare"
	KindFloor      = "floor" // the write floor; its clients speak as to the bare server
)

// Sub says where a client connects and what it subscribes to.
type Sub struct {
	Kind    string
	URL     string // ws://host:port/path
	Channel string
	Since   int64 // crawlhub log channels: the first line wanted
	// Source is the loopback address the client connects from; empty
	// means the system's choice (127.0.0.1). Each source address has its
	// own ~28,000 ephemeral ports towards one server address.
	Source string
}

// dialer is shared by every client: small buffers, a pooled write buffer,
// so that 10,000 idle clients cost the harness little.
var dialer = &websocket.Dialer{
	ReadBufferSize:   1024,
	WriteBufferSize:  1024,
	WriteBufferPool:  &sync.Pool{},
	HandshakeTimeout: 30 * time.Second,
	NetDialContext:   (&net.Dialer{Timeout: 30 * time.Second}).DialContext,
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h).
const ipBindAddressNoPort = 24

// sourceDialers are dialer's copies bound to a source address, by address.
var sourceDialers sync.Map

func dialerFor(source string) *websocket.Dialer {
	if source == "" {
		return dialer
	}
	if d, ok := sourceDialers.Load(source); ok {
		return d.(*websocket.Dialer)
	}
	d := *dialer
	d.NetDialContext = (&net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)},
		// The port is chosen at connect, for the whole 4-tuple, rather
		// than at bind, which searches the range for a port free on
		// every destination and slows as it fills.
		Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
			})
			return errors.Join(err, serr)
		}}).DialContext
	v, _ := sourceDialers.LoadOrStore(source, &d)
	return v.(*websocket.Dialer)
}

// Client is one subscribed WebSocket connection. Frames go to its handler
// on the client's one reader goroutine.
type Client struct {
	ws     *websocket.Conn
	kind   string
	handle func(frame []byte)
	done   chan struct{}
	err    error
}

var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// readFrame reads one whole frame into a pooled buffer; put it back with
// framePool.Put when done.
func readFrame(ws *websocket.Conn) (*[]byte, error) {
	_, r, err := ws.NextReader()
	if err != nil {
		return nil, err
	}
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = buf
			framePool.Put(bp)
			return nil, err
		}
	}
	*bp = buf
	return bp, nil
}

// Dial connects, subscribes and waits for the subscription to be
// confirmed. Frames that come before the confirmation go to handle too.
// The reader goroutine runs until the connection ends (Close, or the
// server closing it).
func Dial(ctx context.Context, s Sub, handle func(frame []byte)) (*Client, error) {
	var h http.Header
	if s.Kind == KindCrawlhub {
		h = http.Header{"Authorization": {"Bearer " + Token}}
	}
	ws, resp, err := dialerFor(s.Source).DialContext(ctx, s.URL, h)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("dial %s: %w (HTTP %d)", s.URL, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial %s: %w", s.URL, err)
	}
	c := &Client{ws: ws, kind: s.Kind, handle: handle, done: make(chan struct{})}
	if err := c.subscribe(ctx, s); err != nil {
		ws.Close()
		return nil, err
	}
	go c.read()
	return c, nil
}

func (c *Client) subscribe(ctx context.Context, s Sub) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(dl)
		defer c.ws.SetReadDeadline(time.Time{})
	}
	var ack []byte
	switch s.Kind {
	case KindCrawlhub:
		req := `{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"` + s.Channel + `"`
		if s.Since > 0 {
			req += `,"since":` + strconv.FormatInt(s.Since, 10)
		}
		req += `}}`
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
			return err
		}
		ack = []byte(`"id":1,`)
	case KindCentrifugo:
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{}}`)); err != nil {
			return err
		}
		if err := c.waitAck([]byte(`"id":1,`)); err != nil {
			return fmt.Errorf("centrifugo connect: %w", err)
		}
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":2,"subscribe":{"channel":"`+s.Channel+`"}}`)); err != nil {
			return err
		}
		ack = []byte(`"id":2,`)
	case KindBare:
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"subscribe":"`+s.Channel+`"}`)); err != nil {
			return err
		}
		ack = []byte(`"id":1,`)
	default:
		return fmt.Errorf("unknown server kind %q", s.Kind)
	}
	return c.waitAck(ack)
}

// waitAck reads frames until one holds ack, handing the others on.
func (c *Client) waitAck(ack []byte) error {
	for {
		bp, err := readFrame(c.ws)
		if err != nil {
			return err
		}
		f := *bp
		if i := bytes.Index(f, ack); i >= 0 {
			// A JSON-RPC error reply, or a Centrifugo error reply.
			if bytes.Contains(f[i:min(len(f), i+20)], []byte(`"error"`)) {
				err := fmt.Errorf("subscribe refused: %s", f)
				framePool.Put(bp)
				return err
			}
			if c.handle != nil && bytes.Contains(f, []byte(`~`)) {
				c.handle(f) // a coalesced frame may carry data with the reply
			}
			framePool.Put(bp)
			return nil
		}
		if c.handle != nil {
			c.handle(f)
		}
		framePool.Put(bp)
	}
}

func (c *Client) read() {
	defer close(c.done)
	for {
		bp, err := readFrame(c.ws)
		if err != nil {
			c.err = err
			return
		}
		f := *bp
		if c.kind == KindCentrifugo && isCentrifugoPing(f) {
			// Protocol-level ping: Centrifugo closes a client that does not
			// answer it. It may share its frame with publications (one
			// JSON object per line), which go to the handler too.
			_ = c.ws.WriteMessage(websocket.TextMessage, []byte(`{}`))
		}
		if c.handle != nil {
			c.handle(f)
		}
		framePool.Put(bp)
	}
}

func isCentrifugoPing(f []byte) bool {
	for line := range bytes.SplitSeq(f, []byte("\n")) {
		if string(bytes.TrimSpace(line)) == "{}" {
			return true
		}
	}
	return false
}

// Close closes the connection and waits for the reader.
func (c *Client) Close() {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
	<-c.done
}

// Done is closed when the reader has ended; Err then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the connection ended.
func (c *Client) Err() error { return c.err }

// CloseCode is the close code the server sent, or 0.
func (c *Client) CloseCode() int {
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return 0
}

// DialMany connects n clients, conc at a time, and returns them with how
// long it took. On error the clients connected so far are closed.
func DialMany(ctx context.Context, s Sub, n, conc int, handle func(i int) func([]byte)) ([]*Client, time.Duration, error) {
	clients := make([]*Client, n)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for range conc {
		wg.Go(func() {
			for i := range next {
				dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				var h func([]byte)
				if handle != nil {
					h = handle(i)
				}
				c, err := Dial(dctx, s, h)
				cancel()
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("client %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				clients[i] = c
			}
		})
	}
	for i := range n {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		CloseAll(clients)
		return nil, took, firstErr
	}
	return clients, took, nil
}

// CloseAll closes clients concurrently.
func CloseAll(clients []*Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range clients {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() { defer func() { <-sem }(); c.Close() })
	}
	wg.Wait()
}
