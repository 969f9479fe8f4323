package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
)

// flakyBus is a bus that is up or down as the test says, and records
// what was published while up.
type flakyBus struct {
	mu      sync.Mutex
	up      bool
	got     []string
	watches []func(bool)
}

func (b *flakyBus) Publish(_ context.Context, _ string, payload []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.up {
		return bus.ErrUnavailable
	}
	b.got = append(b.got, string(payload))
	return nil
}

func (b *flakyBus) set(up bool) {
	b.mu.Lock()
	b.up = up
	ws := b.watches
	b.mu.Unlock()
	for _, fn := range ws {
		fn(up)
	}
}

func (b *flakyBus) published() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.got)
}

func (b *flakyBus) Up() bool { b.mu.Lock(); defer b.mu.Unlock(); return b.up }
func (b *flakyBus) Watch(fn func(bool)) {
	b.mu.Lock()
	b.watches = append(b.watches, fn)
	b.mu.Unlock()
}
func (*flakyBus) Subscribe(context.Context, ...string) error   { return nil }
func (*flakyBus) Unsubscribe(context.Context, ...string) error { return nil }
func (*flakyBus) Claim(context.Context, string, time.Duration) (bool, error) {
	return false, errors.New("not here")
}
func (*flakyBus) Close() error { return nil }

// TestOutboxKeepsOrder: what fails to go out waits, and so does every
// message after it, until the bus has been back for outboxSettle; then
// they go in order, each once.
func TestOutboxKeepsOrder(t *testing.T) {
	b := &flakyBus{up: true}
	o := newOutbox(b, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	o.send(ctx, "ch", "a", []byte("a"))
	b.set(false)
	o.send(ctx, "ch", "b", []byte("b"))
	b.set(true)
	back := time.Now()
	o.send(ctx, "ch", "c", []byte("c")) // queued behind b, though the bus is up
	if got := b.published(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("published %v before the bus settled, want [a]", got)
	}
	if n := o.flush(ctx); n != 2 || time.Since(back) >= outboxSettle {
		t.Fatalf("flush right after the bus came back left %d, want 2 (nothing sent before it settles)", n)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { o.run(rctx); close(done) }()
	deadline := time.Now().Add(outboxSettle + 5*time.Second)
	for len(b.published()) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the outbox's own ticker is what is tested
	}
	cancel()
	<-done
	if got := b.published(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("published %v, want [a b c]", got)
	}
	if waited := time.Since(back); waited < outboxSettle {
		t.Fatalf("sent %v after the bus came back, before it settled (%v)", waited, outboxSettle)
	}
}
