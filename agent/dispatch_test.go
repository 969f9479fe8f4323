package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// fleet is several agents on one store and one bus, and the master's end
// of the bus as the test: it creates tasks and names them in
// task_available, as a master does, and records the agents' events.
type fleet struct {
	*node                 // the master's end; its agent field is unused
	agents []*agent.Agent // all running
}

// backend opens stores and bus connections on one database and one bus.
type backend struct {
	open    func(t *testing.T, ctx context.Context) store.Store
	connect func(ctx context.Context, log *slog.Logger) func(bus.Handler) (bus.Bus, error)
}

func sqliteBackend(t *testing.T) backend {
	dir := t.TempDir()
	var once sync.Once
	var st store.Store
	broker := bus.NewMemoryBroker()
	return backend{
		// The all-in-one's agents share one store, as they share a process.
		open: func(t *testing.T, ctx context.Context) store.Store {
			once.Do(func() {
				s, err := sqlite.Open(context.Background(), dir)
				if err != nil {
					t.Fatal(err)
				}
				st = s
			})
			return st
		},
		connect: func(context.Context, *slog.Logger) func(bus.Handler) (bus.Bus, error) {
			return func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil }
		},
	}
}

// clusterBackend is Redis and the MongoDB-compatible test server: each
// agent opens its own connection to one database, as separate processes do.
func clusterBackend(t *testing.T) backend {
	redis := testenv.StartRedis(t)
	uri := testenv.MongoURIs(t)[0].URI
	db := testenv.UniqueDB(t)
	return backend{
		open: func(t *testing.T, ctx context.Context) store.Store {
			s, err := mongo.Open(ctx, uri+db, db)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		connect: func(ctx context.Context, log *slog.Logger) func(bus.Handler) (bus.Bus, error) {
			return func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(ctx, redis.URL, h, log) }
		},
	}
}

