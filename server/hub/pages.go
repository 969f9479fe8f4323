package hub

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
)

// Many clients watching one task tend to fall behind together (a burst of
// output, a node whose live batches were lost) and then catch up through
// the same pages of its log. pages shares those reads: a read in flight is
// shared by everyone asking for the same page, and a full page (its lines
// never change) is kept, with its notification encoded once, for whoever
// asks next, within a bound in bytes.
const (
	pagesMaxBytes = 32 << 20 // the cache's bound
	pageMaxBytes  = 4 << 20  // a page larger than this is not kept
	// pageReadTimeout bounds a shared read. It runs on the hub's context,
	// not the asking client's: the others waiting on it must not see it
	// fail because the first one left.
	pageReadTimeout = 30 * time.Second
)

type pageKey struct {
	task string
	from int64
}

// page is one read of logPage lines from a task's log.
type page struct {
	key  pageKey
	done chan struct{} // closed when ll and err are set
	ll   *wire.LogBatch
	err  error
	size int
	elem *list.Element // in pages.lru while kept

	encOnce sync.Once
	enc     []pageChunk
}

// pageChunk is one notification of a page: lines consecutive lines.
type pageChunk struct {
	frame []byte // the notification framed (see wsconn.TextFrame)
	msg   []byte // the notification: frame's payload
	lines int
}

func newPageChunk(msg []byte, lines int) pageChunk {
	f := wsconn.TextFrame(msg)
	return pageChunk{frame: f, msg: wsconn.FramePayload(f), lines: lines}
}

// chunkMax bounds a notification of backlog lines, so that frames stay
// under the 512 KiB clients are promised (see wsconn.MaxFrameOut) and a page
// never needs more than a slice of the send queue at once.
const chunkMax = 448 << 10

// chunks are the page's notifications on channel (the same for every
// subscriber of the task), built once: a page of long lines takes
// several.
func (p *page) chunks(channel string) []pageChunk {
	p.encOnce.Do(func() { p.enc = encodeChunks(channel, p.ll.From, p.ll.Lines) })
	return p.enc
}

func encodeChunks(channel string, from int64, lines []string) []pageChunk {
	var out []pageChunk
	start := 0
	buf := append(appendLogHead(nil, channel, from), '[')
	for i, l := range lines {
		mark := len(buf)
		if i > start {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, l)
		if len(buf) > chunkMax && i > start {
			// Line i starts the next notification.
			out = append(out, newPageChunk(append(buf[:mark], "]}}}"...), i-start))
			start = i
			buf = append(appendLogHead(nil, channel, from+int64(i)), '[')
			buf = appendJSONString(buf, l)
		}
	}
	if len(lines) > start || len(out) == 0 {
		out = append(out, newPageChunk(append(buf, "]}}}"...), len(lines)-start))
	}
	return out
}

type pages struct {
	mu    sync.Mutex
	byKey map[pageKey]*page
	lru   *list.List // kept pages, most recently used first
	bytes int
}

func newPages() *pages { return &pages{byKey: map[pageKey]*page{}, lru: list.New()} }

// readPage returns the page of taskID's log at from: kept, being read by
// someone else, or read now by this caller.
func (h *Hub) readPage(ctx context.Context, taskID string, from int64) (*page, error) {
	ps := h.pages
	key := pageKey{taskID, from}
	ps.mu.Lock()
	if p := ps.byKey[key]; p != nil {
		if p.elem != nil {
			ps.lru.MoveToFront(p.elem)
		}
		ps.mu.Unlock()
		select {
		case <-p.done:
			return p, p.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	p := &page{key: key, done: make(chan struct{})}
	ps.byKey[key] = p
	ps.mu.Unlock()

	rctx, cancel := context.WithTimeout(h.ctx, pageReadTimeout)
	p.ll, p.err = h.backend.ReadLog(rctx, taskID, from, logPage)
	cancel()
	if p.err == nil && p.ll == nil {
		p.ll = &wire.LogBatch{TaskID: taskID, From: from}
	}
	if p.err == nil {
		for _, l := range p.ll.Lines {
			p.size += len(l) + 16
		}
	}
	close(p.done)

	ps.mu.Lock()
	defer ps.mu.Unlock()
	// Only a full page is final: a shorter one is the end of a log that
	// may still grow.
	if p.err != nil || len(p.ll.Lines) < logPage || p.ll.From != from || p.size > pageMaxBytes {
		if ps.byKey[key] == p {
			delete(ps.byKey, key)
		}
		return p, p.err
	}
	p.elem = ps.lru.PushFront(p)
	ps.bytes += p.size
	for ps.bytes > pagesMaxBytes {
		old := ps.lru.Back().Value.(*page)
		ps.lru.Remove(old.elem)
		old.elem = nil
		ps.bytes -= old.size
		if ps.byKey[old.key] == old {
			delete(ps.byKey, old.key)
		}
	}
	return p, nil
}
