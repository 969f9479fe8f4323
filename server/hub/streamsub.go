package hub

import (
	"context"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wsapi"
)

// maxPending bounds, in bytes, the live batches a subscription holds while
// it catches up. Past it they are dropped: they are in the stream already
// and the catch-up reads them again.
const maxPending = 4 << 20

// streamSub is one client's subscription to one task's stream, its log or
// its items (see kind). It delivers every entry from since on exactly
// once and in order:
//
//   - The upstream channel is subscribed before anything is read, so no
//     entry published afterwards can be missed.
//   - The backlog is read (from the node for a running task, else from the
//     store) while live batches are held in pending.
//   - Then pending is applied: entries below next are dropped as
//     duplicates.
//   - A batch that starts past next (a gap: a batch lost upstream, or a
//     client that fell behind) starts a catch-up read again.
//   - The end notification goes out once every entry up to the total has.
//
// live runs on the bus goroutine and never blocks; reads run on a catch-up
// goroutine owned by the client.
type streamSub struct {
	c       *Client
	k       *kind
	taskID  string
	channel string

	mu       sync.Mutex // guards the fields below
	next     int64
	catching bool
	pending  []*liveBatch
	pendLen  int        // bytes held in pending, roughly
	end      *liveBatch // an end held while catching up
	total    int64      // the stream's length as last read
	ended    bool
	stopped  bool
}

// subscribeStream sets up a subscription to stream k of a task; the
// caller replies, then calls start, so the reply comes before the first
// entries.
func (c *Client) subscribeStream(k *kind, taskID, channel string, since int64) (start func(), rerr *rpcError) {
	h := c.hub
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if !storeIDLike(taskID) {
		return nil, &rpcError{Code: wsapi.CodeInvalidParams, Message: "task id " + taskID + " is not valid: ids are 24 hex digits"}
	}
	ended, status, err := h.backend.TaskEnded(ctx, taskID)
	if err != nil {
		code, msg := h.backend.ErrorCode(err)
		return nil, &rpcError{Code: code, Message: msg}
	}
	if err := h.acquire(ctx, k.upstream(taskID)); err != nil {
		return nil, &rpcError{Code: wsapi.CodeUnavailable, Message: "could not subscribe to the task's live " + k.name + ": " + err.Error() + "; try again"}
	}
	s := &streamSub{c: c, k: k, taskID: taskID, channel: channel, next: since, catching: true}
	if !ended {
		// It may end between the check and the upstream subscription: ask
		// again now that no End can be missed.
		ended, status, err = h.backend.TaskEnded(ctx, taskID)
		if err != nil {
			h.release(k.upstream(taskID))
			code, msg := h.backend.ErrorCode(err)
			return nil, &rpcError{Code: code, Message: msg}
		}
	}
	if ended {
		// Its end went out before we listened: the stored stream is
		// complete.
		s.end = &liveBatch{taskID: taskID, end: true, status: status, total: -1}
	}
	h.mu.Lock()
	m := h.subs[channel]
	if m == nil {
		m = map[*Client]*streamSub{}
		h.subs[channel] = m
	}
	m[c] = s
	delete(h.lists, channel)
	h.mu.Unlock()
	c.subs[channel] = struct{}{}
	return func() { c.goCall(s.catchUp) }, nil
}

