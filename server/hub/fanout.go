package hub

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
)

// Broadcasts (nodes, tasks, spiders) go out from one goroutine of the
// hub's, the fan-out, which takes every message waiting when it wakes:
// messages on one channel that arrive while it is still writing the
// previous ones go to every client as one frame (a JSON array of
// notifications, as a client that is behind gets anyway), framed once for
// all. One message alone is one frame, written at once to every client
// with nothing waiting (see wsconn.Conn.Enqueue). So a quiet hub adds no
// delay, and a busy one makes one write per client for many messages
// instead of one each.
//
// When the fan-out is idle and has been for a while, a message to not too
// many clients is sent by the broadcaster itself, saving the wake-up of
// the fan-out goroutine. "For a while" matters: a broadcaster that sends
// message after message (the bus's goroutine under load) would otherwise
// always find the fan-out idle, since it was the one sending, and no
// batch would ever form. Messages that come within inlineGap of the last
// send go to the fan-out goroutine, which batches them.

// maxFanoutBacklog bounds, in bytes, the broadcasts waiting for the
// fan-out; Broadcast waits for room past it.
const maxFanoutBacklog = 16 << 20

// inlineGap and inlineMax bound the broadcasts sent by the broadcaster
// itself (see above): the fan-out idle for inlineGap, at most inlineMax
// clients (so that the broadcaster, the bus's goroutine, is not held up
// for more than a few milliseconds).
const (
	inlineGap = 100 * time.Microsecond
	inlineMax = 1024
)

type bcast struct {
	channel string
	msg     []byte
}

type fanout struct {
	mu      sync.Mutex
	busy    bool      // a send is in progress (the fan-out's or an inline one)
	idle    time.Time // when the last send ended
	queue   []bcast
	spare   []bcast // the previous queue's array, reused
	bytes   int
	wake    chan struct{} // capacity 1: the queue has messages
	room    *sync.Cond    // signalled when the fan-out takes the queue
	stopped bool
}

func newFanout() *fanout {
	f := &fanout{wake: make(chan struct{}, 1)}
	f.room = sync.NewCond(&f.mu)
	return f
}

// putBroadcast queues a broadcast, waiting while the backlog is full, or
// sends it at once (see inlineGap). It reports false once the hub is
// closing.
func (h *Hub) putBroadcast(channel string, msg []byte) bool {
	f := h.fan
	f.mu.Lock()
	if !f.busy && len(f.queue) == 0 && !f.stopped && time.Since(f.idle) > inlineGap {
		targets := h.subscribers(channel)
		if len(targets) <= inlineMax {
			f.busy = true
			f.mu.Unlock()
			sendAll(targets, wsconn.TextFrame(msg))
			f.mu.Lock()
			f.busy = false
			f.idle = time.Now()
			more := len(f.queue) > 0
			f.mu.Unlock()
			if more {
				f.signal()
			}
			return true
		}
	}
	for f.bytes > maxFanoutBacklog && !f.stopped {
		f.room.Wait()
	}
	if f.stopped {
		f.mu.Unlock()
		return false
	}
	f.queue = append(f.queue, bcast{channel, msg})
	f.bytes += len(msg)
	first := len(f.queue) == 1 && !f.busy
	f.mu.Unlock()
	if first {
		f.signal()
	}
	return true
}

func (f *fanout) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// take returns everything queued, marking the fan-out busy.
func (f *fanout) take() []bcast {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queue
	f.queue, f.spare = f.spare[:0], nil
	f.bytes = 0
	f.busy = len(q) > 0
	f.room.Broadcast()
	return q
}

// done gives back the array take returned, ending the busy spell; it
// reports whether more is waiting.
func (f *fanout) done(q []bcast) bool {
	clear(q)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.spare == nil {
		f.spare = q[:0]
	}
	f.busy = false
	f.idle = time.Now()
	return len(f.queue) > 0
}

func (f *fanout) stop() {
	f.mu.Lock()
	f.stopped = true
	f.room.Broadcast()
	f.mu.Unlock()
}

// runFanout is the fan-out goroutine; it ends with the hub.
func (h *Hub) runFanout() {
	defer h.wg.Done()
	defer h.fan.stop()
	var buf []byte
	for {
		select {
		case <-h.fan.wake:
		case <-h.ctx.Done():
			return
		}
		q := h.fan.take()
		for i := 0; i < len(q); {
			// A run of messages on one channel, as long as fits a frame.
			ch := q[i].channel
			j, size := i+1, len(q[i].msg)
			for j < len(q) && q[j].channel == ch && size+len(q[j].msg)+1 <= wsconn.MaxFrameOut-2 {
				size += len(q[j].msg) + 1
				j++
			}
			var f []byte
			if j == i+1 {
				f = wsconn.TextFrame(q[i].msg)
			} else {
				buf = append(buf[:0], '[')
				for k := i; k < j; k++ {
					if k > i {
						buf = append(buf, ',')
					}
					buf = append(buf, q[k].msg...)
				}
				f = wsconn.TextFrame(append(buf, ']'))
			}
			i = j
			sendAll(h.subscribers(ch), f)
		}
		if h.fan.done(q) {
			h.fan.signal()
		}
	}
}

// subscribers are the clients subscribed to a plain channel. The list is
// kept until the channel's subscribers change: do not modify it.
func (h *Hub) subscribers(channel string) []*Client {
	h.mu.RLock()
	l, ok := h.lists[channel]
	h.mu.RUnlock()
	if ok {
		return l
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if l, ok := h.lists[channel]; ok {
		return l
	}
	m := h.subs[channel]
	l = make([]*Client, 0, len(m))
	for c := range m {
		l = append(l, c)
	}
	// In the order they connected: the first come get a message first.
	slices.SortFunc(l, func(a, b *Client) int { return cmp.Compare(a.seq, b.seq) })
	h.lists[channel] = l
	return l
}

// shardMin is the fewest clients a fan-out shares with another goroutine:
// below it, waking one costs more than the writes it would take over.
const shardMin = 50

// sendAll sends f to every client, the writes spread over as many
// goroutines as there are processors to run them when there are many
// clients. It returns once every client has it written or queued, so
// the next frame cannot overtake it.
func sendAll(clients []*Client, f []byte) {
	k := min(runtime.GOMAXPROCS(0), len(clients)/shardMin)
	if k <= 1 {
		for _, c := range clients {
			c.conn.Enqueue(f)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(clients) + k - 1) / k
	for i := per; i < len(clients); i += per {
		part := clients[i:min(i+per, len(clients))]
		wg.Go(func() {
			for _, c := range part {
				c.conn.Enqueue(f)
			}
		})
	}
	for _, c := range clients[:per] {
		c.conn.Enqueue(f)
	}
	wg.Wait()
}
