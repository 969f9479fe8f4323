package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

const taskID = "0123456789abcdef01234567"

// fakeUpstream records bus subscriptions and can be made to fail.
type fakeUpstream struct {
	mu          sync.Mutex
	fail        error
	subs, unsub map[string]int
}

func (u *fakeUpstream) Subscribe(_ context.Context, chs ...string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.fail != nil {
		return u.fail
	}
	for _, c := range chs {
		u.subs[c]++
	}
	return nil
}

func (u *fakeUpstream) Unsubscribe(_ context.Context, chs ...string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, c := range chs {
		u.unsub[c]++
	}
	return nil
}

func (u *fakeUpstream) counts(ch string) (int, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.subs[ch], u.unsub[ch]
}

// backend serves a fixed log and fixed items for one task.
type backend struct {
	lines []string
	items []json.RawMessage
}

func (backend) Call(context.Context, *hub.Client, string, json.RawMessage) (any, error) {
	return nil, hub.Errorf(wsapi.CodeMethodNotFound, "no methods here")
}

func (b backend) ReadLog(_ context.Context, id string, from int64, limit int) (*wire.LogBatch, error) {
	end := min(int(from)+limit, len(b.lines))
	if int(from) > end {
		from = int64(end)
	}
	return &wire.LogBatch{TaskID: id, From: from, Lines: b.lines[from:end], Total: int64(len(b.lines))}, nil
}

func (b backend) ReadItems(_ context.Context, id string, from int64, limit int) (*wire.ItemBatch, error) {
	end := min(int(from)+limit, len(b.items))
	if int(from) > end {
		from = int64(end)
	}
	return &wire.ItemBatch{TaskID: id, From: from, Items: b.items[from:end], Total: int64(len(b.items))}, nil
}

func (b backend) TaskEnded(context.Context, string) (bool, string, error) {
	return false, "running", nil
}
func (backend) ErrorCode(err error) (int, string) { return wsapi.CodeInternal, err.Error() }

type conn struct {
	t  *testing.T
	ws *websocket.Conn
	id int
	// left holds messages that came in a frame after a call's reply.
	left []msg
}

func dial(t *testing.T, srv *httptest.Server) *conn {
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &conn{t: t, ws: ws}
}

