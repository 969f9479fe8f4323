package bus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
)

// collector records deliveries and lets a test wait for them.
type collector struct {
	mu   sync.Mutex
	got  []string
	wake chan struct{}
}

func newCollector() *collector { return &collector{wake: make(chan struct{}, 1)} }

func (c *collector) handle(channel string, payload []byte) {
	c.mu.Lock()
	c.got = append(c.got, channel+"="+string(payload))
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// waitN waits until n messages arrived and returns them.
func (c *collector) waitN(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			got := append([]string(nil), c.got...)
			c.mu.Unlock()
			return got
		}
		c.mu.Unlock()
		select {
		case <-c.wake:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("got %d messages, want %d: %v", len(c.got), n, c.got)
		}
	}
}

type factory func(t *testing.T, h bus.Handler) bus.Bus

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func factories() map[string]factory {
	return map[string]factory{
		"memory": func() factory {
			var once sync.Once
			var broker *bus.MemoryBroker
			return func(t *testing.T, h bus.Handler) bus.Bus {
				once.Do(func() { broker = bus.NewMemoryBroker() })
				b := broker.Connect(h)
				t.Cleanup(func() { b.Close() })
				return b
			}
		}(),
		"redis": func() factory {
			var r *testenv.Redis
			return func(t *testing.T, h bus.Handler) bus.Bus {
				if r == nil {
					r = testenv.StartRedis(t)
				}
				b, err := bus.NewRedis(context.Background(), r.URL, h, quiet())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}
		}(),
		"redis-cluster": func() factory {
			var c *testenv.RedisCluster
			return func(t *testing.T, h bus.Handler) bus.Bus {
				if c == nil {
					c = testenv.StartRedisCluster(t)
				}
				b, err := bus.NewRedis(context.Background(), c.URL, h, quiet())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { b.Close() })
				return b
			}
		}(),
	}
}

func TestBus(t *testing.T) {
	for name, mk := range factories() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			sub := newCollector()
			a := mk(t, sub.handle)
			b := mk(t, func(string, []byte) {})

			if err := a.Subscribe(ctx, "x", "y"); err != nil {
				t.Fatal(err)
			}
			// Subscribe returned: everything published from now on arrives, in order.
			for i := range 100 {
				if err := b.Publish(ctx, "x", fmt.Appendf(nil, "%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			b.Publish(ctx, "not-subscribed", []byte("no"))
			b.Publish(ctx, "y", []byte("last"))
			got := sub.waitN(t, 101, 5*time.Second)
			for i := range 100 {
				if want := fmt.Sprintf("x=%d", i); got[i] != want {
					t.Fatalf("message %d = %q, want %q", i, got[i], want)
				}
			}
			if got[100] != "y=last" {
				t.Fatalf("last = %q", got[100])
			}

			// After Unsubscribe, x is silent but y still flows.
			if err := a.Unsubscribe(ctx, "x"); err != nil {
				t.Fatal(err)
			}
			// A marker on y published after x proves ordering: nothing of x may precede it.
			if err := a.Subscribe(ctx, "y"); err != nil { // also confirms the unsubscribe was processed
				t.Fatal(err)
			}
			b.Publish(ctx, "x", []byte("dropped"))
			b.Publish(ctx, "y", []byte("marker"))
			got = sub.waitN(t, 102, 5*time.Second)
			if got[101] != "y=marker" {
				t.Fatalf("after unsubscribe got %q", got[101])
			}

			// Claims are exclusive until they expire.
			key := "claim:" + name
			ok1, err := a.Claim(ctx, key, 200*time.Millisecond)
			if err != nil || !ok1 {
				t.Fatalf("first claim = %v, %v", ok1, err)
			}
			if ok, _ := b.Claim(ctx, key, time.Second); ok {
				t.Fatal("second claim succeeded")
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				ok, err := b.Claim(ctx, key, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("claim never expired")
				}
				time.Sleep(20 * time.Millisecond) // waiting on a clock, not on an event
			}
		})
	}
}

func TestClaimConcurrent(t *testing.T) {
	for name, mk := range factories() {
		t.Run(name, func(t *testing.T) {
			buses := []bus.Bus{mk(t, func(string, []byte) {}), mk(t, func(string, []byte) {}), mk(t, func(string, []byte) {})}
			var wins sync.Map
			var wg sync.WaitGroup
			for i := range 300 {
				for _, b := range buses {
					wg.Go(func() {
						ok, err := b.Claim(context.Background(), fmt.Sprintf("cc:%s:%d", name, i), time.Minute)
						if err != nil {
							t.Error(err)
						}
						if ok {
							if _, dup := wins.LoadOrStore(i, true); dup {
								t.Errorf("key %d claimed twice", i)
							}
						}
					})
				}
			}
			wg.Wait()
			n := 0
			wins.Range(func(any, any) bool { n++; return true })
			if n != 300 {
				t.Fatalf("%d keys claimed, want 300", n)
			}
		})
	}
}

// TestRedisRestart: Redis dies and comes back on the same port; the bus
// resubscribes by itself and traffic flows again.
func TestRedisRestart(t *testing.T) {
	r := testenv.StartRedis(t)
	ctx := context.Background()
	sub := newCollector()
	a, err := bus.NewRedis(ctx, r.URL, sub.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewRedis(ctx, r.URL, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Subscribe(ctx, "ch"); err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, "ch", []byte("before"))
	sub.waitN(t, 1, 5*time.Second)

	r.Stop()
	if err := b.Publish(ctx, "ch", []byte("while down")); err == nil {
		t.Fatal("publish with Redis down succeeded")
	}
	r.Start()

	// Keep publishing until the resubscribed bus hears one: it must within 5 s.
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; ; i++ {
		b.Publish(ctx, "ch", fmt.Appendf(nil, "after-%d", i))
		sub.mu.Lock()
		n := len(sub.got)
		sub.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message delivered within 5 s of Redis coming back")
		}
		select {
		case <-sub.wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
}
