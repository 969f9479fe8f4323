package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// TestStoreCallBounds: an unreachable server becomes store.ErrUnavailable,
// a caller's own cancellation stays what it is, a streaming call is never
// cut, and a call past its deadline is given up only on a store that has
// stopped answering.
func TestStoreCallBounds(t *testing.T) {
	down := errors.New("connection refused")
	calls := &storeCalls{series: newMetrics().store, deadline: 50 * time.Millisecond,
		unreachable: func(err error) bool { return errors.Is(err, down) }}
	calls.answered.Store(time.Now().UnixNano())

	_, end := calls.begin(context.Background(), "tasks", "List")
	err := down
	end(&err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("unreachable server: %v, want store.ErrUnavailable", err)
	}

	ctx, end := calls.begin(context.Background(), "files", "Open")
	err = nil
	end(&err)
	if ctx.Err() != nil {
		t.Error("files.Open's context ended with the call: its reader could not be read")
	}

	caller, cancel := context.WithCancel(context.Background())
	cancel()
	_, end = calls.begin(caller, "tasks", "Get")
	err = context.Canceled
	end(&err)
	if errors.Is(err, store.ErrUnavailable) {
		t.Errorf("the caller's cancellation became %v", err)
	}

	// Slow, while the store answers others (as watchStore's pings do):
	// the call goes on past its deadline.
	stop := make(chan struct{})
	answering := make(chan struct{})
	go func() {
		defer close(answering)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				calls.answered.Store(time.Now().UnixNano())
			}
		}
	}()
	ctx, end = calls.begin(context.Background(), "tasks", "List")
	select {
	case <-ctx.Done():
		t.Error("a slow call on a store that answers others was given up on")
	case <-time.After(200 * time.Millisecond): // the slow call itself
	}
	err = nil
	end(&err)
	close(stop)
	<-answering
	if err != nil {
		t.Errorf("the slow call: %v", err)
	}

	// Frozen: nothing answers; the call is given up on at its deadline.
	calls.answered.Store(time.Now().Add(-time.Minute).UnixNano())
	start := time.Now()
	ctx, end = calls.begin(context.Background(), "tasks", "List")
	<-ctx.Done()
	if took := time.Since(start); took > time.Second {
		t.Errorf("given up on after %v, want about 50 ms", took)
	}
	err = ctx.Err()
	end(&err)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a call the store did not answer: %v, want store.ErrUnavailable", err)
	}
}