type msg struct {
	ID     *int            `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Error  *struct {
		Code int `json:"code"`
	} `json:"error"`
}

// next reads one message, unpacking array frames.
func (c *conn) next(pending *[]msg) msg {
	c.t.Helper()
	if len(*pending) == 0 && len(c.left) > 0 {
		*pending, c.left = c.left, nil
	}
	for len(*pending) == 0 {
		c.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatal(err)
		}
		if b[0] == '[' {
			json.Unmarshal(b, pending)
		} else {
			var m msg
			json.Unmarshal(b, &m)
			*pending = append(*pending, m)
		}
	}
	m := (*pending)[0]
	*pending = (*pending)[1:]
	return m
}

func (c *conn) call(method, params string) *int {
	c.t.Helper()
	c.id++
	err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":`+itoa(c.id)+`,"method":"`+method+`","params":`+params+`}`))
	if err != nil {
		c.t.Fatal(err)
	}
	var p []msg
	for {
		m := c.next(&p)
		if m.ID != nil && *m.ID == c.id {
			// What came in the reply's frame after it (the server
			// coalesces) is for the next reads.
			c.left = p
			if m.Error != nil {
				return &m.Error.Code
			}
			return nil
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func newHub(t *testing.T, up *fakeUpstream, b hub.Backend) (*hub.Hub, *httptest.Server) {
	return startHub(t, hub.Config{}, up, b)
}

// startHub serves a hub with cfg (logging nowhere) until the test ends.
func startHub(t testing.TB, cfg hub.Config, up *fakeUpstream, b hub.Backend) (*hub.Hub, *httptest.Server) {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.MaxPerAddress == 0 {
		cfg.MaxPerAddress = 10000 // every test client is 127.0.0.1
	}
	if os.Getenv("HUB_LOG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	h, err := hub.New(cfg, b, up)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	return h, srv
}

func waitRefs(t *testing.T, h *hub.Hub, ch string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.UpstreamRefs(ch) != want {
		if time.Now().After(deadline) {
			t.Fatalf("upstream refs of %s = %d, want %d", ch, h.UpstreamRefs(ch), want)
		}
		time.Sleep(5 * time.Millisecond) // the hub releases on its own goroutine
	}
}

func TestUpstreamRefcountAndUndo(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}, fail: errors.New("redis down")}
	h, srv := newHub(t, up, backend{})
	ch := wire.LogChannel(taskID)
	params := `{"channel":"task:` + taskID + `:log"}`

	a := dial(t, srv)
	if code := a.call("subscribe", params); code == nil || *code != wsapi.CodeUnavailable {
		t.Fatalf("subscribe with the bus failing: %v, want %d", code, wsapi.CodeUnavailable)
	}
	if h.UpstreamRefs(ch) != 0 {
		t.Fatal("a failed upstream subscribe left a reference")
	}
	up.mu.Lock()
	up.fail = nil
	up.mu.Unlock()

	if code := a.call("subscribe", params); code != nil {
		t.Fatalf("subscribe: %d", *code)
	}
	b := dial(t, srv)
	if code := b.call("subscribe", params); code != nil {
		t.Fatalf("second client subscribe: %d", *code)
	}
	if s, _ := up.counts(ch); s != 1 {
		t.Fatalf("upstream subscribed %d times for two clients, want 1", s)
	}
	waitRefs(t, h, ch, 2)
	if code := a.call("unsubscribe", params); code != nil {
		t.Fatalf("unsubscribe: %d", *code)
	}
	if _, u := up.counts(ch); u != 0 {
		t.Fatal("unsubscribed upstream while a client remained")
	}
	b.ws.Close() // the last one leaves by disconnecting
	waitRefs(t, h, ch, 0)
	if _, u := up.counts(ch); u != 1 {
		t.Fatalf("upstream unsubscribed %d times, want 1", u)
	}
}

// TestBacklogThenLive: a subscriber gets the backlog, then live batches
// without duplicates, across overlaps.
func TestBacklogThenLive(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	lines := make([]string, 12000)
	for i := range lines {
		lines[i] = "l" + itoa(i)
	}
	h, srv := newHub(t, up, backend{lines: lines[:10000]})
	c := dial(t, srv)
	if code := c.call("subscribe", `{"channel":"task:`+taskID+`:log","since":3}`); code != nil {
		t.Fatalf("subscribe: %d", *code)
	}
	// Live batches overlapping the backlog's end, then new lines, then the end.
	for _, b := range []wire.LogBatch{
		{TaskID: taskID, From: 9990, Lines: lines[9990:10005]},
		{TaskID: taskID, From: 10005, Lines: lines[10005:12000]},
		{TaskID: taskID, From: 12000, Lines: []string{}, End: true, Status: "finished", Total: 12000},
	} {
		p, _ := json.Marshal(b)
		h.HandleLog(p)
	}
	next := int64(3)
	var pending []msg
	for {
		m := c.next(&pending)
		if m.Method != "publish" {
			continue
		}
		var p struct {
			Data struct {
				From  int64    `json:"from"`
				Lines []string `json:"lines"`
				End   bool     `json:"end"`
				Total int64    `json:"total"`
			} `json:"data"`
		}
		json.Unmarshal(m.Params, &p)
		if p.Data.End {
			if next != 12000 || p.Data.Total != 12000 {
				t.Fatalf("end at %d, total %d", next, p.Data.Total)
			}
			return
		}
		if p.Data.From != next {
			t.Fatalf("batch from %d, want %d", p.Data.From, next)
		}
		for i, l := range p.Data.Lines {
			if l != lines[next+int64(i)] {
				t.Fatalf("line %d = %q", next+int64(i), l)
			}
		}
		next += int64(len(p.Data.Lines))
	}
}

type endedBackend struct{ backend }

func (endedBackend) TaskEnded(context.Context, string) (bool, string, error) {
	return true, "finished", nil
}

// TestEndedLog: the reply comes first, then the lines, then the end with
// the log's real total, even for a since past it.
func TestEndedLog(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	_, srv := newHub(t, up, endedBackend{backend{lines: []string{"a", "b", "c"}}})
	for _, tc := range []struct {
		since int
		lines int
	}{{0, 3}, {2, 1}, {50, 0}} {
		c := dial(t, srv)
		err := c.ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"task:`+taskID+`:log","since":`+itoa(tc.since)+`}}`))
		if err != nil {
			t.Fatal(err)
		}
		var pending []msg
		if m := c.next(&pending); m.ID == nil || *m.ID != 1 || m.Error != nil {
			t.Fatalf("since %d: first message is not the reply: %+v", tc.since, m)
		}
		got := 0
		for {
			m := c.next(&pending)
			var p struct {
				Data struct {
					Lines []string `json:"lines"`
					End   bool     `json:"end"`
					Total int64    `json:"total"`
				} `json:"data"`
			}
			json.Unmarshal(m.Params, &p)
			if p.Data.End {
				if got != tc.lines || p.Data.Total != 3 {
					t.Fatalf("since %d: %d lines, end total %d; want %d lines, total 3", tc.since, got, p.Data.Total, tc.lines)
				}
				break
			}
			got += len(p.Data.Lines)
		}
	}
}

// TestDeadConnectionGone: a client that never answers pings is dropped
// after PongWait (60 s by default; shortened here).
func TestDeadConnectionGone(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	h, srv := startHub(t, hub.Config{PingPeriod: 50 * time.Millisecond, PongWait: 300 * time.Millisecond}, up, backend{})
	alive := dial(t, srv) // answers pings: it reads
	go func() {
		for {
			if _, _, err := alive.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	dead := dial(t, srv) // never reads, so never answers a ping
	_ = dead
	deadline := time.Now().Add(5 * time.Second)
	for h.Clients() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d clients connected, want only the live one", h.Clients())
		}
		time.Sleep(10 * time.Millisecond) // the hub drops it on its own clock
	}
	time.Sleep(500 * time.Millisecond) // longer than PongWait: the live one stays
	if h.Clients() != 1 {
		t.Fatal("the client answering pings was dropped")
	}
}

// A ping period the pong wait does not exceed would drop every client
// between two pings: New refuses it rather than serve that.
func TestNewRefusesPingPastPongWait(t *testing.T) {
	for _, cfg := range []hub.Config{
		{PingPeriod: time.Minute, PongWait: time.Minute},
		{PingPeriod: time.Minute},    // PongWait's default, 60 s
		{PongWait: 10 * time.Second}, // PingPeriod's default, 25 s
		{PingPeriod: -time.Second},
	} {
		if h, err := hub.New(cfg, backend{}, &fakeUpstream{}); err == nil {
			h.Close()
			t.Errorf("New accepted PingPeriod %v with PongWait %v", cfg.PingPeriod, cfg.PongWait)
		}
	}
	h, err := hub.New(hub.Config{PingPeriod: time.Second, PongWait: 2 * time.Second}, backend{}, &fakeUpstream{})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
}
