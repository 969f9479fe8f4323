package server

import (
	"context"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/crawlhub/crawlhub/store"
)

// itemCounts keeps each task's item count as the store last reported it,
// for at most itemCountTTL. Counting costs a read of the task's items on
// MongoDB (on FerretDB a scan of the spider's whole collection), and every
// dashboard listing tasks asks for the running ones' counts every few
// seconds, as does every page of a task's items: unshared, those reads
// starved the agent's own saves on a spider with 100,000 items. A fresher
// count is not to be had anyway: an agent saves items every 2 s.
type itemCounts struct {
	mu    sync.Mutex
	known map[string]itemCount // by task id
	once  singleflight.Group   // one store read per task at a time
}

type itemCount struct {
	at    time.Time
	n     int64
	stats store.ItemCounts
}

const (
	itemCountTTL = 2 * time.Second
	// itemCountsKept: past it, counts older than the TTL are swept.
	itemCountsKept = 1024
)

// itemCount returns how many items task t has stored, and what
// deduplication made of them, at most itemCountTTL old.
func (s *Server) itemCount(ctx context.Context, t *store.Task) (int64, store.ItemCounts, error) {
	c := &s.itemCounts
	c.mu.Lock()
	e, ok := c.known[t.ID]
	c.mu.Unlock()
	if ok && time.Since(e.at) < itemCountTTL {
		return e.n, e.stats, nil
	}
	v, err, _ := c.once.Do(t.ID, func() (any, error) {
		// Not the first caller's context: the callers sharing this read
		// must not fail because that one went away.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		n, stats, err := s.store.Items().ItemCount(rctx, t.SpiderID, t.ID)
		if err != nil {
			return nil, err
		}
		e := itemCount{at: time.Now(), n: n, stats: stats}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.known == nil {
			c.known = map[string]itemCount{}
		}
		if len(c.known) >= itemCountsKept {
			for id, old := range c.known {
				if time.Since(old.at) >= itemCountTTL {
					delete(c.known, id)
				}
			}
		}
		c.known[t.ID] = e
		return e, nil
	})
	if err != nil {
		return 0, store.ItemCounts{}, err
	}
	e = v.(itemCount)
	return e.n, e.stats, nil
}
