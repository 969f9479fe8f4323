package simagent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/simagent"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const secret = "simagent-test-secret-0123456789abcdef"

// TestAgentSpeaksTheProtocol plays a master on the in-process bus with the
// real wire.Caller under a cluster secret: the simulated agent registers,
// heartbeats with its load, answers get_sysinfo and get_log as its own
// node, refuses an unsigned request, and says goodbye when it stops.
func TestAgentSpeaksTheProtocol(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	broker := bus.NewMemoryBroker()
	signer, err := wire.NewSigner(secret, log)
	if err != nil {
		t.Fatal(err)
	}
	beats := make(chan wire.Heartbeat, 16)
	var caller *wire.Caller
	master := broker.Connect(func(_ string, payload []byte) { caller.Handle(payload) })
	defer master.Close()
	caller = wire.NewCaller(wire.CallerConfig{Bus: master, Signer: signer, Timeout: 5 * time.Second, Log: log,
		Event: func(env *wire.Envelope) {
			if env.Type != wire.EvHeartbeat {
				return
			}
			var hb wire.Heartbeat
			if err := json.Unmarshal(env.Payload, &hb); err != nil {
				t.Errorf("heartbeat: %v", err)
			}
			select {
			case beats <- hb:
			default:
			}
		}})
	if err := master.Subscribe(ctx, wire.MasterChannel); err != nil {
		t.Fatal(err)
	}

	a, err := simagent.New(simagent.Config{Name: "sim-1", Heartbeat: 100 * time.Millisecond, ClusterSecret: secret, Log: log}, st,
		func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(runCtx) }()

	select {
	case hb := <-beats:
		if hb.Name != "sim-1" || hb.Metrics == nil || hb.Metrics.MemTotal == 0 {
			t.Fatalf("heartbeat %+v: want the name and the machine's load", hb)
		}
	case <-ctx.Done():
		t.Fatal("no heartbeat")
	}
	n, err := st.Nodes().Get(ctx, a.NodeID())
	if err != nil || n.Status != store.NodeOnline || n.Name != "sim-1" {
		t.Fatalf("node record %+v, %v: want sim-1 online", n, err)
	}

	var si wire.SysInfo
	if err := caller.Call(ctx, a.NodeID(), wire.OpGetSysinfo, nil, &si); err != nil {
		t.Fatal(err)
	}
	if si.NodeID != a.NodeID() || si.Name != "sim-1" || si.CPUs == 0 {
		t.Fatalf("sysinfo %+v: want this node's id and name and the machine's CPUs", si)
	}

	a.Fake("task-1", 500)
	var lb wire.LogBatch
	if err := caller.Call(ctx, a.NodeID(), wire.OpGetLog, wire.GetLog{TaskID: "task-1", From: 490, Limit: 100}, &lb); err != nil {
		t.Fatal(err)
	}
	if lb.Total != 500 || lb.From != 490 || len(lb.Lines) != 10 || lb.Lines[9] != simagent.FakeLine("task-1", 499) {
		t.Fatalf("get_log: %+v", lb)
	}

	// A request without the secret gets no answer.
	unsigned := wire.NewCaller(wire.CallerConfig{Bus: master, Timeout: 300 * time.Millisecond, Log: log})
	if err := unsigned.Call(ctx, a.NodeID(), wire.OpPing, nil, nil); !errors.Is(err, wire.ErrTimeout) {
		t.Fatalf("unsigned ping: %v, want a timeout", err)
	}

	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if n, err := st.Nodes().Get(ctx, a.NodeID()); err != nil || n.Status != store.NodeOffline {
		t.Fatalf("after Run: %+v, %v: want the node offline", n, err)
	}
}

// TestCrashLeavesNoGoodbye: a crashed agent stops beating and leaves its
// record online, for the masters to find it silent.
func TestCrashLeavesNoGoodbye(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	broker := bus.NewMemoryBroker()
	a, err := simagent.New(simagent.Config{Name: "sim-2", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st,
		func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	for {
		if n, err := st.Nodes().Get(ctx, a.NodeID()); err == nil && n.Status == store.NodeOnline {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("never registered")
		case <-time.After(10 * time.Millisecond): // the store has no change feed
		}
	}
	a.Crash()
	if err := <-done; err != nil {
		t.Fatalf("Run after Crash: %v", err)
	}
	if n, err := st.Nodes().Get(ctx, a.NodeID()); err != nil || n.Status != store.NodeOnline {
		t.Fatalf("after a crash: %+v, %v: want the record left online", n, err)
	}
}
