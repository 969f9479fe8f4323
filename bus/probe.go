package bus

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// prober pings Redis for the health probe (health.go) on a client of its
// own, with short timeouts and no retries (newProbeClient).
//
// After a failed ping the client is replaced by a new one. go-redis's
// pool stops dialling once its dials have failed PoolSize times (for the
// probe's one connection: once) and hands out the last dial error until a
// background dial, tried once a second, gets through; the probe would go
// on failing for up to a second after Redis is back, and with it every
// call on a bus that is in fact up again (an agent's reply to a request it
// has just heard).
type prober struct {
	client redis.UniversalClient
	dial   func() redis.UniversalClient
}

func newProber(dial func() redis.UniversalClient) *prober {
	return &prober{client: dial(), dial: dial}
}

// ping pings once. Not safe for concurrent use: the probe's goroutine is
// its only caller.
func (p *prober) ping(ctx context.Context) error {
	err := p.client.Ping(ctx).Err()
	if err != nil {
		_ = p.client.Close()
		p.client = p.dial()
	}
	return err
}

func (p *prober) Close() error { return p.client.Close() }
