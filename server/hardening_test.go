package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// master is a crawlhub master alone (no agent) on a fresh SQLite store
// and an in-process bus, configured by the test.
type master struct {
	srv *server.Server
	st  store.Store
	log *logBuffer
}

func startMaster(t *testing.T, cfg server.Config) *master {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &master{log: &logBuffer{}}
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	m.st = st
	broker := bus.NewMemoryBroker()
	cfg.Listen, cfg.Token, cfg.Dist = "127.0.0.1:0", token, dist
	cfg.Log = slog.New(slog.NewTextHandler(m.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m.srv, err = server.New(cfg, st, func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { m.srv.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		st.Close(context.Background())
		if t.Failed() {
			t.Logf("log:\n%s", m.log)
		}
	})
	return m
}

// Every response carries the security headers, whatever answered it: an
// API handler, an API error, the dashboard, a health check. HSTS only
// under TLS.
func TestSecurityHeaders(t *testing.T) {
	m := startMaster(t, server.Config{})
	hc := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	defer hc.CloseIdleConnections()
	for _, tc := range []struct{ path, auth string }{
		{"/healthz", ""},
		{"/api/nodes", "Bearer " + token},
		{"/api/nodes", ""}, // 401
		{"/api/nothing", "Bearer " + token},
		{"/", ""},
		{"/assets/app-1a2b.js", ""},
		{"/ws", ""}, // 401 before any upgrade
	} {
		req, _ := http.NewRequest("GET", m.srv.URL()+tc.path, nil)
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		h := resp.Header
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s (%d): Content-Security-Policy %q", tc.path, resp.StatusCode, csp)
		}
		if v := h.Get("X-Content-Type-Options"); v != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q", tc.path, resp.StatusCode, v)
		}
		if v := h.Get("Referrer-Policy"); v != "no-referrer" {
			t.Errorf("GET %s (%d): Referrer-Policy %q", tc.path, resp.StatusCode, v)
		}
		if v := h.Get("Strict-Transport-Security"); v != "" {
			t.Errorf("GET %s over plain HTTP: Strict-Transport-Security %q", tc.path, v)
		}
	}
}

// The dashboard runs under the policy: its page has no inline script,
// no inline style and no event handler attribute (which the policy would
// block), and its own meta policy allows nothing the header does not.
func TestDashboardNeedsNoInline(t *testing.T) {
	b, err := os.ReadFile("../web/src/index.html")
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	lower := strings.ToLower(page)
	for i := 0; ; {
		j := strings.Index(lower[i:], "<script")
		if j < 0 {
			break
		}
		i += j
		end := strings.Index(lower[i:], ">")
		tag := lower[i : i+end+1]
		if !strings.Contains(tag, " src=") || !strings.HasPrefix(lower[i+end+1:], "</script>") {
			t.Errorf("an inline script: %s…", page[i:min(len(page), i+120)])
		}
		i += end
	}
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onerror=", "javascript:"} {
		if strings.Contains(lower, bad) {
			t.Errorf("the page has %q, which the Content-Security-Policy blocks", bad)
		}
	}
}

