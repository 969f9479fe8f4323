package bus

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable is returned at once by Publish, Subscribe and Claim while
// the bus knows its server is unreachable, instead of each call waiting
// out a timeout; and it wraps the error of a call that found out. Use
// errors.Is.
var ErrUnavailable = errors.New("cluster bus unavailable (Redis does not answer)")

// Watcher is a Bus whose transport can go away (Redis). The Memory bus
// never goes away and does not implement it.
type Watcher interface {
	// Up reports whether the bus is connected and, after an outage,
	// subscribed again to every channel it was subscribed to.
	Up() bool
	// Watch adds fn, called with every change of Up, in order, from a
	// goroutine of the bus. fn must not block.
	Watch(fn func(up bool))
}

// The probe of a Redis: how often it is pinged and how long a ping may
// take. A Redis that hangs (stopped, or its host unreachable) is noticed
// within probeEvery+probeTimeout; one that is gone (connection refused or
// reset) at the first failed call or ping.
const (
	probeEvery   = time.Second
	probeTimeout = time.Second
)

// health is whether a bus's server can be reached. Two things must hold
// for the bus to be up: the server answers pings (probe), and the PubSub
// connections (one, or one per hash slot in use on Redis Cluster) have
// each been subscribed again since they last broke (pubsub).
// Until then messages to this bus's subscriptions would be lost, so the
// bus does not claim to be up.
type health struct {
	log   *slog.Logger
	every time.Duration // how often the probe pings; probeEvery
	// kick makes the probe ping at once instead of at its next tick: a
	// PubSub connection subscribed again is news that Redis may be back,
	// and calls would fail until the probe agreed (one buffered signal).
	kick chan struct{}

	mu       sync.Mutex // guards the fields below
	notifyMu sync.Mutex // held while watchers run, taken before mu is let go: they see the changes in order
	probeBad bool
	psBad    int // PubSub connections broken and not yet subscribed again
	down     bool
	watchers []func(up bool)
}

// Up implements Watcher.
func (h *health) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.down
}

// Watch implements Watcher.
func (h *health) Watch(fn func(up bool)) {
	h.mu.Lock()
	h.watchers = append(h.watchers, fn)
	h.mu.Unlock()
}

// setProbe and setPubSub record one side's state and tell the watchers if
// the bus went down or came back. A PubSub connection calls setPubSub only
// when its own state changes (false when it breaks, true when it is back
// or given up), so the calls pair up.
func (h *health) setProbe(ok bool) { h.set(func() { h.probeBad = !ok }) }
func (h *health) setPubSub(ok bool) {
	probeBad := false
	h.set(func() {
		if ok {
			h.psBad = max(0, h.psBad-1)
		} else {
			h.psBad++
		}
		probeBad = h.probeBad
	})
	if ok && probeBad {
		select {
		case h.kick <- struct{}{}:
		default: // a ping is already due
		}
	}
}

func newHealth(log *slog.Logger) health {
	return health{log: log, every: probeEvery, kick: make(chan struct{}, 1)}
}

func (h *health) set(change func()) {
	h.mu.Lock()
	change()
	down := h.probeBad || h.psBad > 0
	if down == h.down {
		h.mu.Unlock()
		return
	}
	h.down = down
	ws := h.watchers
	h.notifyMu.Lock()
	h.mu.Unlock()
	defer h.notifyMu.Unlock()
	if down {
		h.log.Warn("cluster bus unavailable: Redis does not answer; calls that need it fail at once until it is back")
	} else {
		h.log.Info("cluster bus available again")
	}
	for _, fn := range ws {
		fn(!down)
	}
}

// check is the error of a call made while the bus is down, else nil.
func (h *health) check() error {
	if h.Up() {
		return nil
	}
	return ErrUnavailable
}

// failed notes that a call got err. A connection that was refused, reset
// or closed by the server means Redis cannot be reached, and the bus is
// down until the probe says otherwise; anything else (Redis's own error
// reply, the caller's deadline, a pool busy under load) is the call's
// failure only, and a Redis that hangs is left to the probe. It returns
// err, wrapping ErrUnavailable when the bus went down for it.
func (h *health) failed(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !unreachable(err) {
		return err
	}
	h.setProbe(false)
	return errors.Join(ErrUnavailable, err)
}

// unreachable reports whether err says the server cannot be reached (as
// opposed to being slow, or answering with an error).
func unreachable(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// probe pings every h.every, and at once when kicked, with ping (which
// must give up after probeTimeout) until ctx ends.
func (h *health) probe(ctx context.Context, ping func(context.Context) error) {
	t := time.NewTicker(h.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.setProbe(err == nil)
	}
}
