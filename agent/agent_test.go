package agent_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// TestMain fails the run if an agent leaves goroutines behind once it has
// stopped: its tasks, workers and bus must all end with it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait on a bus message.
const wait = 15 * time.Second

// node is one agent on the in-process bus and SQLite, and the master's end
// of the bus as the test: a Caller for its requests and a record of every
// event and log batch the agent publishes.
type node struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	agent  *agent.Agent
	master bus.Bus
	caller *wire.Caller
	logs   *lockedBuffer

	stop func() // stops the agent and waits for Run to return

	mu   sync.Mutex
	seen []*wire.Envelope // events; log and item batches with Type "log" or "items" and NodeID the task id
	more chan struct{}    // closed and replaced on each message
}

type config struct {
	heartbeat time.Duration
	before    func(n *node) // runs before the agent starts
	// wrap, if set, gives the agent another store around the test's.
	wrap        func(store.Store) store.Store
	itemsSocket string
	dataDir     string // zero means a new one
	// redisURL, if set, puts the agent and the test's end on that Redis
	// instead of the in-process bus.
	redisURL string
	// secret is the cluster secret of the agent and the test's end.
	secret string
	// maxLogBytes is the agent's MaxLogBytes.
	maxLogBytes int64
}

func startNode(t *testing.T, cfg config) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{t: t, ctx: ctx, logs: &lockedBuffer{}, more: make(chan struct{})}
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	n.st = st
	broker := bus.NewMemoryBroker()
	connect := func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil }
	if cfg.redisURL != "" {
		connect = func(h bus.Handler) (bus.Bus, error) {
			return bus.NewRedis(ctx, cfg.redisURL, h, slog.New(slog.NewTextHandler(n.logs, nil)))
		}
	}
	if n.master, err = connect(n.handle); err != nil {
		t.Fatal(err)
	}
	signer, err := wire.NewSigner(cfg.secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.caller = wire.NewCaller(wire.CallerConfig{Bus: n.master, Event: n.record, Timeout: wait, Signer: signer})
	if err := n.master.Subscribe(ctx, wire.MasterChannel); err != nil {
		t.Fatal(err)
	}
	if cfg.before != nil {
		cfg.before(n)
	}
	log := slog.New(slog.NewTextHandler(n.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The agent polls once at start and then rarely: later tasks start
	// because task_available wakes it.
	var ast store.Store = st
	if cfg.wrap != nil {
		ast = cfg.wrap(st)
	}
	if cfg.dataDir == "" {
		cfg.dataDir = t.TempDir()
	}
	n.agent, err = agent.New(agent.Config{Name: "worker", DataDir: cfg.dataDir, Heartbeat: cfg.heartbeat,
		PollInterval: time.Hour, CancelGrace: time.Second, Concurrency: 2, Log: log, ItemsSocket: cfg.itemsSocket,
		ClusterSecret: cfg.secret, MaxLogBytes: cfg.maxLogBytes}, ast, connect)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); n.agent.Run(ctx) }()
	n.stop = func() { cancel(); <-done }
	t.Cleanup(func() {
		n.stop()
		n.master.Close()
		st.Close(context.Background())
		if t.Failed() {
			t.Logf("agent log:\n%s", n.logs)
		}
	})
	// The first heartbeat comes once the agent listens on its channel.
	n.waitFor(func(env *wire.Envelope) bool { return env.Type == wire.EvHeartbeat })
	return n
}

func (n *node) handle(channel string, payload []byte) {
	if channel == wire.MasterChannel {
		n.caller.Handle(payload)
		return
	}
	if wire.IsItemsChannel(channel) {
		var b wire.ItemBatch
		if json.Unmarshal(payload, &b) == nil {
			n.record(&wire.Envelope{Type: "items", NodeID: b.TaskID, Payload: payload})
		}
		return
	}
	var b wire.LogBatch
	if json.Unmarshal(payload, &b) == nil {
		n.record(&wire.Envelope{Type: "log", NodeID: b.TaskID, Payload: payload})
	}
}

func (n *node) record(env *wire.Envelope) {
	n.mu.Lock()
	n.seen = append(n.seen, env)
	close(n.more)
	n.more = make(chan struct{})
	n.mu.Unlock()
}

