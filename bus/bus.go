// Package bus carries crawlhub's messages between masters and agents. Two
// implementations satisfy Bus: Redis PubSub (cluster mode; any number of
// processes; one Redis, Redis Cluster or Sentinel: docs/redis.md) and
// Memory (the all-in-one; one process).
package bus

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is returned by calls on a closed bus.
var ErrClosed = errors.New("bus closed")

// Handler receives every message published on a channel the bus is
// subscribed to. Calls never overlap (on Redis Cluster they come from one
// receive goroutine per connection, one at a time) and keep publish order
// per channel; a call holds up every delivery, so it must not block: hand
// work off and return.
type Handler func(channel string, payload []byte)

// Bus is a publish/subscribe transport plus a claim primitive.
//
// One Bus holds one upstream subscription set, changed with Subscribe and
// Unsubscribe; every message on any subscribed channel goes to the Handler
// given at construction. Subscribe returns once the subscription is active
// upstream, so a message published after it returns is delivered. Messages
// published while the transport is down are lost (PubSub is fire and
// forget); the Redis implementation reconnects and resubscribes by itself.
//
// Methods are safe for concurrent use.
type Bus interface {
	Publish(ctx context.Context, channel string, payload []byte) error
	Subscribe(ctx context.Context, channels ...string) error
	Unsubscribe(ctx context.Context, channels ...string) error
	// Claim sets key if it is not set (Redis SET NX with expiry) and reports
	// whether this caller got it. It is how a task is claimed exactly once.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Close stops the receive goroutine and releases the connection.
	Close() error
}