// With a certificate the server speaks HTTPS only: the API answers over
// HTTP/2 with HSTS, and the WebSocket works over wss.
func TestTLS(t *testing.T) {
	c := testenv.NewCert(t)
	cert, key, roots := c.CertFile, c.KeyFile, c.Roots
	m := startMaster(t, server.Config{TLSCert: cert, TLSKey: key})
	if !strings.HasPrefix(m.srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s: want https", m.srv.URL())
	}
	hc := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("GET", m.srv.URL()+"/api/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("GET /api/nodes: %d over %s: %s", resp.StatusCode, resp.Proto, body)
	}
	if v := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(v, "max-age=") {
		t.Errorf("Strict-Transport-Security %q under TLS", v)
	}

	// Plain HTTP to the TLS port gets nowhere.
	plain := &http.Client{Timeout: wait, Transport: &http.Transport{}}
	defer plain.CloseIdleConnections()
	if resp, err := plain.Get("http://" + m.srv.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS port")
		}
	}

	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: wait}
	conn, wresp, err := d.Dial("wss://"+m.srv.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	wresp.Body.Close()
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"nodes.list"}`))
	conn.SetReadDeadline(time.Now().Add(wait))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), `"result":{"items":`) {
		t.Fatalf("nodes.list over wss: %s, %v", msg, err)
	}
}

func TestTLSNeedsCertAndKey(t *testing.T) {
	cert := testenv.NewCert(t).CertFile
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	broker := bus.NewMemoryBroker()
	connect := func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil }
	for _, cfg := range []server.Config{
		{TLSCert: cert},
		{TLSCert: cert, TLSKey: cert}, // not a key
		{TLSCert: filepath.Join(t.TempDir(), "missing.pem"), TLSKey: cert},
	} {
		cfg.Listen, cfg.Token = "127.0.0.1:0", token
		if s, err := server.New(cfg, st, connect); err == nil {
			t.Errorf("%+v: a server started", cfg)
			s.Run(canceled())
		} else if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("%+v: the error does not say what is wrong: %v", cfg, err)
		}
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// dialWS opens /ws as from the client address xff (through a trusted
// proxy at 127.0.0.1, when the master trusts it), returning the
// connection or the refusal's status and body.
func dialWS(t *testing.T, m *master, xff string) (*websocket.Conn, int, string) {
	t.Helper()
	h := http.Header{"Authorization": {"Bearer " + token}}
	if xff != "" {
		h.Set("X-Forwarded-For", xff)
	}
	d := websocket.Dialer{HandshakeTimeout: wait}
	conn, resp, err := d.Dial("ws://"+m.srv.Addr()+"/ws", h)
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return nil, resp.StatusCode, string(b)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return conn, 101, ""
}

// waitClients waits until the hub has n clients (a closed connection
// leaves it when its reader sees the close).
func waitClients(t *testing.T, m *master, n int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for m.srv.Hub().Clients() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the hub has %d clients, want %d", m.srv.Hub().Clients(), n)
		}
		time.Sleep(5 * time.Millisecond) // the hub has no event for a client leaving
	}
}

// WebSocket connections are capped per client address (429) and in total
// (503), refused before the upgrade, and a connection that closes frees
// its place.
func TestWebSocketCaps(t *testing.T) {
	m := startMaster(t, server.Config{MaxWebSockets: 3, MaxWebSocketsPerAddress: 2,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	a1, _, _ := dialWS(t, m, "203.0.113.1")
	dialWS(t, m, "203.0.113.1")
	if c, status, body := dialWS(t, m, "203.0.113.1"); c != nil || status != http.StatusTooManyRequests || !strings.Contains(body, "--max-ws-per-address") {
		t.Fatalf("a third connection from one address: %d %q, want 429 naming --max-ws-per-address", status, body)
	}
	dialWS(t, m, "203.0.113.2")
	if c, status, body := dialWS(t, m, "203.0.113.3"); c != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "--max-ws") {
		t.Fatalf("a fourth connection in all: %d %q, want 503 naming --max-ws", status, body)
	}
	// The hub counts a client once its upgrade has been answered and it is
	// registered, which may come a moment after the dialler sees the 101.
	waitClients(t, m, 3)
	a1.Close()
	waitClients(t, m, 2)
	if c, status, body := dialWS(t, m, "203.0.113.1"); c == nil {
		t.Fatalf("after one closed, the address could not connect again: %d %q", status, body)
	}
}

// Without trusted proxies, X-Forwarded-For is the client's say-so and
// changes nothing: every connection from here counts as 127.0.0.1.
func TestWebSocketCapIgnoresUntrustedForwardedFor(t *testing.T) {
	m := startMaster(t, server.Config{MaxWebSocketsPerAddress: 2})
	dialWS(t, m, "203.0.113.1")
	dialWS(t, m, "203.0.113.2")
	if c, status, body := dialWS(t, m, "203.0.113.3"); c != nil || status != http.StatusTooManyRequests || !strings.Contains(body, "127.0.0.1") {
		t.Fatalf("a spoofed X-Forwarded-For got past the per-address cap: %d %q", status, body)
	}
}

// limit ≤ 0 is the default page (50) and more than 1,000 is 1,000, on
// the REST and the WebSocket API alike.
func TestListLimitsClamped(t *testing.T) {
	e := newEnv(t)
	tasks := make([]store.Task, 1001)
	now := store.Now()
	for i := range tasks {
		tasks[i] = store.Task{ID: store.NewID(), SpiderID: store.NewID(), Status: store.TaskFinished, Mode: "any", Created: now}
	}
	if _, err := e.st.Tasks().CreateMany(e.ctx, tasks); err != nil {
		t.Fatal(err)
	}
	var l struct {
		Items []json.RawMessage
		Total int
	}
	for q, want := range map[string]int{"limit=0": 50, "limit=-1": 50, "": 50, "limit=7": 7, "limit=5000": 1000} {
		e.do("GET", "/api/tasks?"+q, nil, &l)
		if len(l.Items) != want || l.Total != 1001 {
			t.Errorf("GET /api/tasks?%s: %d tasks of %d, want %d of 1001", q, len(l.Items), l.Total, want)
		}
	}
	c := e.dial()
	for limit, want := range map[int]int{0: 50, -1: 50, 7: 7, 5000: 1000} {
		r := c.call("tasks.list", fmt.Sprintf(`{"filter":{"limit":%d}}`, limit))
		var reply struct {
			Result struct{ Items []json.RawMessage }
		}
		if err := json.Unmarshal([]byte(r), &reply); err != nil || len(reply.Result.Items) != want {
			t.Errorf("tasks.list limit %d: %d tasks, want %d (%.200s)", limit, len(reply.Result.Items), want, r)
		}
	}
	if r := c.call("tasks.list", `{"filter":{"offset":-1}}`); !strings.Contains(r, `"error"`) {
		t.Errorf("tasks.list offset -1: %.200s, want an error", r)
	}
}

// longLine is line i of a log of long lines: 60 KB, numbered.
func longLine(i int) string { return fmt.Sprintf("%05d ", i) + strings.Repeat("x", 60_000) }

// A log of long lines is read in pages bounded in bytes, from the store
// (an ended task) and from the node (a running one): each page is well
// under Redis's limit for a subscriber, and paging from the end of each
// reads every line; a WebSocket subscriber gets every line, in order.
func TestLongLogLines(t *testing.T) {
	e := newEnv(t)
	const n = 200 // 12 MB of log
	lines := make([]string, n)
	for i := range lines {
		lines[i] = longLine(i)
	}
	now := store.Now()
	ended := store.Task{ID: store.NewID(), SpiderID: store.NewID(), Status: store.TaskFinished, Mode: "any",
		Created: now, Finished: now, LogLines: n}
	if err := e.st.Tasks().Create(e.ctx, &ended); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Logs().AppendLog(e.ctx, ended.ID, 0, lines); err != nil {
		t.Fatal(err)
	}
	// A running task that printed the same lines, read from its node.
	running := e.runningTaskOf(`i=0
while [ $i -lt 200 ]; do printf '%05d ' $i; head -c 60000 /dev/zero | tr '\0' x; echo; i=$((i+1)); done
sleep 600
`)
	e.tap.wait(func(env *wire.Envelope) bool {
		var b wire.LogBatch
		return env.Type == "log" && env.NodeID == running.ID && json.Unmarshal(env.Payload, &b) == nil && b.From+int64(len(b.Lines)) >= n
	})

	for _, id := range []string{ended.ID, running.ID} {
		var got []string
		pages := 0
		for int64(len(got)) < n {
			status, _, body := e.request("GET", fmt.Sprintf("/api/tasks/%s/log?from=%d&limit=10000", id, len(got)), "", nil, nil)
			var b wire.LogBatch
			if status != 200 || json.Unmarshal([]byte(body), &b) != nil {
				t.Fatalf("read from %d: %d %.200s", len(got), status, body)
			}
			if len(body) > wire.MaxReadBytes+4096 {
				t.Fatalf("a page of %d bytes, over the %d budget", len(body), wire.MaxReadBytes)
			}
			if len(b.Lines) == 0 || b.Total != n {
				t.Fatalf("read from %d: %d lines, total %d", len(got), len(b.Lines), b.Total)
			}
			got = append(got, b.Lines...)
			pages++
		}
		if pages < 3 {
			t.Errorf("12 MB of log in %d pages: the pages are not bounded in bytes", pages)
		}
		for i, l := range got {
			if l != lines[i] {
				t.Fatalf("task %s line %d: %.20s…, want %.20s…", id, i, l, lines[i])
			}
		}
	}

	// A subscriber catching up from line 0 gets them all, in order (and
	// the end, once the task has ended).
	followLongLog(t, e, ended.ID, lines, true)
	followLongLog(t, e, running.ID, lines, false)
}

func followLongLog(t *testing.T, e *env, taskID string, lines []string, ended bool) {
	t.Helper()
	n := len(lines)
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.base, "http")+"/ws?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()
	conn.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"task:`+taskID+`:log","since":0}}`))
	next := 0
	conn.SetReadDeadline(time.Now().Add(wait))
	for ended || next < n {
		_, frame, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d of %d lines: %v", next, n, err)
		}
		// A frame is one message, or several in an array.
		var msgs []json.RawMessage
		if frame[0] != '[' {
			msgs = []json.RawMessage{frame}
		} else if err := json.Unmarshal(frame, &msgs); err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			var m struct {
				Method string
				Params struct {
					Data struct {
						From  int
						Lines []string
						End   bool
						Total int
					}
				}
			}
			if err := json.Unmarshal(msg, &m); err != nil {
				t.Fatal(err)
			}
			if m.Method != "publish" {
				continue // the subscribe's reply
			}
			d := m.Params.Data
			if d.End {
				if next != n || d.Total != n {
					t.Fatalf("the end (total %d) after %d of %d lines", d.Total, next, n)
				}
				return
			}
			if d.From != next {
				t.Fatalf("a batch from %d, want %d", d.From, next)
			}
			for _, l := range d.Lines {
				if l != lines[next] {
					t.Fatalf("line %d: %.20s…", next, l)
				}
				next++
			}
		}
	}
}