// waitFor returns the first message, published before or after the call,
// that match accepts.
func (n *node) waitFor(match func(*wire.Envelope) bool) *wire.Envelope {
	n.t.Helper()
	return n.waitWithin(wait, match)
}

// waitWithin is waitFor with a deadline of d.
func (n *node) waitWithin(d time.Duration, match func(*wire.Envelope) bool) *wire.Envelope {
	n.t.Helper()
	deadline := time.After(d)
	next := 0
	for {
		n.mu.Lock()
		seen, more := n.seen[next:], n.more
		next = len(n.seen)
		n.mu.Unlock()
		for _, env := range seen {
			if match(env) {
				return env
			}
		}
		select {
		case <-more:
		case <-deadline:
			n.t.Fatalf("no matching message from the agent in %s", d)
			return nil
		}
	}
}

// taskStatus waits for the task to reach status and returns the event.
func (n *node) taskStatus(taskID, status string) wire.TaskStatus {
	n.t.Helper()
	var ts wire.TaskStatus
	n.waitFor(func(env *wire.Envelope) bool {
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == taskID && ts.Status == status
	})
	return ts
}

// logBatch waits for a batch of the task's log that match accepts.
func (n *node) logBatch(taskID string, match func(wire.LogBatch) bool) wire.LogBatch {
	n.t.Helper()
	var b wire.LogBatch
	n.waitFor(func(env *wire.Envelope) bool {
		return env.Type == "log" && env.NodeID == taskID && json.Unmarshal(env.Payload, &b) == nil && match(b)
	})
	return b
}

func (n *node) send(op string, in any) {
	n.t.Helper()
	if err := n.caller.Send(n.ctx, n.agent.NodeID(), op, in); err != nil {
		n.t.Fatal(err)
	}
}

func zipOf(script string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("run.sh")
	w.Write([]byte(script))
	zw.Close()
	return buf.Bytes()
}

// spider stores a spider that runs script, as an upload would.
func (n *node) spider(name, script string) store.Spider {
	n.t.Helper()
	now := store.Now()
	sp := store.Spider{ID: store.NewID(), Name: name, Command: "sh run.sh", Created: now, Updated: now}
	sp.File = "spiders/" + sp.ID + ".zip"
	var err error
	if sp.MD5, sp.Size, err = n.st.Files().Put(n.ctx, sp.File, bytes.NewReader(zipOf(script))); err != nil {
		n.t.Fatal(err)
	}
	if err := n.st.Spiders().Create(n.ctx, &sp); err != nil {
		n.t.Fatal(err)
	}
	return sp
}

// queue stores a pending task of sp for any node and listens to its log
// and its items.
func (n *node) queue(sp store.Spider) store.Task {
	n.t.Helper()
	t := store.Task{ID: store.NewID(), SpiderID: sp.ID, SpiderName: sp.Name, Mode: "any", Status: store.TaskPending,
		Command: sp.Command, Created: store.Now()}
	if err := n.master.Subscribe(n.ctx, wire.LogChannel(t.ID)); err != nil {
		n.t.Fatal(err)
	}
	if err := n.master.Subscribe(n.ctx, wire.ItemsChannel(t.ID)); err != nil {
		n.t.Fatal(err)
	}
	if err := n.st.Tasks().Create(n.ctx, &t); err != nil {
		n.t.Fatal(err)
	}
	return t
}

// run queues a task of sp and nudges the agent, as a master does.
func (n *node) run(sp store.Spider) store.Task {
	t := n.queue(sp)
	n.send(wire.OpTaskAvailable, wire.TaskAvailable{})
	return t
}

const forever = "i=0\nwhile true; do echo \"line $i\"; i=$((i+1)); sleep 0.05; done\n"

func TestPing(t *testing.T) {
	n := startNode(t, config{})
	start := time.Now()
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpPing, nil, &struct{}{}); err != nil {
		t.Fatalf("ping: %v", err)
	}
	t.Logf("round trip %s", time.Since(start))
}

