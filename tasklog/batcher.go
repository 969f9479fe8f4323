package tasklog

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// liveQueue is how many sealed batches may wait for Publish. With BatchBytes
// it bounds the memory a slow publisher costs (1 MiB by default). Past it,
// batches are not queued: the publisher reads their lines back from the
// file once it has sent the queue, so a slow publisher loses nothing.
const liveQueue = 32

// batcher cuts the numbered lines into live batches. A batch is sealed when
// it reaches BatchBytes (by add, on Write's goroutine) or BatchDelay after
// its first line (by run, the batcher's timer goroutine). Sealed batches go
// to the publisher through queue, in line order. When the queue is full,
// Write does not wait: the lines of the batches it cannot queue stay in the
// file only (the backlog), the publisher reads them back from there
// (backlog, caughtUp), and then batches are queued again.
type batcher struct {
	maxBytes int
	delay    time.Duration

	// mu guards the fields below. Sends on queue happen under it too, so
	// there is one sender at a time and sealed batches stay in line order.
	mu  sync.Mutex
	cur *pending // the batch being built; nil after close
	// next is the number of the next line add will get: every line before
	// it is in the file, and in a batch (sealed, or cur).
	next int64
	// behind: the queue was full, so the lines of sealed batches from line
	// catchFrom on are left in the file for the publisher to read.
	behind    bool
	catchFrom int64

	queue chan *pending // sealed batches, for the publisher; close closes it
	free  chan *pending // sent batches, for reuse
	kick  chan struct{} // add started a batch: run times it
	stop  chan struct{} // close stops run
	done  chan struct{} // run has returned

	// closing: close has sealed the last batch and Close is waiting for the
	// publisher, which, once publishing fails, then drops the rest instead
	// of trying each batch.
	closing atomic.Bool
}

// pending is a batch being built or waiting for Publish: the lines, each
// followed by '\n', in one buffer, so adding a line costs no allocation.
type pending struct {
	from int64
	born time.Time // when its first line came
	buf  []byte
	ends []int // offsets in buf just past each line's '\n'
}

// batch returns p as the message Publish sends; p may be reused after.
func (p *pending) batch(taskID string) wire.LogBatch {
	s := string(p.buf) // one copy; the lines share it
	lines := make([]string, len(p.ends))
	start := 0
	for i, e := range p.ends {
		lines[i] = s[start : e-1]
		start = e
	}
	return wire.LogBatch{TaskID: taskID, From: p.from, Lines: lines}
}

// newBatcher returns a batcher whose first line is line next. Its timer
// goroutine, run, is the caller's to start.
func newBatcher(maxBytes int, delay time.Duration, next int64) *batcher {
	return &batcher{
		maxBytes: maxBytes,
		delay:    delay,
		cur:      &pending{},
		next:     next,
		queue:    make(chan *pending, liveQueue),
		free:     make(chan *pending, 4),
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// add adds lines first, first+1, … to batches, sealing them by size. out
// and ends are as for localFile.append, which has written them to the file
// already.
func (b *batcher) add(first int64, out []byte, ends []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	start := 0
	for i, e := range ends {
		b.addLine(first+int64(i), out[start:e])
		start = e
	}
	b.next = first + int64(len(ends))
}

// addLine adds line (l, with its '\n') to the batch being built. b.mu is
// held.
func (b *batcher) addLine(line int64, l []byte) {
	p := b.cur
	if len(p.buf) > 0 && len(p.buf)+len(l) > b.maxBytes {
		b.seal()
		p = b.cur
	}
	if len(p.ends) == 0 {
		p.from = line
		p.born = time.Now()
		select {
		case b.kick <- struct{}{}: // run times the new batch
		default: // it already has a kick coming, and will look at this batch
		}
	}
	p.buf = append(p.buf, l...)
	p.ends = append(p.ends, len(p.buf))
	if len(p.buf) >= b.maxBytes {
		b.seal()
	}
}

// seal queues the batch being built for Publish and starts a new one. b.mu
// is held.
func (b *batcher) seal() {
	p := b.cur
	if len(p.ends) == 0 {
		return
	}
	select {
	case q := <-b.free:
		b.cur = q
	default:
		b.cur = &pending{buf: make([]byte, 0, b.maxBytes)}
	}
	if !b.behind {
		select {
		case b.queue <- p:
			return
		default:
		}
		// Publish is a whole queue behind. Rather than block the task, grow
		// memory or drop lines, leave them in the file: the publisher reads
		// them from there once it has sent the queue.
		b.behind, b.catchFrom = true, p.from
	}
	b.recycle(p)
}

// recycle empties p for reuse by a later batch.
func (b *batcher) recycle(p *pending) {
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	select {
	case b.free <- p:
	default:
	}
}

// run seals a batch BatchDelay after its first line if size has not done
// it first. It sleeps until add starts a batch (kick), and returns when
// close closes stop.
func (b *batcher) run() {
	defer close(b.done)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		for {
			b.mu.Lock()
			if len(b.cur.ends) == 0 {
				b.mu.Unlock()
				break
			}
			wait := b.delay - time.Since(b.cur.born)
			if wait <= 0 {
				b.seal()
				b.mu.Unlock()
				break
			}
			b.mu.Unlock()
			// Possibly a newer batch than the kick was for (size sealed the
			// old one): sleep until this one is due and look again.
			t.Reset(wait)
			select {
			case <-t.C:
			case <-b.stop:
				t.Stop()
				return
			}
		}
	}
}

// close seals the last batch and closes the queue, after the last add. It
// stops run first, so nothing seals after the queue is closed.
func (b *batcher) close() {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seal()
	b.cur = nil
	b.closing.Store(true)
	close(b.queue)
}

// backlog returns the lines [from, to) that sealed batches left in the
// file, once every queued batch, which is older, has been taken; ok is
// false when there are none (any more), and batches are queued again.
func (b *batcher) backlog() (from, to int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// seal may have filled the queue and fallen back on the file since the
	// publisher last saw it empty; it sends under mu, and sends nothing
	// more while behind, so an empty queue stays empty until caught up.
	if !b.behind || len(b.queue) > 0 {
		return 0, 0, false
	}
	to = b.next
	if b.cur != nil && len(b.cur.ends) > 0 {
		to = b.cur.from // the batch being built is queued when sealed
	}
	if b.catchFrom >= to {
		b.behind = false
		return 0, 0, false
	}
	return b.catchFrom, to, true
}

// caughtUp records that the backlog's lines before line to are dealt with
// (published, or given up on).
func (b *batcher) caughtUp(to int64) {
	b.mu.Lock()
	b.catchFrom = to
	b.mu.Unlock()
}
