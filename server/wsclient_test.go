package server_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient is a raw JSON-RPC client over a real WebSocket, so scenarios
// can send exactly the frames they mean.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	nextID  int
	replies chan json.RawMessage
	pushes  chan push
	done    chan struct{} // closed when the reader returns
}

// push is one notification on a subscribed channel.
type push struct {
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
}

func (e *env) dial() *wsClient {
	e.t.Helper()
	c, code := e.dialURL(e.wsURL("/ws?token="+token), nil)
	if c == nil {
		e.t.Fatalf("WebSocket upgrade refused: %d", code)
	}
	return c
}

func (e *env) wsURL(path string) string { return "ws" + strings.TrimPrefix(e.base, "http") + path }

// dialURL opens a WebSocket; a refused upgrade returns nil and the status.
func (e *env) dialURL(url string, h http.Header) (*wsClient, int) {
	e.t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		if resp == nil {
			e.t.Fatal(err)
		}
		resp.Body.Close()
		return nil, resp.StatusCode
	}
	resp.Body.Close()
	c := &wsClient{t: e.t, conn: conn, replies: make(chan json.RawMessage, 16), pushes: make(chan push, 4096), done: make(chan struct{})}
	go c.read()
	e.t.Cleanup(func() {
		conn.Close()
		<-c.done
	})
	return c, resp.StatusCode
}

// read sorts frames into replies and pushes until the connection ends.
func (c *wsClient) read() {
	defer close(c.done)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		var m struct {
			Method string `json:"method"`
			Params push   `json:"params"`
		}
		if json.Unmarshal(msg, &m) == nil && m.Method == "publish" {
			select {
			case c.pushes <- m.Params:
			default:
				c.t.Errorf("more than %d pushes unread", cap(c.pushes))
				return
			}
			continue
		}
		// Calls are made one at a time, each taking its reply: more than
		// the buffer holds is a reply nobody asked for.
		select {
		case c.replies <- msg:
		default:
			c.t.Errorf("unexpected reply: %s", msg)
			return
		}
	}
}

// call sends one request with params (raw JSON, "" for none) and returns
// its reply.
func (c *wsClient) call(method, params string) string {
	c.t.Helper()
	c.nextID++
	req := `{"jsonrpc":"2.0","id":` + strconv.Itoa(c.nextID) + `,"method":"` + method + `"`
	if params != "" {
		req += `,"params":` + params
	}
	req += "}"
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(req)); err != nil {
		c.t.Fatal(err)
	}
	select {
	case r := <-c.replies:
		return string(r)
	case <-c.done:
		c.t.Fatalf("%s: connection closed before the reply", method)
	case <-time.After(wait):
		c.t.Fatalf("%s: no reply in %s", method, wait)
	}
	return ""
}

// subscribe subscribes to channel and fails the test unless it succeeds.
func (c *wsClient) subscribe(channel string) {
	c.t.Helper()
	if r := c.call("subscribe", `{"channel":"`+channel+`"}`); !strings.Contains(r, `"result"`) {
		c.t.Fatalf("subscribe %s: %s", channel, r)
	}
}

// expect waits for a push on channel whose data holds every fragment,
// skipping other pushes, and returns its data.
func (c *wsClient) expect(channel string, fragments ...string) []byte {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case p := <-c.pushes:
			if p.Channel == channel && containsAll(string(p.Data), fragments) {
				return p.Data
			}
		case <-c.done:
			c.t.Fatalf("connection closed while waiting for a push on %s with %q", channel, fragments)
		case <-deadline:
			c.t.Fatalf("no push on %s with %q in %s", channel, fragments, wait)
		}
	}
}

func containsAll(s string, fragments []string) bool {
	for _, f := range fragments {
		if !strings.Contains(s, f) {
			return false
		}
	}
	return true
}
