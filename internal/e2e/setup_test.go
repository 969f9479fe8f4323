package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

const token = "e2e-token"

// testLog logs everything to stderr with E2E_LOG set; otherwise it keeps
// warnings and errors and prints them if the test fails.
func testLog(t *testing.T) *slog.Logger {
	if os.Getenv("E2E_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("warnings logged:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil // enough to diagnose
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is masters and agents running in this test process.
type env struct {
	t       *testing.T
	ctx     context.Context
	masters []*server.Server
	agents  []*agent.Agent
	stores  []store.Store
	wg      sync.WaitGroup
	stop    func() // ends every master and agent and waits for them; idempotent

	sendQueue int // per-client send queue of the masters; zero: default
}

func (e *env) base(i int) string { return "http://" + e.masters[i].Addr() }

func newEnv(t *testing.T) *env {
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx}
	e.stop = func() {
		cancel()
		e.wg.Wait()
	}
	t.Cleanup(func() {
		e.stop()
		for _, st := range e.stores {
			st.Close(context.Background())
		}
	})
	return e
}

// tempDir is a directory removed after the test, once the masters and
// agents have stopped writing to it: cleanups run last-registered first,
// so the stop is registered after the directory.
func (e *env) tempDir() string {
	dir := e.t.TempDir()
	e.t.Cleanup(e.stop)
	return dir
}

func (e *env) startMaster(st store.Store, connect func(bus.Handler) (bus.Bus, error)) *server.Server {
	e.t.Helper()
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Log: testLog(e.t), SendQueue: e.sendQueue}, st, connect)
	if err != nil {
		e.t.Fatal(err)
	}
	e.masters = append(e.masters, s)
	e.wg.Go(func() { s.Run(e.ctx) })
	return s
}

func (e *env) startAgent(name string, st store.Store, connect func(bus.Handler) (bus.Bus, error)) *agent.Agent {
	e.t.Helper()
	a, err := agent.New(agent.Config{Name: name, DataDir: e.tempDir(),
		PollInterval: time.Second, CancelGrace: time.Second, Concurrency: 4, Log: testLog(e.t)}, st, connect)
	if err != nil {
		e.t.Fatal(err)
	}
	e.agents = append(e.agents, a)
	e.wg.Go(func() { a.Run(e.ctx) })
	return a
}

// allInOne is the embedded default: one master, one agent, the in-process
// bus and SQLite.
func allInOne(t *testing.T, opts ...func(*env)) *env {
	e := newEnv(t)
	for _, o := range opts {
		o(e)
	}
	st, err := sqlite.Open(context.Background(), e.tempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.stores = append(e.stores, st)
	hub := bus.NewMemoryBroker()
	connect := func(h bus.Handler) (bus.Bus, error) { return hub.Connect(h), nil }
	e.startMaster(st, connect)
	e.startAgent("solo", st, connect)
	e.waitNodes(0, 1)
	return e
}

// cluster is masters and agents on a real Redis and the Mongo-compatible
// test server, each with its own connections.
func cluster(t *testing.T, masters int, agents ...string) *env {
	return clusterOn(t, testenv.StartRedis(t).URL, masters, agents...)
}

// redisCluster is cluster on a three-master Redis Cluster: the per-node
// and per-task channels on sharded PubSub.
func redisCluster(t *testing.T, masters int, agents ...string) *env {
	return clusterOn(t, testenv.StartRedisCluster(t).URL, masters, agents...)
}

func clusterOn(t *testing.T, redisURL string, masters int, agents ...string) *env {
	e := newEnv(t)
	uri := testenv.MongoURIs(t)[0].URI
	db := testenv.UniqueDB(t)
	open := func() store.Store {
		st, err := mongo.Open(context.Background(), uri, db)
		if err != nil {
			t.Fatal(err)
		}
		e.stores = append(e.stores, st)
		return st
	}
	connect := func(h bus.Handler) (bus.Bus, error) {
		return bus.NewRedis(context.Background(), redisURL, h, testLog(t))
	}
	for range masters {
		e.startMaster(open(), connect)
	}
	for _, name := range agents {
		e.startAgent(name, open(), connect)
	}
	e.waitNodes(0, len(agents))
	return e
}

func (e *env) waitNodes(master, n int) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var l struct {
			Items []store.Node `json:"items"`
		}
		e.get(master, "/api/nodes", &l)
		online := 0
		for _, n := range l.Items {
			if n.Status == store.NodeOnline {
				online++
			}
		}
		if online == n {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d of %d nodes online", online, n)
		}
		time.Sleep(50 * time.Millisecond) // another process's state, seen only through the API
	}
}

func (e *env) do(master int, method, path, contentType string, body io.Reader, out any) int {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base(master)+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (e *env) get(master int, path string, out any) { e.do(master, "GET", path, "", nil, out) }

func (e *env) spider(name, script string) store.Spider {
	e.t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("run.sh")
	w.Write([]byte(script))
	zw.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	mw.WriteField("command", "sh run.sh")
	fw, _ := mw.CreateFormFile("file", "s.zip")
	fw.Write(buf.Bytes())
	mw.Close()
	var sp store.Spider
	e.do(0, "POST", "/api/spiders", mw.FormDataContentType(), &body, &sp)
	return sp
}

func (e *env) run(master int, req map[string]any) []store.Task {
	e.t.Helper()
	b, _ := json.Marshal(req)
	var l struct {
		Items []store.Task `json:"items"`
	}
	e.do(master, "POST", "/api/tasks", "application/json", bytes.NewReader(b), &l)
	return l.Items
}

func (e *env) dial(master int) *client.Conn {
	e.t.Helper()
	c, err := client.Dial(context.Background(), e.base(master), token)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// lineText is what the test spiders print as line n.
func lineText(n int64) string { return fmt.Sprintf("line %d", n) }
