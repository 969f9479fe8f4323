package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/internal/redact"
)

var (
	_ Bus     = (*Redis)(nil)
	_ Watcher = (*Redis)(nil)
)

// pingEvery bounds how long a silent PubSub connection goes unchecked: a
// receive that times out sends a PING, so a dead connection is noticed and
// replaced within about twice this.
const pingEvery = 5 * time.Second

// Redis is a Bus on Redis PubSub: one Redis, Redis Cluster or a master
// found through Sentinel (see dialRedis). It keeps one PubSub connection for
// its ordinary subscriptions, one per hash slot for sharded ones on a
// cluster (redisshard.go), and a client pool for PUBLISH and SET NX. When
// Redis goes away it keeps trying, and when Redis is back it resubscribes to
// every channel and logs that it did.
type Redis struct {
	client  redis.UniversalClient
	ps      *redis.PubSub
	shards  *shardSubs // Redis Cluster only: sharded subscriptions
	handler Handler
	hmu     sync.Mutex // handler calls never overlap, whichever connection they come from
	log     *slog.Logger
	health          // Up and Watch; see health.go
	probe   *prober // the health probe's own connection, with short timeouts

	mu      sync.Mutex
	waiters map[string][]chan error // subscribe confirmations awaited; buffered(1)

	cancel context.CancelFunc
	done   chan struct{}
	probed chan struct{} // closed when the probe has stopped
}

// NewRedis connects to the Redis that url names (redis://host:port/db, or
// a cluster or Sentinel URL: see dialRedis) and starts the receive
// goroutine, which runs until Close. It fails if Redis does not answer a
// PING within ctx.
func NewRedis(ctx context.Context, url string, h Handler, log *slog.Logger) (*Redis, error) {
	// The URL may hold a password: errors show it redacted, wherever the
	// driver quotes it.
	routeRedisLogs.Do(func() { redis.SetLogger(redisLogger{log}) })
	conn, err := dialRedis(url)
	if err != nil {
		return nil, redact.Error(fmt.Errorf("bus: redis url %q: %w", url, err), url)
	}
	client := conn.client
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		if conn.master != "" && errors.Is(err, redis.Nil) {
			// The sentinels answered, without a master of that name.
			return nil, redact.Error(fmt.Errorf("bus: %s: the sentinels know no master named %q (sentinel monitor <name> …)", conn.where, conn.master), url)
		}
		return nil, redact.Error(fmt.Errorf("bus: redis at %s does not answer (is redis-server running, and are the user and password right?): %w", conn.where, err), url)
	}
	rctx, cancel := context.WithCancel(context.Background())
	b := &Redis{
		client:  client,
		ps:      client.Subscribe(rctx),
		handler: h,
		log:     log,
		health:  newHealth(log),
		probe:   newProber(conn.probe),
		waiters: map[string][]chan error{},
		cancel:  cancel,
		done:    make(chan struct{}),
		probed:  make(chan struct{}),
	}
	if conn.cluster != nil {
		b.shards = newShardSubs(rctx, conn.cluster, b.receive, b.confirmed)
	}
	go func() {
		defer close(b.done)
		b.receive(rctx, b.ps)
	}()
	go func() {
		defer close(b.probed)
		b.health.probe(rctx, b.probe.ping)
	}()
	return b, nil
}

// receive reads one PubSub connection until ctx ends.
func (b *Redis) receive(ctx context.Context, ps *redis.PubSub) {
	down := false
	defer func() {
		if down {
			b.health.setPubSub(true) // a connection closed while broken no longer counts
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		wait := pingEvery
		if down {
			// A connection with no channels to subscribe again gets no
			// confirmation after reconnecting: the PING a short wait sends
			// is what tells it is back.
			wait = 250 * time.Millisecond
		}
		msg, err := ps.ReceiveTimeout(ctx, wait)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var refused redis.Error
			if errors.As(err, &refused) {
				// An error reply, not a lost connection: Redis refused a
				// command (a SUBSCRIBE the ACL denies: NOPERM). Replies carry
				// no channel, so every subscription awaited fails with it;
				// a refusal must not leave a Subscribe waiting forever.
				b.failWaiters(err)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet, not necessarily dead: a PING makes the next receive
				// fail fast if the connection is gone.
				if err := ps.Ping(ctx); err == nil {
					continue
				}
			}
			if !down {
				b.log.Warn("redis pubsub connection lost; reconnecting", "err", err)
				down = true
				b.health.setPubSub(false)
			}
			if b.shards != nil {
				// The node may be gone for good, its slots served by a
				// promoted replica: the reconnection goes to the slot's
				// owner in the cluster's layout, read again (lazily, at
				// most once per 200 ms).
				b.shards.cluster.ReloadState(ctx)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			// Capped low: resubscribing soon after Redis is back is what
			// keeps messages from being lost for longer than needed.
			backoff = min(backoff*2, 250*time.Millisecond)
			continue
		}
		backoff = 50 * time.Millisecond
		switch m := msg.(type) {
		case *redis.Message:
			b.hmu.Lock()
			b.handler(m.Channel, []byte(m.Payload))
			b.hmu.Unlock()
		case *redis.Subscription:
			if down {
				b.log.Info("redis pubsub reconnected and resubscribed")
				down = false
				b.health.setPubSub(true)
			}
			if m.Kind == "sunsubscribe" && b.shards != nil {
				b.shards.moved(ps, m.Channel)
			}
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				b.confirmed(m.Channel)
			}
		case *redis.Pong:
			if down {
				b.log.Info("redis pubsub reconnected")
				down = false
				b.health.setPubSub(true)
			}
		}
	}
}