func TestSysinfo(t *testing.T) {
	n := startNode(t, config{})
	var si wire.SysInfo
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetSysinfo, nil, &si); err != nil {
		t.Fatalf("get_sysinfo: %v", err)
	}
	if si.NodeID != n.agent.NodeID() || si.Name != "worker" || si.OS != runtime.GOOS || si.CPUs < 1 || si.MemTotal == 0 || si.DiskTotal == 0 {
		t.Errorf("sysinfo: %+v", si)
	}
	if len(si.Executables) == 0 {
		t.Error("sysinfo lists no executables (python, node, …)")
	}
}

func TestUnknownOpAnsweredWithError(t *testing.T) {
	n := startNode(t, config{})
	err := n.caller.Call(n.ctx, n.agent.NodeID(), "reboot", nil, nil)
	var re *wire.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, `unknown operation "reboot"`) {
		t.Fatalf("reboot: %v, want the node's error naming the operation", err)
	}
}

func TestGetLog(t *testing.T) {
	n := startNode(t, config{})

	// A running task's lines come from the agent's own file.
	running := n.run(n.spider("forever", forever))
	n.taskStatus(running.ID, store.TaskRunning)
	n.logBatch(running.ID, func(b wire.LogBatch) bool { return b.From+int64(len(b.Lines)) >= 3 })
	var ll wire.LogBatch
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetLog, wire.GetLog{TaskID: running.ID, From: 1, Limit: 2}, &ll); err != nil {
		t.Fatalf("get_log of a running task: %v", err)
	}
	if ll.TaskID != running.ID || ll.From != 1 || strings.Join(ll.Lines, ",") != "line 1,line 2" || ll.Total < 3 {
		t.Errorf("get_log of a running task: %+v", ll)
	}

	// An ended task's log is read from the store.
	ended := n.run(n.spider("short", "echo one\necho two\necho three\n"))
	if ts := n.taskStatus(ended.ID, store.TaskFinished); ts.LogLines != 3 || ts.ExitCode == nil || *ts.ExitCode != 0 {
		t.Errorf("finished task: %+v", ts)
	}
	ll = wire.LogBatch{}
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetLog, wire.GetLog{TaskID: ended.ID, From: 0, Limit: 10}, &ll); err != nil {
		t.Fatalf("get_log of an ended task: %v", err)
	}
	if strings.Join(ll.Lines, ",") != "one,two,three" || ll.Total != 3 {
		t.Errorf("get_log of an ended task: %+v", ll)
	}

	// A request the agent cannot read is answered with the reason.
	err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetLog, "task 1", &ll)
	var re *wire.RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "bad get_log payload") {
		t.Errorf("malformed get_log: %v", err)
	}
}

func TestCancelTaskStopsIt(t *testing.T) {
	n := startNode(t, config{})
	task := n.run(n.spider("forever", forever))
	n.taskStatus(task.ID, store.TaskRunning)
	n.logBatch(task.ID, func(b wire.LogBatch) bool { return len(b.Lines) > 0 })

	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "tester", Reason: "enough"})
	ts := n.taskStatus(task.ID, store.TaskCancelled)
	if ts.Reason != "cancelled by tester: enough" {
		t.Errorf("reason %q", ts.Reason)
	}
	end := n.logBatch(task.ID, func(b wire.LogBatch) bool { return b.End })
	if end.Status != store.TaskCancelled || end.Total != ts.LogLines {
		t.Errorf("log end %+v, task %+v", end, ts)
	}
	// Cancelling a task that is not running here is no error.
	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "tester"})
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpPing, nil, nil); err != nil {
		t.Fatalf("ping after cancels: %v", err)
	}
}

