package bus

import (
	"context"
	"sync"
	"time"
)

var _ Bus = (*Memory)(nil)

// MemoryBroker is the in-process broker the all-in-one uses instead of Redis.
// Each component connects its own Memory bus to the one broker, as each
// would open its own Redis connection.
type MemoryBroker struct {
	mu     sync.RWMutex
	buses  map[*Memory]struct{}
	claims map[string]time.Time // key → expiry
	// sweepAt is the size of claims at which Claim next sweeps out the
	// expired ones (see Claim).
	sweepAt int
}

// NewMemoryBroker returns an empty broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{buses: map[*Memory]struct{}{}, claims: map[string]time.Time{}}
}

// Connect returns a Bus on the broker whose messages go to h. Like Redis, a
// subscriber that is slow to handle messages never slows publishers: each
// bus queues its deliveries and one goroutine per bus, ended by Close,
// drains the queue in order.
func (b *MemoryBroker) Connect(h Handler) *Memory {
	m := &Memory{broker: b, handler: h, channels: map[string]int{}, wake: make(chan struct{}, 1), done: make(chan struct{}), closed: make(chan struct{})}
	b.mu.Lock()
	b.buses[m] = struct{}{}
	b.mu.Unlock()
	go m.deliver()
	return m
}

// Memory is one connection to a MemoryBroker.
type Memory struct {
	broker  *MemoryBroker
	handler Handler

	mu       sync.Mutex
	channels map[string]int // subscribed channels (a set; the count is unused beyond 1)
	queue    []delivery
	wake     chan struct{} // capacity 1: a pending wake-up is enough
	isClosed bool

	closed chan struct{} // closed by Close
	done   chan struct{} // closed when deliver returns
}

type delivery struct {
	channel string
	payload []byte
}

func (m *Memory) deliver() {
	defer close(m.done)
	for {
		select {
		case <-m.closed:
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			batch := m.queue
			m.queue = nil
			m.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, d := range batch {
				select {
				case <-m.closed:
					return
				default:
				}
				m.handler(d.channel, d.payload)
			}
		}
	}
}

func (m *Memory) enqueue(channel string, payload []byte) {
	m.mu.Lock()
	if _, ok := m.channels[channel]; !ok || m.isClosed {
		m.mu.Unlock()
		return
	}
	m.queue = append(m.queue, delivery{channel, payload})
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Publish delivers payload to every bus subscribed to channel. The payload
// is shared, not copied: handlers must not modify it.
func (m *Memory) Publish(ctx context.Context, channel string, payload []byte) error {
	if m.closedNow() {
		return ErrClosed
	}
	m.broker.mu.RLock()
	defer m.broker.mu.RUnlock()
	for b := range m.broker.buses {
		b.enqueue(channel, payload)
	}
	return nil
}

func (m *Memory) closedNow() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.isClosed
}

// Subscribe is active when it returns.
func (m *Memory) Subscribe(ctx context.Context, channels ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed {
		return ErrClosed
	}
	for _, c := range channels {
		m.channels[c] = 1
	}
	return nil
}

// Unsubscribe removes channels.
func (m *Memory) Unsubscribe(ctx context.Context, channels ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range channels {
		delete(m.channels, c)
	}
	return nil
}

// minSweep is the fewest claims the broker keeps before it sweeps.
const minSweep = 1024

// Claim sets key on the broker if it is unset or expired.
func (m *Memory) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if m.closedNow() {
		return false, ErrClosed
	}
	h := m.broker
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if exp, ok := h.claims[key]; ok && now.Before(exp) {
		return false, nil
	}
	// Expired claims are swept here, on the path that adds them, once the
	// map has doubled since the last sweep: the map stays within twice the
	// claims alive, and a sweep costs each claim O(1) on average (a sweep
	// per claim made 10,000 claims at once quadratic).
	if len(h.claims) >= h.sweepAt {
		for k, exp := range h.claims {
			if !now.Before(exp) {
				delete(h.claims, k)
			}
		}
		h.sweepAt = max(2*len(h.claims), minSweep)
	}
	h.claims[key] = now.Add(ttl)
	return true, nil
}

// Close disconnects from the broker and stops delivery; queued messages are
// dropped.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.isClosed {
		m.mu.Unlock()
		return nil
	}
	m.isClosed = true
	m.queue = nil
	m.mu.Unlock()
	m.broker.mu.Lock()
	delete(m.broker.buses, m)
	m.broker.mu.Unlock()
	close(m.closed)
	<-m.done
	return nil
}
