package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"
)

// The bare server is the ceiling: gorilla/websocket's chat example and
// nothing else. One reader and one writer goroutine per connection,
// pooled 1 KiB buffers, a channel per client that the writer drains
// (several queued messages in one frame, newline-separated, as the chat
// example does), and messages from one Redis channel broadcast to every
// connection. No protocol, no auth, no subscriptions: what is left of a
// hub when everything a hub does beyond moving bytes is taken away.
const (
	bareWriteWait  = 10 * time.Second
	barePongWait   = 60 * time.Second
	barePingPeriod = (barePongWait * 9) / 10 // must be under barePongWait
	bareSendQueue  = 256
)

type bareHub struct {
	mu      sync.RWMutex
	clients map[*bareClient]struct{}
}

type bareClient struct {
	conn *websocket.Conn
	send chan []byte   // never closed, so a send never panics
	quit chan struct{} // closed once: the writer closes the connection
	once sync.Once
}

func (c *bareClient) close() { c.once.Do(func() { close(c.quit) }) }

var bareUpgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	WriteBufferPool: &sync.Pool{},
	CheckOrigin:     func(*http.Request) bool { return true },
}

func (h *bareHub) serve(w http.ResponseWriter, r *http.Request) {
	conn, err := bareUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &bareClient{conn: conn, send: make(chan []byte, bareSendQueue), quit: make(chan struct{})}
	h.mu.Lock()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	go c.writePump()
	go c.readPump(h)
}

func (h *bareHub) broadcast(msg []byte) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.clients {
		select {
		case c.send <- msg:
		default:
			c.close() // too slow: the writer closes the connection
		}
	}
}

func (c *bareClient) readPump(h *bareHub) {
	defer func() {
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
		c.close()
		c.conn.Close()
	}()
	c.conn.SetReadLimit(64 << 10)
	_ = c.conn.SetReadDeadline(time.Now().Add(barePongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(barePongWait)) })
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(barePongWait))
		// The one "protocol" message: a subscription, echoed as its ack.
		select {
		case c.send <- msg:
		default:
		}
	}
}

func (c *bareClient) writePump() {
	ticker := time.NewTicker(barePingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case <-c.quit:
			_ = c.conn.SetWriteDeadline(time.Now().Add(bareWriteWait))
			_ = c.conn.WriteMessage(websocket.CloseMessage, []byte{})
			return
		case msg := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(bareWriteWait))
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			_, _ = w.Write(msg)
			for n := len(c.send); n > 0; n-- {
				m := <-c.send
				_, _ = w.Write([]byte{'\n'})
				_, _ = w.Write(m)
			}
			if err := w.Close(); err != nil {
				return
			}
		case <-ticker.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(bareWriteWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// The write floor is the least a server can do per delivery: each
// message framed once, then one write(2) of those bytes per client, the
// writes spread over the processors when there are many clients (as
// crawlhub's hub does), straight from the goroutine that reads Redis. No
// queue, no writer goroutine, no deadline, no slow-client handling: not a
// server to run, a measure of what the kernel's loopback TCP and the
// clients allow.
type floorHub struct {
	mu      sync.Mutex
	clients []*floorClient // replaced, never changed in place
}

type floorClient struct {
	mu   sync.Mutex // the ack (reader) and broadcasts
	conn net.Conn
}

func (c *floorClient) write(f []byte) {
	c.mu.Lock()
	_, _ = c.conn.Write(f)
	c.mu.Unlock()
}

func (h *floorHub) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := bareUpgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &floorClient{conn: ws.NetConn()}
	h.mu.Lock()
	h.clients = append(slices.Clone(h.clients), c)
	h.mu.Unlock()
	go func() {
		defer func() {
			h.mu.Lock()
			h.clients = slices.DeleteFunc(slices.Clone(h.clients), func(x *floorClient) bool { return x == c })
			h.mu.Unlock()
			ws.Close()
		}()
		for {
			_, msg, err := ws.ReadMessage()
			if err != nil {
				return
			}
			c.write(floorFrame(msg)) // the subscription's ack
		}
	}()
}

func (h *floorHub) broadcast(msg []byte) {
	f := floorFrame(msg)
	h.mu.Lock()
	cs := h.clients
	h.mu.Unlock()
	k := min(runtime.GOMAXPROCS(0), len(cs)/50)
	if k <= 1 {
		for _, c := range cs {
			c.write(f)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(cs) + k - 1) / k
	for i := per; i < len(cs); i += per {
		part := cs[i:min(i+per, len(cs))]
		wg.Go(func() {
			for _, c := range part {
				c.write(f)
			}
		})
	}
	for _, c := range cs[:per] {
		c.write(f)
	}
	wg.Wait()
}

// floorFrame is msg as one unmasked text frame.
func floorFrame(msg []byte) []byte {
	f := make([]byte, 0, 10+len(msg))
	switch n := len(msg); {
	case n <= 125:
		f = append(f, 0x81, byte(n))
	case n <= 0xffff:
		f = binary.BigEndian.AppendUint16(append(f, 0x81, 126), uint16(n))
	default:
		f = binary.BigEndian.AppendUint64(append(f, 0x81, 127), uint64(n))
	}
	return append(f, msg...)
}

// BareMain is the "bare-server" command: bare-server --listen ADDR --redis
// URL --channel NAME [--floor true]. It serves /ws until SIGTERM; with
// --floor it is the write floor instead of the bare gorilla server.
func BareMain(args []string) error {
	listen, redisURL, channel, floor := "127.0.0.1:0", "", "bench", false
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--listen":
			listen = args[i+1]
		case "--redis":
			redisURL = args[i+1]
		case "--channel":
			channel = args[i+1]
		case "--floor":
			floor = args[i+1] == "true"
		default:
			return fmt.Errorf("bare-server: unknown flag %q", args[i])
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	h := &bareHub{clients: map[*bareClient]struct{}{}}
	fh := &floorHub{}
	serve, broadcast := h.serve, h.broadcast
	if floor {
		serve, broadcast = fh.serve, fh.broadcast
	}
	if redisURL != "" {
		opt, err := redis.ParseURL(redisURL)
		if err != nil {
			return err
		}
		rc := redis.NewClient(opt)
		defer rc.Close()
		ps := rc.Subscribe(ctx, channel)
		if _, err := ps.Receive(ctx); err != nil {
			return fmt.Errorf("bare-server: subscribe: %w", err)
		}
		go func() {
			for {
				m, err := ps.ReceiveMessage(ctx)
				if err != nil {
					return
				}
				broadcast([]byte(m.Payload))
			}
		}()
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", serve)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Close() }()
	fmt.Fprintln(os.Stderr, "bare server on", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
