package hub

import (
	"context"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
)

// Resync makes every stream subscription read its stream again from the
// next entry its client needs, as if it had seen a gap. Call it when the
// bus is back after an outage: the batches published meanwhile never came
// (PubSub is fire and forget), and a task that ended meanwhile would
// otherwise wait for an end that was never heard. It returns at once; the
// reads run on each client's goroutines.
func (h *Hub) Resync() {
	h.mu.RLock()
	var subs []*streamSub
	for _, m := range h.subs {
		for _, s := range m {
			if s != nil {
				subs = append(subs, s)
			}
		}
	}
	h.mu.RUnlock()
	for _, s := range subs {
		s.c.goCall(s.resync)
	}
}

// resync catches up s from its stream. A task that has ended gets the end
// it may have missed: the store has its whole stream, so it is sent once
// every entry has been.
func (s *streamSub) resync() {
	ctx, cancel := context.WithTimeout(s.c.ctx, streamCheckTimeout)
	ended, status, err := s.c.hub.backend.TaskEnded(ctx, s.taskID)
	cancel()
	s.mu.Lock()
	if s.ended || s.stopped {
		s.mu.Unlock()
		return
	}
	if err == nil && ended && s.end == nil {
		s.end = &liveBatch{taskID: s.taskID, end: true, status: status, total: -1}
	}
	if s.catching {
		// A catch-up is running: it reads to the end and applies the end.
		s.mu.Unlock()
		return
	}
	s.catching = true
	s.mu.Unlock()
	s.catchUp()
}

// streamCheckTimeout bounds the store read of whether a task has ended.
const streamCheckTimeout = 10 * time.Second

// sendInitial sends a new subscriber of channel its current state, if
// Config.Initial has one. After the reply, so the client knows the
// channel it is on.
func (c *Client) sendInitial(channel string) {
	if c.hub.cfg.Initial == nil {
		return
	}
	data := c.hub.cfg.Initial(channel)
	if data == nil {
		return
	}
	msg, err := encodePublish(channel, data)
	if err != nil {
		c.hub.log.Error("initial state not encoded", "channel", channel, "err", err)
		return
	}
	c.conn.Enqueue(wsconn.TextFrame(msg))
}