func TestSyncSpider(t *testing.T) {
	var sp store.Spider
	n := startNode(t, config{before: func(n *node) { sp = n.spider("synced", "echo v1\n") }})
	synced := func(id string, match func(wire.SpiderSynced) bool) wire.SpiderSynced {
		var ev wire.SpiderSynced
		n.waitFor(func(env *wire.Envelope) bool {
			ev = wire.SpiderSynced{}
			return env.Type == wire.EvSpiderSynced && json.Unmarshal(env.Payload, &ev) == nil && ev.SpiderID == id && match(ev)
		})
		return ev
	}

	// At start the agent fetches every spider.
	synced(sp.ID, func(ev wire.SpiderSynced) bool { return ev.MD5 == sp.MD5 && ev.Downloaded && ev.Error == "" })

	// A new version is fetched when the master says so…
	var err error
	if sp.MD5, sp.Size, err = n.st.Files().Put(n.ctx, sp.File, bytes.NewReader(zipOf("echo v2\n"))); err != nil {
		t.Fatal(err)
	}
	if err := n.st.Spiders().Update(n.ctx, &sp); err != nil {
		t.Fatal(err)
	}
	n.send(wire.OpSyncSpider, wire.SyncSpider{SpiderID: sp.ID})
	synced(sp.ID, func(ev wire.SpiderSynced) bool { return ev.MD5 == sp.MD5 && ev.Downloaded })

	// …and only once.
	n.send(wire.OpSyncSpider, wire.SyncSpider{SpiderID: sp.ID})
	synced(sp.ID, func(ev wire.SpiderSynced) bool { return ev.MD5 == sp.MD5 && !ev.Downloaded && ev.Error == "" })

	// A spider that does not exist is reported, not ignored.
	missing := store.NewID()
	n.send(wire.OpSyncSpider, wire.SyncSpider{SpiderID: missing})
	if ev := synced(missing, func(wire.SpiderSynced) bool { return true }); !strings.Contains(ev.Error, missing) {
		t.Errorf("sync of a missing spider: %+v", ev)
	}
}

// TestTaskAvailableWakesPoller: with a poll interval of an hour, a queued
// task starts because task_available says so.
func TestTaskAvailableWakesPoller(t *testing.T) {
	var first store.Task
	sp := store.Spider{}
	n := startNode(t, config{before: func(n *node) {
		sp = n.spider("forever", forever)
		first = n.queue(sp)
	}})
	// The poll at start takes the task queued before it; once it runs, that
	// poll is over and the next is an hour away.
	n.taskStatus(first.ID, store.TaskRunning)

	second := n.queue(sp)
	n.send(wire.OpTaskAvailable, wire.TaskAvailable{})
	ts := n.taskStatus(second.ID, store.TaskRunning)
	if ts.NodeID != n.agent.NodeID() || ts.Started.IsZero() {
		t.Errorf("running: %+v", ts)
	}
	got, err := n.st.Tasks().Get(n.ctx, second.ID)
	if err != nil || got.Status != store.TaskRunning || got.NodeID != n.agent.NodeID() {
		t.Errorf("stored task: %+v, %v", got, err)
	}
}

func TestHeartbeats(t *testing.T) {
	n := startNode(t, config{heartbeat: 20 * time.Millisecond})
	id := n.agent.NodeID()
	beats := 0
	n.waitFor(func(env *wire.Envelope) bool {
		var hb wire.Heartbeat
		if env.Type == wire.EvHeartbeat && env.NodeID == id && json.Unmarshal(env.Payload, &hb) == nil && hb.Name == "worker" && !hb.Stopping {
			beats++
			// Each beat carries the node's load: memory and the data
			// directory's disk are there on any system.
			if m := hb.Metrics; m == nil || m.MemTotal == 0 || m.DiskTotal == 0 || m.CPU < 0 || m.CPU > 100 {
				t.Errorf("heartbeat metrics = %+v, want memory, disk and a CPU share", m)
			}
		}
		return beats == 3
	})
	rec, err := n.st.Nodes().Get(n.ctx, id)
	if err != nil || rec.Status != store.NodeOnline || rec.Name != "worker" {
		t.Fatalf("node record while running: %+v, %v", rec, err)
	}

	// A clean stop says goodbye at once, on the bus and in the store.
	n.stop()
	n.waitFor(func(env *wire.Envelope) bool {
		var hb wire.Heartbeat
		return env.Type == wire.EvHeartbeat && env.NodeID == id && json.Unmarshal(env.Payload, &hb) == nil && hb.Stopping
	})
	if rec, err := n.st.Nodes().Get(context.Background(), id); err != nil || rec.Status != store.NodeOffline {
		t.Errorf("node record after stop: %+v, %v", rec, err)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