func storeIDLike(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func (s *streamSub) stop() {
	s.mu.Lock()
	s.stopped = true
	s.pending = nil
	s.mu.Unlock()
}

// live takes a batch from the bus.
func (s *streamSub) live(lb *liveBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.stopped {
		return
	}
	if s.catching {
		s.hold(lb)
		return
	}
	if !lb.end && lb.from == s.next {
		// In step: the batch as it came, encoded once for every such
		// subscriber.
		if lb.n() > 0 {
			s.c.conn.Enqueue(lb.frame(s.k, s.channel))
			s.next += int64(lb.n())
		}
		return
	}
	if s.apply(lb) {
		return
	}
	// A gap: catch up from the stream, holding this batch.
	s.catching = true
	s.hold(lb)
	s.c.goCall(s.catchUp)
}

func (s *streamSub) hold(b *liveBatch) {
	if b.end {
		s.end = b
		return
	}
	size := len(b.arr) + 4*b.n()
	if s.pendLen+size > maxPending {
		s.pending, s.pendLen = nil, 0 // read again by the catch-up
		return
	}
	s.pending = append(s.pending, b)
	s.pendLen += size
}

// apply delivers b's new entries; it reports false on a gap. Called with
// mu held.
func (s *streamSub) apply(b *liveBatch) bool {
	if b.end {
		if b.total >= 0 && s.next < b.total {
			return false
		}
		s.sendEnd(b.status, max(b.total, s.total))
		return true
	}
	end := b.from + int64(b.n())
	switch {
	case end <= s.next:
		return true // all seen
	case b.from > s.next:
		return false
	case b.from == s.next:
		s.c.conn.Enqueue(b.frame(s.k, s.channel))
	default:
		arr := b.tail(int(s.next - b.from))
		s.c.conn.Enqueue(wsconn.TextFrame(appendPublish(make([]byte, 0, len(arr)+len(s.channel)+80), s.channel, s.k.key, s.next, arr)))
	}
	s.next = end
	return true
}

func (s *streamSub) sendEnd(status string, total int64) {
	msg, err := encodePublish(s.channel, s.k.end(status, total))
	if err == nil {
		s.c.conn.Enqueue(wsconn.TextFrame(msg))
	}
	s.ended = true
	s.pending = nil
}

// catchUp reads the stream from next until it has everything, then
// applies what was held, and repeats while that leaves a gap.
func (s *streamSub) catchUp() {
	ctx := s.c.ctx
	backoff := 100 * time.Millisecond
	var ahead []*pageRead // pages being read ahead, in order
	for {
		progressed := false
		for {
			s.mu.Lock()
			if s.stopped || s.ended {
				s.mu.Unlock()
				return
			}
			from := s.next
			s.mu.Unlock()
			if !s.c.conn.WaitRoom(ctx) {
				return
			}
			var pg *page
			var err error
			if len(ahead) > 0 && ahead[0].from == from {
				<-ahead[0].done
				pg, err = ahead[0].pg, ahead[0].err
				ahead = ahead[1:]
			} else {
				ahead = nil
				pg, err = s.c.hub.readPage(ctx, s.k, s.taskID, from)
			}
			if err != nil {
				ahead = nil
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.c.hub.log.Warn(s.k.name+" read failed; retrying", "task_id", s.taskID, "client_id", s.c.id, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			e, page := pg.e, int64(s.k.page)
			if e.n() == 0 {
				s.mu.Lock()
				s.total = max(s.total, pg.total)
				s.mu.Unlock()
				break
			}
			if n := int64(e.n()); n == page {
				// While this page goes out, the next ones (that the
				// stream has) are read.
				next := e.from + n
				if len(ahead) > 0 {
					next = ahead[len(ahead)-1].from + page
				}
				for ; len(ahead) < maxAheadPerSub && next < pg.total; next += page {
					p := s.readAhead(ctx, next)
					if p == nil {
						break
					}
					ahead = append(ahead, p)
				}
			}
			s.mu.Lock()
			s.total = max(s.total, pg.total)
			if s.stopped {
				s.mu.Unlock()
				return
			}
			// Only this goroutine moves next while catching, but check anyway.
			if e.from == s.next {
				for i, ch := range pg.chunks(s.channel) {
					if i > 0 {
						// While catching up only this goroutine moves next,
						// so it may wait for room between the pieces.
						s.mu.Unlock()
						if !s.c.conn.WaitRoom(ctx) {
							return
						}
						s.mu.Lock()
						if s.stopped {
							s.mu.Unlock()
							return
						}
					}
					s.c.conn.Enqueue(ch.frame)
					s.next += int64(ch.n)
				}
				progressed = true
			}
			s.mu.Unlock()
			// A short page is the stream's end unless its total says
			// more: a read is bounded in bytes too (wire.MaxReadBytes),
			// so long entries come in short pages.
			if int64(e.n()) < page && e.from+int64(e.n()) >= pg.total {
				break
			}
		}
		s.mu.Lock()
		if s.stopped || s.ended {
			s.mu.Unlock()
			return
		}
		gap := false
		for len(s.pending) > 0 {
			b := s.pending[0]
			if !s.apply(b) {
				gap = true
				break
			}
			s.pending = s.pending[1:]
		}
		if !gap && s.end != nil && !s.apply(s.end) {
			gap = true
		}
		if !gap {
			s.catching = false
			s.pending, s.pendLen = nil, 0
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !progressed && s.skipIfLost(ctx) {
			continue
		}
		if !progressed {
			// The entries exist but could not be read yet (the node was
			// slow to answer and the store is behind it): try again
			// shortly.
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
		}
	}
}

// pageRead is a backlog page read ahead while the one before it goes out:
// the reads of a long backlog (from the store or the node) then overlap
// with sending instead of taking turns with it.
type pageRead struct {
	from int64
	pg   *page
	err  error
	done chan struct{}
}

// maxAheadPerSub is how many pages one subscription reads ahead at most
// (the hub's maxReadAhead bounds them all).
const maxAheadPerSub = 3

// readAhead starts reading the page at from if the hub has a read-ahead
// slot free, else returns nil (the page is read when its turn comes).
// Slots are few (maxReadAhead): each holds a page in memory.
func (s *streamSub) readAhead(ctx context.Context, from int64) *pageRead {
	h := s.c.hub
	select {
	case h.readAhead <- struct{}{}:
	default:
		return nil
	}
	p := &pageRead{from: from, done: make(chan struct{})}
	started := s.c.goCall(func() {
		defer func() {
			<-h.readAhead
			close(p.done)
		}()
		p.pg, p.err = h.readPage(ctx, s.k, s.taskID, from)
	})
	if !started {
		<-h.readAhead
		return nil
	}
	return p
}

// skipIfLost handles a gap no read could fill. While the task runs, the
// entries will come (the node or the store will have them). Once it
// ended, the store has all there will ever be, so the gap is entries lost
// for good (a node that died before saving them): skip past it rather
// than wait forever. It reports whether it skipped.
func (s *streamSub) skipIfLost(ctx context.Context) bool {
	ended, _, err := s.c.hub.backend.TaskEnded(ctx, s.taskID)
	if err != nil || !ended {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.ended {
		return true
	}
	switch {
	case len(s.pending) > 0:
		s.c.hub.log.Warn(s.k.name+" entries lost for good; skipping", "task_id", s.taskID, "from", s.next, "to", s.pending[0].from)
		s.next = s.pending[0].from
	case s.end != nil:
		s.sendEnd(s.end.status, max(s.next, s.total))
	default:
		return false
	}
	return true
}
