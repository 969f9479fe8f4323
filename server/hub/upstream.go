package hub

import (
	"context"
	"sync"
	"time"
)

// The hub's upstream subscriptions: one bus subscription per channel,
// however many clients follow it, counted by reference.

// upstreamRef counts the local subscriptions holding one upstream channel.
type upstreamRef struct {
	mu   sync.Mutex // held across the bus call, so subscribe and unsubscribe of one channel never reorder
	refs int
}

// acquire takes a reference on an upstream channel, subscribing on the
// first. A failed subscribe is undone: the reference is not kept.
func (h *Hub) acquire(ctx context.Context, channel string) error {
	h.upMu.Lock()
	u := h.ups[channel]
	if u == nil {
		u = &upstreamRef{}
		h.ups[channel] = u
	}
	u.mu.Lock()
	h.upMu.Unlock()
	defer u.mu.Unlock()
	if u.refs == 0 {
		if err := h.upstream.Subscribe(ctx, channel); err != nil {
			h.upMu.Lock()
			if u.refs == 0 && h.ups[channel] == u {
				delete(h.ups, channel)
			}
			h.upMu.Unlock()
			return err
		}
	}
	u.refs++
	return nil
}

// release drops a reference, unsubscribing upstream on the last.
func (h *Hub) release(channel string) {
	h.upMu.Lock()
	u := h.ups[channel]
	if u == nil {
		h.upMu.Unlock()
		return
	}
	u.mu.Lock()
	h.upMu.Unlock()
	defer u.mu.Unlock()
	u.refs--
	if u.refs > 0 {
		return
	}
	h.upMu.Lock()
	if h.ups[channel] == u {
		delete(h.ups, channel)
	}
	h.upMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.upstream.Unsubscribe(ctx, channel); err != nil {
		h.log.Warn("upstream unsubscribe failed", "channel", channel, "err", err)
	}
}

// UpstreamRefs is how many local subscriptions hold an upstream channel.
func (h *Hub) UpstreamRefs(channel string) int {
	h.upMu.Lock()
	u := h.ups[channel]
	h.upMu.Unlock()
	if u == nil {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.refs
}
