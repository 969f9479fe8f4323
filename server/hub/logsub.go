package hub

import (
	"context"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// logPage is how many lines one backlog read asks for.
const logPage = 10000

// maxPending bounds, in bytes, the live batches a subscription holds while
// it catches up. Past it they are dropped: they are in the log already and
// the catch-up reads them again.
const maxPending = 4 << 20

// logSub is one client's subscription to one task's log. It delivers every
// line from since on exactly once and in order:
//
//   - The upstream channel is subscribed before anything is read, so no
//     line published afterwards can be missed.
//   - The backlog is read (from the node for a running task, else from the
//     store) while live batches are held in pending.
//   - Then pending is applied: lines below next are dropped as duplicates.
//   - A batch that starts past next (a gap: a batch lost upstream, or a
//     client that fell behind) starts a catch-up read again.
//   - The end notification goes out once every line up to the total has.
//
// live runs on the bus goroutine and never blocks; reads run on a catch-up
// goroutine owned by the client.
type logSub struct {
	c       *Client
	taskID  string
	channel string

	mu       sync.Mutex // guards the fields below
	next     int64
	catching bool
	pending  []wire.LogBatch
	pendLen  int            // bytes held in pending, roughly
	end      *wire.LogBatch // an End held while catching up
	total    int64          // the log's length as last read
	ended    bool
	stopped  bool
}

// subscribeLog sets up a log subscription; the caller replies, then calls
// start, so the reply comes before the first lines.
func (c *Client) subscribeLog(taskID, channel string, since int64) (start func(), rerr *rpcError) {
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
	if err := h.acquire(ctx, wire.LogChannel(taskID)); err != nil {
		return nil, &rpcError{Code: wsapi.CodeUnavailable, Message: "could not subscribe to the task's live log: " + err.Error() + "; try again"}
	}
	s := &logSub{c: c, taskID: taskID, channel: channel, next: since, catching: true}
	if !ended {
		// It may end between the check and the upstream subscription: ask
		// again now that no End can be missed.
		ended, status, err = h.backend.TaskEnded(ctx, taskID)
		if err != nil {
			h.release(wire.LogChannel(taskID))
			code, msg := h.backend.ErrorCode(err)
			return nil, &rpcError{Code: code, Message: msg}
		}
	}
	if ended {
		// Its End went out before we listened: the stored log is complete.
		s.end = &wire.LogBatch{TaskID: taskID, End: true, Status: status, Total: -1}
	}
	h.mu.Lock()
	m := h.subs[channel]
	if m == nil {
		m = map[*Client]*logSub{}
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

func (s *logSub) stop() {
	s.mu.Lock()
	s.stopped = true
	s.pending = nil
	s.mu.Unlock()
}

// live takes a batch from the bus.
func (s *logSub) live(lb *liveBatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || s.stopped {
		return
	}
	if s.catching {
		s.hold(lb.batch())
		return
	}
	if !lb.b.End && lb.b.From == s.next {
		// In step: the batch as it came, encoded once for every such
		// subscriber.
		s.c.conn.Enqueue(lb.frame(s.channel))
		s.next += int64(lb.n)
		return
	}
	if s.apply(lb.batch()) {
		return
	}
	// A gap: catch up from the log, holding this batch.
	s.catching = true
	s.hold(lb.batch())
	s.c.goCall(s.catchUp)
}

func (s *logSub) hold(b *wire.LogBatch) {
	if b.End {
		s.end = b
		return
	}
	size := 0
	for _, l := range b.Lines {
		size += len(l) + 4
	}
	if s.pendLen+size > maxPending {
		s.pending, s.pendLen = nil, 0 // read again by the catch-up
		return
	}
	s.pending = append(s.pending, *b)
	s.pendLen += size
}

// apply delivers b's new lines; it reports false on a gap. Called with mu
// held.
func (s *logSub) apply(b *wire.LogBatch) bool {
	if b.End {
		if b.Total >= 0 && s.next < b.Total {
			return false
		}
		s.sendEnd(b.Status, max(b.Total, s.total))
		return true
	}
	end := b.From + int64(len(b.Lines))
	switch {
	case end <= s.next:
		return true // all seen
	case b.From > s.next:
		return false
	default:
		s.send(b.Lines[s.next-b.From:], s.next)
	}
	s.next = end
	return true
}

func (s *logSub) send(lines []string, from int64) {
	s.c.conn.Enqueue(wsconn.TextFrame(appendLogPublish(nil, s.channel, from, lines)))
}

func (s *logSub) sendEnd(status string, total int64) {
	msg, err := encodePublish(s.channel, wsapi.LogData{End: true, Status: status, Total: total})
	if err == nil {
		s.c.conn.Enqueue(wsconn.TextFrame(msg))
	}
	s.ended = true
	s.pending = nil
}

// catchUp reads the log from next until it has everything, then applies
// what was held, and repeats while that leaves a gap.
func (s *logSub) catchUp() {
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
				pg, err = s.c.hub.readPage(ctx, s.taskID, from)
			}
			if err != nil {
				ahead = nil
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				s.c.hub.log.Warn("log read failed; retrying", "task_id", s.taskID, "client_id", s.c.id, "err", err)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
			ll := pg.ll
			if len(ll.Lines) == 0 {
				s.mu.Lock()
				s.total = max(s.total, ll.Total)
				s.mu.Unlock()
				break
			}
			if n := int64(len(ll.Lines)); n == logPage {
				// While this page goes out, the next ones (that the log
				// has) are read.
				next := ll.From + n
				if len(ahead) > 0 {
					next = ahead[len(ahead)-1].from + logPage
				}
				for ; len(ahead) < maxAheadPerSub && next < ll.Total; next += logPage {
					p := s.readAhead(ctx, next)
					if p == nil {
						break
					}
					ahead = append(ahead, p)
				}
			}
			s.mu.Lock()
			s.total = max(s.total, ll.Total)
			if s.stopped {
				s.mu.Unlock()
				return
			}
			// Only this goroutine moves next while catching, but check anyway.
			if ll.From == s.next {
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
					s.next += int64(ch.lines)
				}
				progressed = true
			}
			s.mu.Unlock()
			if len(ll.Lines) < logPage {
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
			if !s.apply(&b) {
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
			// The lines exist but could not be read yet (the node was slow
			// to answer and the store is behind it): try again shortly.
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
func (s *logSub) readAhead(ctx context.Context, from int64) *pageRead {
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
		p.pg, p.err = h.readPage(ctx, s.taskID, from)
	})
	if !started {
		<-h.readAhead
		return nil
	}
	return p
}

// skipIfLost handles a gap no read could fill. While the task runs, the
// lines will come (the node or the store will have them). Once it ended,
// the store has all there will ever be, so the gap is lines lost for good
// (a node that died before saving them): skip past it rather than wait
// forever. It reports whether it skipped.
func (s *logSub) skipIfLost(ctx context.Context) bool {
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
		s.c.hub.log.Warn("log lines lost for good; skipping", "task_id", s.taskID, "from", s.next, "to", s.pending[0].From)
		s.next = s.pending[0].From
	case s.end != nil:
		s.sendEnd(s.end.Status, max(s.next, s.total))
	default:
		return false
	}
	return true
}
