package server

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// The observers on the hot paths (every node call, every JSON-RPC call,
// every store call) allocate nothing once their series exist.
func TestObserversDoNotAllocate(t *testing.T) {
	m := newMetrics()
	timer := m.store
	timer.since("tasks", "Get", time.Now()) // makes the series
	for name, f := range map[string]func(){
		"node call":       func() { m.CallDone(wire.OpGetLog, wire.CallTimeout, time.Millisecond) },
		"JSON-RPC call":   func() { m.observeJSONRPC(wsapi.MethodTaskLog, wsapi.CodeNotFound, time.Millisecond) },
		"unknown method":  func() { m.observeJSONRPC("no.such.method", wsapi.CodeMethodNotFound, time.Millisecond) },
		"store call":      func() { timer.since("tasks", "Get", time.Now()) },
		"bus publish err": func() { m.busErrors[channelKind("logs:abc")].Inc() },
	} {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s: %v allocations per observation, want 0", name, n)
		}
	}
}

// failingBus refuses every publish with err.
type failingBus struct {
	bus.Bus
	err error
}

func (b failingBus) Publish(context.Context, string, []byte) error { return b.err }

func TestBusPublishErrorsByChannel(t *testing.T) {
	m := newMetrics()
	down := countingBus{Bus: failingBus{err: bus.ErrClosed}, errs: &m.busErrors}
	for _, ch := range []string{wire.MasterChannel, wire.NodeChannel("n1"), wire.LogChannel("t1"), wire.LogChannel("t2"), wire.ItemsChannel("t1")} {
		if err := down.Publish(context.Background(), ch, nil); !errors.Is(err, bus.ErrClosed) {
			t.Fatalf("publish on %s: %v, want the bus's error", ch, err)
		}
	}
	// A caller that gave up is not a bus failure.
	gaveUp := countingBus{Bus: failingBus{err: context.Canceled}, errs: &m.busErrors}
	_ = gaveUp.Publish(context.Background(), wire.MasterChannel, nil)
	for kind, want := range map[int]float64{chanMaster: 1, chanNode: 1, chanLog: 2, chanItems: 1} {
		if got := testutil.ToFloat64(m.busErrors[kind]); got != want {
			t.Errorf("publish errors on %s channels: %v, want %v", channelKindNames[kind], got, want)
		}
	}
}

func TestJSONRPCOutcomes(t *testing.T) {
	for code, want := range map[int]string{
		0: "ok", wsapi.CodeInvalidParams: "bad_request", wsapi.CodeMethodNotFound: "bad_request",
		wsapi.CodeForbidden: "forbidden", wsapi.CodeNotFound: "not_found", wsapi.CodeConflict: "conflict",
		wsapi.CodeNodeOffline: "node_unavailable", wsapi.CodeTimeout: "node_unavailable", wsapi.CodeUnavailable: "unavailable",
		wsapi.CodeInternal: "internal", -1: "internal",
	} {
		if got := rpcOutcomeNames[rpcOutcome(code)]; got != want {
			t.Errorf("code %d: outcome %s, want %s", code, got, want)
		}
	}
}

// BenchmarkObservers is what the metrics add to one node call, one
// JSON-RPC call and one store call (bench/notes.md has the figures).
func BenchmarkObservers(b *testing.B) {
	m := newMetrics()
	timer := m.store
	b.Run("node call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.CallDone(wire.OpPing, wire.CallOK, time.Millisecond)
		}
	})
	b.Run("JSON-RPC call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeJSONRPC(wsapi.MethodNodeSysinfo, 0, time.Millisecond)
		}
	})
	b.Run("store call", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			timer.since("tasks", "Get", time.Now())
		}
	})
}

