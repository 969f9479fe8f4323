package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// TestMain fails the run if a scenario leaves goroutines behind: the
// master, the agent, the store and every client must stop what they
// started.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const token = "scenario-token"

// wait bounds every wait on an event: long enough for a loaded machine
// running -race, short enough that a lost event fails the test quickly.
const wait = 15 * time.Second

// env is one all-in-one crawlhub in the test process: a master and an
// agent on the in-process bus and a fresh SQLite store, plus a tap on the
// bus that sees what the agent tells the masters.
type env struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	broker *bus.MemoryBroker
	srv    *server.Server
	agent  *agent.Agent
	base   string
	tap    *tap
	logs   *logBuffer
	hc     *http.Client
	vars   map[string]string // placeholders of a scenario: {spider}, {task}, …

	stopAgent func() // stops the agent as a user would, and waits for it
}

// dist is a built dashboard: an index and one content-hashed asset.
var dist = fstest.MapFS{
	"index.html":         {Data: []byte("<!doctype html><title>crawlhub dashboard</title>")},
	"assets/app-1a2b.js": {Data: []byte("console.log('crawlhub')")},
}

// newEnv starts the crawlhub; opts change the master's configuration.
func newEnv(t *testing.T, opts ...func(*server.Config)) *env {
	t.Helper()
	return newSignedEnv(t, "", opts...)
}

// newSignedEnv is newEnv with the master and the agent given secret as
// their cluster secret ("" for none).
func newSignedEnv(t *testing.T, secret string, opts ...func(*server.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx, logs: &logBuffer{}, vars: map[string]string{},
		hc: &http.Client{Transport: &http.Transport{}, Timeout: wait}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.st = st
	broker := bus.NewMemoryBroker()
	e.broker = broker
	connect := func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil }
	e.tap = newTap(t, broker)
	cfg := server.Config{Listen: "127.0.0.1:0", Token: token, Log: log, Dist: dist, PasswordParams: auth.TestParams, ClusterSecret: secret}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = server.New(cfg, st, connect)
	if err != nil {
		t.Fatal(err)
	}
	e.base = "http://" + e.srv.Addr()
	var wg sync.WaitGroup
	wg.Go(func() { e.srv.Run(ctx) })
	// The agent polls rarely: tasks start because the master nudges it.
	// The agent beats as often as the master expects (the default when
	// the test leaves it).
	e.agent, err = agent.New(agent.Config{Name: "solo", DataDir: t.TempDir(), PollInterval: time.Hour, Heartbeat: cfg.Heartbeat,
		CancelGrace: time.Second, Concurrency: 4, Log: log, ClusterSecret: secret}, st, connect)
	if err != nil {
		t.Fatal(err)
	}
	actx, stopAgent := context.WithCancel(ctx)
	agentDone := make(chan struct{})
	go func() { defer close(agentDone); e.agent.Run(actx) }()
	e.stopAgent = func() { stopAgent(); <-agentDone }
	t.Cleanup(func() {
		cancel()
		<-agentDone
		wg.Wait()
		e.tap.close()
		st.Close(context.Background())
		e.hc.CloseIdleConnections()
		if t.Failed() {
			t.Logf("log:\n%s", e.logs)
		}
	})
	e.vars["node"] = e.agent.NodeID()
	// Its first heartbeat comes once it listens on its channel.
	e.tap.wait(func(env *wire.Envelope) bool { return env.Type == wire.EvHeartbeat && env.NodeID == e.agent.NodeID() })
	return e
}

