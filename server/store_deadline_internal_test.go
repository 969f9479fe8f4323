package server

import (
	"context"
	"errors"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// TestStoreCallBounds: a bounded call gets the store deadline, a streaming
// one none; an unreachable server becomes store.ErrUnavailable, a caller's
// own cancellation stays what it is.
func TestStoreCallBounds(t *testing.T) {
	down := errors.New("connection refused")
	calls := &storeCalls{series: newMetrics().store, unreachable: func(err error) bool { return errors.Is(err, down) }}

	ctx, end := calls.begin(context.Background(), "tasks", "List")
	if d, ok := ctx.Deadline(); !ok || d.IsZero() {
		t.Error("tasks.List has no deadline")
	}
	err := down
	end(&err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("unreachable server: %v, want store.ErrUnavailable", err)
	}

	ctx, end = calls.begin(context.Background(), "logs", "ScanLog")
	if _, ok := ctx.Deadline(); ok {
		t.Error("logs.ScanLog streams, yet has a deadline")
	}
	err = store.ErrNotFound
	end(&err)
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Errorf("an answer from the store: %v, want it unchanged", err)
	}

	caller, cancel := context.WithCancel(context.Background())
	cancel()
	_, end = calls.begin(caller, "tasks", "Get")
	err = context.Canceled
	end(&err)
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("the caller's cancellation became %v", err)
	}
}
