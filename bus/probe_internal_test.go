package bus

import (
	"context"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
)

// TestProbeAnswersOnceRedisIsBack: a probe whose ping failed while Redis was
// down answers as soon as Redis is back. go-redis's pool, after one failed
// dial with the probe's one connection, refuses to dial for up to a second,
// and the bus would be reported down while it is up.
func TestProbeAnswersOnceRedisIsBack(t *testing.T) {
	r := testenv.StartRedis(t)
	conn, err := dialRedis(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.client.Close()
	p := newProber(conn.probe)
	defer p.Close()
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		return p.ping(ctx)
	}
	if err := ping(); err != nil {
		t.Fatalf("Redis up: %v", err)
	}
	r.Stop()
	err = ping()
	if err == nil || !unreachable(err) {
		t.Fatalf("Redis down: %v, want a refused connection", err)
	}
	back := time.Now()
	r.Start()
	if err := ping(); err != nil {
		t.Fatalf("Redis back for %v: the probe still fails: %v", time.Since(back).Round(time.Millisecond), err)
	}
}
