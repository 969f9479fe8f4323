package hub

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
)

// Many clients watching one task tend to fall behind together (a burst of
// output, a node whose live batches were lost) and then catch up through
// the same pages of its log (or items). pages shares those reads: a read
// in flight is shared by everyone asking for the same page, and a full
// page (its entries never change) is kept, with its notifications encoded
// once, for whoever asks next, within a bound in bytes.
const (
	pagesMaxBytes = 32 << 20 // the cache's bound
	pageMaxBytes  = 4 << 20  // a page larger than this is not kept
	// pageReadTimeout bounds a shared read. It runs on the hub's context,
	// not the asking client's: the others waiting on it must not see it
	// fail because the first one left.
	pageReadTimeout = 30 * time.Second
)

type pageKey struct {
	kind *kind
	task string
	from int64
}

// page is one read of kind.page entries from a task's stream.
type page struct {
	key   pageKey
	done  chan struct{} // closed when e, total and err are set
	e     *entries
	total int64 // the stream's length when it was read
	err   error
	size  int
	elem  *list.Element // in pages.lru while kept

	encOnce sync.Once
	enc     []pageChunk
}

// pageChunk is one notification of a page: n consecutive entries.
type pageChunk struct {
	frame []byte // the notification framed (see wsconn.TextFrame)
	msg   []byte // the notification: frame's payload
	n     int
}

func newPageChunk(msg []byte, n int) pageChunk {
	f := wsconn.TextFrame(msg)
	return pageChunk{frame: f, msg: wsconn.FramePayload(f), n: n}
}

// chunkMax bounds a notification of backlog entries, so that frames stay
// under the 512 KiB clients are promised (see wsconn.MaxFrameOut) and a page
// never needs more than a slice of the send queue at once. An entry larger
// than that (an item may be 1 MiB) goes in a notification of its own.
const chunkMax = 448 << 10

// chunks are the page's notifications on channel (the same for every
// subscriber of the task's stream), built once: a page of long entries
// takes several.
func (p *page) chunks(channel string) []pageChunk {
	p.encOnce.Do(func() { p.enc = encodeChunks(channel, p.key.kind.key, p.e) })
	return p.enc
}

func encodeChunks(channel, key string, e *entries) []pageChunk {
	var out []pageChunk
	if e.n() == 0 {
		return []pageChunk{newPageChunk(appendPublish(nil, channel, key, e.from, emptyArray), 0)}
	}
	// What the notification holds besides the array, at most.
	budget := chunkMax - (len(channel) + len(key) + 96)
	start := 0
	for i := 1; i <= e.n(); i++ {
		// Entries start..i-1 fit (or start alone does not); does i too?
		if i < e.n() && e.spans[i].end-e.spans[start].start+2 <= budget {
			continue
		}
		arr := e.arr
		if start > 0 || i < e.n() {
			arr = e.slice(start, i)
		}
		out = append(out, newPageChunk(appendPublish(make([]byte, 0, len(arr)+len(channel)+80), channel, key, e.from+int64(start), arr), i-start))
		start = i
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

// readPage returns the page of taskID's stream k at from: kept, being
// read by someone else, or read now by this caller.
func (h *Hub) readPage(ctx context.Context, k *kind, taskID string, from int64) (*page, error) {
	ps := h.pages
	key := pageKey{k, taskID, from}
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
	p.e, p.total, p.err = k.read(rctx, h.backend, taskID, from, k.page)
	cancel()
	if p.err == nil {
		p.size = len(p.e.arr) + 16*p.e.n()
	}
	close(p.done)

	ps.mu.Lock()
	defer ps.mu.Unlock()
	// Only a full page is final: a shorter one is the end of a log that
	// may still grow.
	if p.err != nil || p.e.n() < k.page || p.e.from != from || p.size > pageMaxBytes {
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