// TestEveryStoreMethodIsTimed: a method added to a store aggregate but
// not to store_metrics.go would be served untimed, through the embedded
// interface. Each wrapper here holds a nil aggregate: a timed method
// records its call before the nil call panics, an untimed one does not.
func TestEveryStoreMethodIsTimed(t *testing.T) {
	timer := &storeCalls{series: newMetrics().store}
	for _, agg := range []struct {
		label   string
		iface   reflect.Type
		wrapper any
	}{
		{"nodes", reflect.TypeFor[store.Nodes](), timedNodes{nil, timer}},
		{"spiders", reflect.TypeFor[store.Spiders](), timedSpiders{nil, timer}},
		{"tasks", reflect.TypeFor[store.Tasks](), timedTasks{nil, timer}},
		{"files", reflect.TypeFor[store.Files](), timedFiles{nil, timer}},
		{"logs", reflect.TypeFor[store.Logs](), timedLogs{nil, timer}},
		{"schedules", reflect.TypeFor[store.Schedules](), timedSchedules{nil, timer}},
		{"items", reflect.TypeFor[store.Items](), timedItems{nil, timer}},
		{"users", reflect.TypeFor[store.Users](), timedUsers{nil, timer}},
		{"credentials", reflect.TypeFor[store.Credentials](), timedCredentials{nil, timer}},
		{"audit", reflect.TypeFor[store.Audit](), timedAudit{nil, timer}},
		{"stats", reflect.TypeFor[store.Stats](), timedStats{nil, timer}},
		{"node_metrics", reflect.TypeFor[store.NodeMetrics](), timedNodeMetrics{nil, timer}},
		{"webhooks", reflect.TypeFor[store.Webhooks](), timedWebhooks{nil, timer}},
	} {
		w := reflect.ValueOf(agg.wrapper)
		for i := range agg.iface.NumMethod() {
			name := agg.iface.Method(i).Name
			method := w.MethodByName(name)
			args := make([]reflect.Value, method.Type().NumIn())
			for j := range args {
				args[j] = reflect.Zero(method.Type().In(j))
				if method.Type().In(j) == reflect.TypeFor[context.Context]() {
					args[j] = reflect.ValueOf(context.Background())
				}
			}
			func() {
				defer func() { _ = recover() }()
				if method.Type().IsVariadic() {
					method.CallSlice(args)
				} else {
					method.Call(args)
				}
			}()
			if _, ok := (*timer.obs.Load())[[2]string{agg.label, name}]; !ok {
				t.Errorf("%s.%s is not timed: add it to server/store_metrics.go", agg.label, name)
			}
		}
	}
}

// pingNode answers pings and nothing else.
type pingNode struct{}

func (pingNode) Ping(context.Context) error                    { return nil }
func (pingNode) SysInfo(context.Context) (wire.SysInfo, error) { return wire.SysInfo{}, nil }
func (pingNode) GetLog(context.Context, wire.GetLog) (wire.LogBatch, error) {
	return wire.LogBatch{}, nil
}
func (pingNode) CancelTask(context.Context, wire.CancelTask) error       { return nil }
func (pingNode) SyncSpider(context.Context, wire.SyncSpider) error       { return nil }
func (pingNode) TaskAvailable(context.Context, wire.TaskAvailable) error { return nil }
func (pingNode) SearchLog(context.Context, wire.SearchLog) (wire.LogSearch, error) {
	return wire.LogSearch{}, nil
}
func (pingNode) GetItems(context.Context, wire.GetItems) (wire.ItemBatch, error) {
	return wire.ItemBatch{}, nil
}

// BenchmarkPingRoundTrip is scenario 1's ping on the in-process bus, with
// and without the master's observer: the machine's load moves both alike.
func BenchmarkPingRoundTrip(b *testing.B) {
	for _, tc := range []struct {
		name string
		obs  wire.CallObserver
	}{{"no observer", nil}, {"metrics", newMetrics()}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			broker := bus.NewMemoryBroker()
			var caller *wire.Caller
			mb := broker.Connect(func(_ string, p []byte) { caller.Handle(p) })
			defer mb.Close()
			caller = wire.NewCaller(wire.CallerConfig{Bus: mb, Observer: tc.obs})
			if err := mb.Subscribe(ctx, wire.MasterChannel); err != nil {
				b.Fatal(err)
			}
			var resp *wire.Responder
			ab := broker.Connect(func(_ string, p []byte) { resp.Handle(p) })
			defer ab.Close()
			resp = wire.NewResponder(wire.ResponderConfig{NodeID: "n", Bus: ab}, pingNode{})
			if err := ab.Subscribe(ctx, wire.NodeChannel("n")); err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); resp.Run(ctx) }()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := caller.Call(ctx, "n", wire.OpPing, nil, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cancel()
			<-done
		})
	}
}
