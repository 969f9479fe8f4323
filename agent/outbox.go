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

// outboxRetry is how often an outbox looks whether it can send what it
// keeps.
const outboxRetry = 500 * time.Millisecond

// outboxSettle is how long the bus must have been back before what was
// kept is sent. Every process reconnects to Redis on its own: a master
// subscribes again within about a second of Redis coming back (its
// probe's period, plus at most 250 ms of backoff), and a message sent
// before it has would be lost again.
const outboxSettle = 2 * time.Second

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
	bus   bus.Bus
	watch bus.Watcher // nil: a bus that is always up
	log   *slog.Logger

	mu    sync.Mutex
	queue []outMsg
	seq   uint64    // the last message's number
	upAt  time.Time // when the bus last came back
}

type outMsg struct {
	channel, what string // what: for the log
	payload       []byte
	seq           uint64
}

func newOutbox(b bus.Bus, log *slog.Logger) *outbox {
	o := &outbox{bus: b, log: log}
	if w, ok := b.(bus.Watcher); ok {
		o.watch = w
		w.Watch(func(up bool) {
			if up {
				o.mu.Lock()
				o.upAt = time.Now()
				o.mu.Unlock()
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

// run sends what waits once the bus has been back for outboxSettle,
// looking every outboxRetry, until ctx ends.
func (o *outbox) run(ctx context.Context) {
	t := time.NewTicker(outboxRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		o.flush(ctx)
	}
}

// flush sends the queued messages in order until one fails or ctx ends,
// if the bus has been up for outboxSettle. It reports how many are left.
func (o *outbox) flush(ctx context.Context) int {
	if o.watch != nil {
		o.mu.Lock()
		settled := time.Since(o.upAt) >= outboxSettle
		n := len(o.queue)
		o.mu.Unlock()
		if !o.watch.Up() || !settled {
			return n
		}
	}
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