// confirmed ends every Subscribe waiting for channel's confirmation.
func (b *Redis) confirmed(channel string) {
	b.mu.Lock()
	ws := b.waiters[channel]
	delete(b.waiters, channel)
	b.mu.Unlock()
	for _, w := range ws {
		w <- nil // buffered(1), and removed from the map: never blocks
	}
}

// failWaiters ends every Subscribe waiting for a confirmation with err.
func (b *Redis) failWaiters(err error) {
	b.mu.Lock()
	ws := b.waiters
	b.waiters = map[string][]chan error{}
	b.mu.Unlock()
	for _, list := range ws {
		for _, w := range list {
			w <- err
		}
	}
}

// go-redis logs through a package-level logger; it is routed once, to the
// first bus's logger at debug level: the bus itself reports what matters
// (connection lost, reconnected) at warn and info.
var routeRedisLogs sync.Once

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("go-redis: " + fmt.Sprintf(format, v...))
}

// Publish sends payload to every subscriber of channel.
// While the bus is down it fails at once with ErrUnavailable.
func (b *Redis) Publish(ctx context.Context, channel string, payload []byte) error {
	err := b.health.check()
	if err == nil {
		err = b.health.failed(ctx, b.publish(ctx, channel, payload))
	}
	if err != nil {
		return fmt.Errorf("bus: publish on %s: %w", channel, err)
	}
	return nil
}

// Subscribe adds channels and waits until Redis confirms each of them.
// While the bus is down it fails at once with ErrUnavailable.
func (b *Redis) Subscribe(ctx context.Context, channels ...string) error {
	if err := b.health.check(); err != nil {
		return fmt.Errorf("bus: subscribe %v: %w", channels, err)
	}
	ws := make([]chan error, len(channels))
	b.mu.Lock()
	for i, c := range channels {
		ws[i] = make(chan error, 1)
		b.waiters[c] = append(b.waiters[c], ws[i])
	}
	b.mu.Unlock()
	err := b.subscribe(ctx, channels)
	for i, c := range channels {
		if err == nil {
			select {
			case err = <-ws[i]:
				if err == nil {
					continue
				}
			case <-ctx.Done():
				err = ctx.Err()
			case <-b.done:
				err = ErrClosed
			}
		}
		b.dropWaiter(c, ws[i])
	}
	if err != nil {
		// go-redis would subscribe to them again after a reconnection.
		uctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = b.unsubscribe(uctx, channels)
		cancel()
		return fmt.Errorf("bus: subscribe %v: %w", channels, err)
	}
	return nil
}

func (b *Redis) dropWaiter(channel string, w chan error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := b.waiters[channel]
	for i := range ws {
		if ws[i] == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(b.waiters, channel)
	} else {
		b.waiters[channel] = ws
	}
}

// Unsubscribe removes channels. It does not wait for Redis to confirm: a
// message that still arrives for them is harmless to the handler.
func (b *Redis) Unsubscribe(ctx context.Context, channels ...string) error {
	if err := b.unsubscribe(ctx, channels); err != nil {
		return fmt.Errorf("bus: unsubscribe %v: %w", channels, err)
	}
	return nil
}

// Claim is SET key 1 NX PX ttl. While the bus is down it fails at once
// with ErrUnavailable.
func (b *Redis) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := b.health.check(); err != nil {
		return false, fmt.Errorf("bus: claim %s: %w", key, err)
	}
	ok, err := b.client.SetNX(ctx, key, 1, ttl).Result()
	if err = b.health.failed(ctx, err); err != nil {
		return false, fmt.Errorf("bus: claim %s: %w", key, err)
	}
	return ok, nil
}

// Close stops receiving and closes the connections.
func (b *Redis) Close() error {
	b.cancel()
	err := b.ps.Close()
	if b.shards != nil {
		err = errors.Join(err, b.shards.close())
	}
	<-b.done
	<-b.probed
	return errors.Join(err, b.client.Close(), b.probe.Close())
}