// expand replaces the placeholders {name} in s with the scenario's values.
func (e *env) expand(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// request sends an authorised request (unless hdr sets Authorization to
// ""), returning the status, the headers and the body.
func (e *env) request(method, path, contentType string, body io.Reader, hdr map[string]string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// do is request for fixtures: anything but a 2xx fails the test.
func (e *env) do(method, path string, body any, out any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	status, _, b := e.request(method, path, "application/json", r, nil)
	if status/100 != 2 {
		e.t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(b), out); err != nil {
			e.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// zipOf is a spider archive holding run.sh.
func zipOf(script string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("run.sh")
	w.Write([]byte(script))
	zw.Close()
	return buf.Bytes()
}

// spider stores a spider that runs script, as an upload would.
func (e *env) spider(name, script string) store.Spider {
	e.t.Helper()
	now := store.Now()
	sp := store.Spider{ID: store.NewID(), Name: name, Command: "sh run.sh", Created: now, Updated: now}
	sp.File = "spiders/" + sp.ID + ".zip"
	var err error
	if sp.MD5, sp.Size, err = e.st.Files().Put(e.ctx, sp.File, bytes.NewReader(zipOf(script))); err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.Spiders().Create(e.ctx, &sp); err != nil {
		e.t.Fatal(err)
	}
	return sp
}

// run starts a task of sp on any node and waits until its status is want.
func (e *env) run(sp store.Spider, want string) store.Task {
	e.t.Helper()
	var l struct{ Items []store.Task }
	e.do("POST", "/api/tasks", map[string]any{"spider_id": sp.ID}, &l)
	id := l.Items[0].ID
	e.tap.wait(func(env *wire.Envelope) bool {
		var ts wire.TaskStatus
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == id && ts.Status == want
	})
	t, err := e.st.Tasks().Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return *t
}

// endedTask is a task that printed "one" and "two" and finished.
func (e *env) endedTask() store.Task {
	return e.run(e.spider("ended-"+store.NewID()[18:], "echo one\necho two\n"), store.TaskFinished)
}

// runningTask is a task that prints a line every 50 ms until stopped; it
// returns once the agent has published its first lines.
func (e *env) runningTask() store.Task {
	e.t.Helper()
	return e.runningTaskOf("i=0\nwhile true; do echo \"line $i\"; i=$((i+1)); sleep 0.05; done\n")
}

// savingTask is a running task that saves items {"n":0}, {"n":1}, … as a
// spider does (POSTing NDJSON to CRAWLHUB_ITEMS_URL): two at once, then
// one with each log line; it returns once the first two are saved.
func (e *env) savingTask() store.Task {
	e.t.Helper()
	return e.runningTaskOf(`save() { printf "$1" | curl -sf -o /dev/null --data-binary @- "$CRAWLHUB_ITEMS_URL" || echo "save failed"; }
save '{"n":0}\n{"n":1}\n'
i=2
while true; do echo "line $i"; save "{\"n\":$i}\n"; i=$((i+1)); sleep 0.05; done
`)
}

// runningTaskOf runs script until stopped, returning once the agent has
// published its first log lines.
func (e *env) runningTaskOf(script string) store.Task {
	e.t.Helper()
	sp := e.spider("forever-"+store.NewID()[18:], script)
	var l struct{ Items []store.Task }
	e.do("POST", "/api/tasks", map[string]any{"spider_id": sp.ID}, &l)
	t := l.Items[0]
	e.tap.watch(wire.LogChannel(t.ID))
	e.tap.wait(func(env *wire.Envelope) bool { return env.Type == "log" && env.NodeID == t.ID })
	return t
}

// tap is a bus connection of the test's own: it hears every message the
// agent sends the masters (and the log channels it is told to watch) and
// lets the test wait for one.
type tap struct {
	t    *testing.T
	bus  *bus.Memory
	mu   sync.Mutex
	seen []*wire.Envelope // log batches are recorded with Type "log", NodeID the task id
	more chan struct{}    // closed and replaced on each message
}

func newTap(t *testing.T, broker *bus.MemoryBroker) *tap {
	tp := &tap{t: t, more: make(chan struct{})}
	tp.bus = broker.Connect(tp.handle)
	if err := tp.bus.Subscribe(context.Background(), wire.MasterChannel); err != nil {
		t.Fatal(err)
	}
	return tp
}

func (tp *tap) handle(channel string, payload []byte) {
	env := new(wire.Envelope)
	if channel == wire.MasterChannel {
		if json.Unmarshal(payload, env) != nil {
			return
		}
	} else {
		var b wire.LogBatch
		if json.Unmarshal(payload, &b) != nil {
			return
		}
		env.Type, env.NodeID, env.Payload = "log", b.TaskID, payload
	}
	tp.mu.Lock()
	tp.seen = append(tp.seen, env)
	close(tp.more)
	tp.more = make(chan struct{})
	tp.mu.Unlock()
}

func (tp *tap) watch(channel string) {
	if err := tp.bus.Subscribe(context.Background(), channel); err != nil {
		tp.t.Fatal(err)
	}
}

// wait returns the first message, seen before or after the call, that
// match accepts.
func (tp *tap) wait(match func(*wire.Envelope) bool) *wire.Envelope {
	tp.t.Helper()
	deadline := time.After(wait)
	next := 0
	for {
		tp.mu.Lock()
		seen, more := tp.seen[next:], tp.more
		next = len(tp.seen)
		tp.mu.Unlock()
		for _, env := range seen {
			if match(env) {
				return env
			}
		}
		select {
		case <-more:
		case <-deadline:
			tp.t.Fatalf("no matching bus message in %s", wait)
			return nil
		}
	}
}

// seenWith reports whether a message match accepts has been seen.
func (tp *tap) seenWith(match func(*wire.Envelope) bool) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	for _, env := range tp.seen {
		if match(env) {
			return true
		}
	}
	return false
}

func (tp *tap) close() { tp.bus.Close() }

// logBuffer is the master's and agent's log, kept to check what was logged
// and printed when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
