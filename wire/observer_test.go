package wire_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// calls records what a Caller's observer was told.
type calls struct {
	mu  sync.Mutex
	got []string
}

func (c *calls) CallDone(op string, o wire.CallOutcome, took time.Duration) {
	if took < 0 {
		panic("negative duration")
	}
	c.mu.Lock()
	c.got = append(c.got, op+" "+o.String())
	c.mu.Unlock()
}

func TestObserverSeesEveryCallsOutcome(t *testing.T) {
	live := func(_ context.Context, node string) error {
		switch node {
		case "dead":
			return &wire.OfflineError{NodeID: node, Name: node}
		case "nobody":
			return fmt.Errorf("no node has id %s: %w", node, wire.ErrUnknownNode)
		}
		return nil
	}
	obs := &calls{}
	r := newRig(t, live, 100*time.Millisecond, func(c *wire.CallerConfig) { c.Observer = obs })
	ctx := context.Background()
	_ = r.caller.Call(ctx, "a", wire.OpGetSysinfo, nil, &wire.SysInfo{})
	_ = r.caller.Call(ctx, "a", wire.OpGetLog, wire.GetLog{}, &wire.LogBatch{}) // the node refuses an empty task id
	_ = r.caller.Call(ctx, "dead", wire.OpGetSysinfo, nil, nil)
	_ = r.caller.Call(ctx, "nobody", wire.OpGetSysinfo, nil, nil)
	_ = r.caller.Call(ctx, "a", wire.OpPing, nil, nil) // held by the node past the deadline
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_ = r.caller.Call(cctx, "b", wire.OpPing, nil, nil)
	want := []string{"get_sysinfo ok", "get_log remote_error", "get_sysinfo offline", "get_sysinfo unknown_node", "ping timeout", "ping cancelled"}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Equal(obs.got, want) {
		t.Errorf("observed\n%q\nwant\n%q", obs.got, want)
	}
}

func TestOutcomeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want wire.CallOutcome
	}{
		{nil, wire.CallOK},
		{fmt.Errorf("wrapped: %w", &wire.RemoteError{NodeID: "a", Op: "x", Msg: "no"}), wire.CallRemoteError},
		{&wire.OfflineError{NodeID: "a"}, wire.CallOffline},
		{wire.ErrUnknownNode, wire.CallUnknownNode},
		{fmt.Errorf("ping on node a: %w", wire.ErrTimeout), wire.CallTimeout},
		{context.Canceled, wire.CallCancelled},
		{errors.New("send get_log to node a: bus closed"), wire.CallFailed},
	} {
		if got := wire.OutcomeOf(tc.err); got != tc.want {
			t.Errorf("OutcomeOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if wire.NumCallOutcomes.String() != "error" {
		t.Error("an outcome out of range must still have a name")
	}
}