// startFleet starts n agents of concurrency 2 on b, looking in the store
// every poll (so that tasks found there and tasks named on the bus race
// for the same claims).
func startFleet(t *testing.T, b backend, n int, poll time.Duration, wrap func(store.Store) store.Store) *fleet {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m := &node{t: t, ctx: ctx, logs: &lockedBuffer{}, more: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m.st = b.open(t, ctx)
	var err error
	if m.master, err = b.connect(ctx, log)(m.handle); err != nil {
		t.Fatal(err)
	}
	m.caller = wire.NewCaller(wire.CallerConfig{Bus: m.master, Event: m.record, Timeout: wait})
	if err := m.master.Subscribe(ctx, wire.MasterChannel); err != nil {
		t.Fatal(err)
	}
	f := &fleet{node: m}
	var wg sync.WaitGroup
	var stores []store.Store
	for i := range n {
		st := b.open(t, ctx)
		stores = append(stores, st)
		if wrap != nil {
			st = wrap(st)
		}
		a, err := agent.New(agent.Config{Name: fmt.Sprintf("worker-%d", i), DataDir: t.TempDir(), PollInterval: poll,
			CancelGrace: time.Second, Concurrency: 2, Log: log.With("agent", i)}, st, b.connect(ctx, log))
		if err != nil {
			t.Fatal(err)
		}
		f.agents = append(f.agents, a)
		wg.Go(func() { a.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		m.master.Close()
		closed := map[store.Store]bool{}
		for _, st := range append(stores, m.st) {
			if !closed[st] {
				closed[st] = true
				st.Close(context.Background())
			}
		}
		if t.Failed() {
			t.Logf("agents' log:\n%s", m.logs)
		}
	})
	// Each agent's first heartbeat comes once it listens on its channel.
	for _, a := range f.agents {
		m.waitFor(func(env *wire.Envelope) bool { return env.Type == wire.EvHeartbeat && env.NodeID == a.NodeID() })
	}
	return f
}

// create stores count tasks of sp for any node and names them to every
// agent in one task_available, as a master does.
func (f *fleet) create(sp store.Spider, count int) []store.Task {
	f.t.Helper()
	ts := make([]store.Task, count)
	ids := make([]string, count)
	for i := range ts {
		ts[i] = store.Task{ID: store.NewID(), SpiderID: sp.ID, SpiderName: sp.Name, Mode: "any", Status: store.TaskPending,
			Command: sp.Command, Created: store.Now()}
		ids[i] = ts[i].ID
		// Its log reaches the test (logBatch).
		if err := f.master.Subscribe(f.ctx, wire.LogChannel(ts[i].ID)); err != nil {
			f.t.Fatal(err)
		}
	}
	if _, err := f.st.Tasks().CreateMany(f.ctx, ts); err != nil {
		f.t.Fatal(err)
	}
	for _, a := range f.agents {
		if err := f.caller.Send(f.ctx, a.NodeID(), wire.OpTaskAvailable, wire.TaskAvailable{TaskIDs: ids}); err != nil {
			f.t.Fatal(err)
		}
	}
	return ts
}

// TestDispatchOnce runs tasks on three agents that race for them, both
// through the ids task_available names and through looking in the store
// every few milliseconds, on SQLite with the in-process bus and on the
// MongoDB-compatible server with Redis: every task runs exactly once, and
// the store says which node ran it.
func TestDispatchOnce(t *testing.T) {
	for _, c := range []struct {
		name  string
		b     func(*testing.T) backend
		tasks int
	}{
		{"sqlite", sqliteBackend, 60},
		{"mongo", clusterBackend, 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := startFleet(t, c.b(t), 3, 20*time.Millisecond, nil)
			runs := filepath.Join(t.TempDir(), "runs")
			sp := f.spider("once", fmt.Sprintf("echo \"$CRAWLHUB_TASK_ID $CRAWLHUB_NODE_ID\" >> %s\n", runs))
			var tasks []store.Task
			for range 3 { // in batches, while the first ones run
				tasks = append(tasks, f.create(sp, c.tasks/3)...)
			}
			for _, task := range tasks {
				f.taskStatus(task.ID, store.TaskFinished)
			}
			b, err := os.ReadFile(runs)
			if err != nil {
				t.Fatal(err)
			}
			ranOn := map[string][]string{}
			for line := range strings.Lines(string(b)) {
				id, node, _ := strings.Cut(strings.TrimSpace(line), " ")
				ranOn[id] = append(ranOn[id], node)
			}
			nodes := map[string]bool{}
			for _, task := range tasks {
				got, err := f.st.Tasks().Get(f.ctx, task.ID)
				if err != nil {
					t.Fatal(err)
				}
				if on := ranOn[task.ID]; len(on) != 1 || got.Status != store.TaskFinished || got.NodeID != on[0] {
					t.Errorf("task %s ran on %v; the store says %s on %s", task.ID, on, got.Status, got.NodeID)
				}
				nodes[got.NodeID] = true
			}
			if len(ranOn) != len(tasks) {
				t.Errorf("%d tasks ran, %d were created", len(ranOn), len(tasks))
			}
			t.Logf("%d tasks ran once each, on %d agents", len(tasks), len(nodes))
		})
	}
}

// lookCounter counts an agent's looks in the store for pending tasks.
type lookCounter struct {
	store.Store
	mu    sync.Mutex
	looks int
	first chan struct{} // closed at the first look
}

func (c *lookCounter) Tasks() store.Tasks { return countedTasks{c.Store.Tasks(), c} }

func (c *lookCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.looks
}

type countedTasks struct {
	store.Tasks
	c *lookCounter
}

func (t countedTasks) Pending(ctx context.Context, nodeID string, limit int) ([]store.Task, error) {
	t.c.mu.Lock()
	t.c.looks++
	if t.c.looks == 1 {
		close(t.c.first)
	}
	t.c.mu.Unlock()
	return t.Tasks.Pending(ctx, nodeID, limit)
}

// TestDispatchIdleStartsNamedTask: an idle agent that looks in the store
// once an hour starts a task as soon as task_available names it, without
// looking for it, and starts the next one named while the first runs.
func TestDispatchIdleStartsNamedTask(t *testing.T) {
	lc := &lookCounter{first: make(chan struct{})}
	f := startFleet(t, sqliteBackend(t), 1, time.Hour, func(st store.Store) store.Store { lc.Store = st; return lc })
	select {
	case <-lc.first: // its look at start, before the task exists
	case <-time.After(wait):
		t.Fatal("the agent did not look in the store at its start")
	}
	sp := f.spider("named", "echo hello from $CRAWLHUB_TASK_ID\n")
	first := f.create(sp, 1)[0]
	running := f.taskStatus(first.ID, store.TaskRunning)
	if running.NodeID != f.agents[0].NodeID() {
		t.Fatalf("task ran on %q", running.NodeID)
	}
	second := f.create(sp, 1)[0]
	f.taskStatus(first.ID, store.TaskFinished)
	f.taskStatus(second.ID, store.TaskFinished)
	b := f.logBatch(second.ID, func(b wire.LogBatch) bool { return len(b.Lines) > 0 })
	if want := "hello from " + second.ID; b.Lines[0] != want {
		t.Fatalf("log %q, want %q", b.Lines[0], want)
	}
	if n := lc.count(); n != 1 {
		t.Fatalf("the agent looked in the store %d times; the named tasks needed no look", n)
	}
}
