package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/bus"
)

// maxOutbox bounds the messages an outbox keeps (a task_status event is
// about half a kilobyte, so a few megabytes at most). Past it the oldest
// is dropped, logged: the store still has what it said, and browsers
// read it on their next load.
const maxOutbox = 10000

// outboxRetry is how often an outbox tries again when its bus cannot
// tell it that the bus is back (it is not a bus.Watcher), and the longest
// it waits even when it can.
const outboxRetry = time.Second

// outbox publishes the messages masters must not miss: a task's status
// changes and the ends of its log and items. PubSub is fire and forget,
// so a message published while Redis is unreachable is lost; a message
// that could not be published waits here instead, with every later one
// queued behind it so they keep their order, and they go out when the
// bus is back. Messages are sent again as they were encoded (the same
// envelope id), so a master can tell a message it already had.
//
// Live log and item batches do not come here: a master that misses some
// catches them up by line number (see tasklog), and heartbeats and
// replies are stale once late.
type outbox struct {
	bus bus.Bus
	log *slog.Logger

	mu    sync.Mutex
	queue []outMsg
	seq   uint64        // the last message's number
	wake  chan struct{} // capacity 1: the bus is back
}

type outMsg struct {
	channel, what string // what: for the log
	payload       []byte
	seq           uint64
}

func newOutbox(b bus.Bus, log *slog.Logger) *outbox {
	o := &outbox{bus: b, log: log, wake: make(chan struct{}, 1)}
	if w, ok := b.(bus.Watcher); ok {
		w.Watch(func(up bool) {
			if up {
				select {
				case o.wake <- struct{}{}:
				default:
				}
			}
		})
	}
	return o
}

// send publishes payload now if nothing waits before it and the bus takes
// it, else queues it. It never blocks past ctx.
func (o *outbox) send(ctx context.Context, channel, what string, payload []byte) {
	o.mu.Lock()
	waiting := len(o.queue) > 0
	o.mu.Unlock()
	if !waiting {
		err := o.bus.Publish(ctx, channel, payload)
		if err == nil {
			return
		}
		o.log.Warn("not published; kept to send when the bus is back", "what", what, "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) >= maxOutbox {
		o.log.Warn("outbox full: dropped its oldest message (the store has what it said)", "what", o.queue[0].what)
		o.queue = o.queue[1:]
	}
	o.seq++
	o.queue = append(o.queue, outMsg{channel: channel, what: what, payload: payload, seq: o.seq})
}

// run sends what waits whenever the bus comes back, and every
// outboxRetry, until ctx ends.
func (o *outbox) run(ctx context.Context) {
	t := time.NewTicker(outboxRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-t.C:
		}
		o.flush(ctx)
	}
}

// flush sends the queued messages in order until one fails or ctx ends.
// It reports how many are left.
func (o *outbox) flush(ctx context.Context) int {
	sent := 0
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.mu.Unlock()
			if sent > 0 {
				o.log.Info("bus back: sent what was kept", "messages", sent)
			}
			return 0
		}
		m := o.queue[0]
		o.mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := o.bus.Publish(pctx, m.channel, m.payload)
		cancel()
		o.mu.Lock()
		if err != nil {
			n := len(o.queue)
			o.mu.Unlock()
			return n
		}
		// Unless send dropped it meanwhile (a full queue), m is the head.
		if len(o.queue) > 0 && o.queue[0].seq == m.seq {
			o.queue = o.queue[1:]
		}
		o.mu.Unlock()
		sent++
	}
}
