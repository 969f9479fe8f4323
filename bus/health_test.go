package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
)

// TestRedisUnavailableFailsFast: while Redis is killed, or hangs (SIGSTOP),
// the bus says it is down within 2 s and every call fails at once with
// ErrUnavailable; once Redis is back the bus says so (after resubscribing)
// and messages flow again.
func TestRedisUnavailableFailsFast(t *testing.T) {
	for _, kind := range []string{"killed", "stopped"} {
		t.Run(kind, func(t *testing.T) {
			r := testenv.StartRedis(t)
			ctx := context.Background()
			sub := newCollector()
			a, err := bus.NewRedis(ctx, r.URL, sub.handle, quiet())
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			changes := make(chan bool, 16)
			a.Watch(func(up bool) { changes <- up })
			if err := a.Subscribe(ctx, "ch"); err != nil {
				t.Fatal(err)
			}
			if !a.Up() {
				t.Fatal("a new bus is not up")
			}
			down := time.Now()
			if kind == "killed" {
				r.Stop()
			} else {
				r.Pause()
			}
			select {
			case up := <-changes:
				if up {
					t.Fatal("the bus said up when Redis went away")
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the bus did not notice Redis was gone within 3 s")
			}
			t.Logf("noticed after %v", time.Since(down).Round(time.Millisecond))
			for _, call := range []struct {
				name string
				do   func(context.Context) error
			}{
				{"publish", func(ctx context.Context) error { return a.Publish(ctx, "ch", []byte("x")) }},
				{"subscribe", func(ctx context.Context) error { return a.Subscribe(ctx, "other") }},
				{"claim", func(ctx context.Context) error { _, err := a.Claim(ctx, "k", time.Second); return err }},
			} {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				start := time.Now()
				err := call.do(cctx)
				took := time.Since(start)
				cancel()
				if !errors.Is(err, bus.ErrUnavailable) {
					t.Errorf("%s while down: %v, want ErrUnavailable", call.name, err)
				}
				if took > 100*time.Millisecond {
					t.Errorf("%s while down took %v: it must fail at once", call.name, took)
				}
			}

			if kind == "killed" {
				r.Start()
			} else {
				r.Resume()
			}
			select {
			case up := <-changes:
				if !up {
					t.Fatal("the bus said down twice")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the bus did not come back within 5 s of Redis")
			}
			// Up means resubscribed: a message published now is heard.
			if err := a.Publish(ctx, "ch", []byte("after")); err != nil {
				t.Fatal(err)
			}
			sub.waitN(t, 1, 5*time.Second)
		})
	}
}
