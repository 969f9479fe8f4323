package hub

import (
	"runtime"
	"sync"
)

// Broadcasts (nodes, tasks) go out from one goroutine of the hub's, the
// fan-out, which takes every message waiting when it wakes: messages on
// one channel that arrive while it is still writing the previous ones go
// to every client as one frame (a JSON array of notifications, as a
// client that is behind gets anyway), framed once for all. One message
// alone is one frame, written at once to every client with nothing
// waiting (see Client.enqueue). So a quiet hub adds no delay, and a busy
// one makes one write per client for many messages instead of one each.

// maxFanoutBacklog bounds, in bytes, the broadcasts waiting for the
// fan-out; Broadcast waits for room past it.
const maxFanoutBacklog = 16 << 20

type bcast struct {
	channel string
	msg     []byte
}

type fanout struct {
	mu      sync.Mutex
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

// put queues a broadcast, waiting while the backlog is full. It reports
// false once the hub is closing.
func (f *fanout) put(channel string, msg []byte) bool {
	f.mu.Lock()
	for f.bytes > maxFanoutBacklog && !f.stopped {
		f.room.Wait()
	}
	if f.stopped {
		f.mu.Unlock()
		return false
	}
	f.queue = append(f.queue, bcast{channel, msg})
	f.bytes += len(msg)
	first := len(f.queue) == 1
	f.mu.Unlock()
	if first {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// take returns everything queued.
func (f *fanout) take() []bcast {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.queue
	f.queue, f.spare = f.spare[:0], nil
	f.bytes = 0
	f.room.Broadcast()
	return q
}

// done gives back the array take returned.
func (f *fanout) done(q []bcast) {
	clear(q)
	f.mu.Lock()
	if f.spare == nil {
		f.spare = q[:0]
	}
	f.mu.Unlock()
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
	var targets []*Client
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
			for j < len(q) && q[j].channel == ch && size+len(q[j].msg)+1 <= maxFrameOut-2 {
				size += len(q[j].msg) + 1
				j++
			}
			var f []byte
			if j == i+1 {
				f = textFrame(q[i].msg)
			} else {
				buf = append(buf[:0], '[')
				for k := i; k < j; k++ {
					if k > i {
						buf = append(buf, ',')
					}
					buf = append(buf, q[k].msg...)
				}
				f = textFrame(append(buf, ']'))
			}
			i = j
			targets = h.subscribers(ch, targets[:0])
			sendAll(targets, f)
		}
		clear(targets)
		h.fan.done(q)
	}
}

// subscribers appends the clients subscribed to a plain channel to dst.
func (h *Hub) subscribers(channel string, dst []*Client) []*Client {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.subs[channel] {
		dst = append(dst, c)
	}
	return dst
}

// shardMin is the fewest clients a fan-out shares with another goroutine:
// below it, waking one costs more than the writes it would take over.
const shardMin = 256

// sendAll sends f to every client, the writes spread over as many
// goroutines as there are processors to run them when there are many
// clients. It returns once every client has it written or queued, so
// the next frame cannot overtake it.
func sendAll(clients []*Client, f []byte) {
	k := min(runtime.GOMAXPROCS(0), len(clients)/shardMin)
	if k <= 1 {
		for _, c := range clients {
			c.enqueue(f)
		}
		return
	}
	var wg sync.WaitGroup
	per := (len(clients) + k - 1) / k
	for i := per; i < len(clients); i += per {
		part := clients[i:min(i+per, len(clients))]
		wg.Go(func() {
			for _, c := range part {
				c.enqueue(f)
			}
		})
	}
	for _, c := range clients[:per] {
		c.enqueue(f)
	}
	wg.Wait()
}
