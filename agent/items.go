package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/tasklog"
	"github.com/crawlhub/crawlhub/wire"
)

// taskItems is the items of one running task. They go through a
// tasklog.Writer, one item per line of compact JSON, so they have the
// log's promises: numbered from 0, spooled to a file on the node first,
// published in batches on the task's ItemsChannel, saved to the store in
// order and retried until it takes them, all saved before the task's end
// is announced.
type taskItems struct {
	spiderID string
	secret   string // in the task's items URL

	// open opens the spool, at the first item: most tasks save none, and
	// a file and a writer for each would be a cost of every short task.
	open func() (*tasklog.Writer, error)
	w    atomic.Pointer[tasklog.Writer] // nil until the first item

	// mu lets one request write at a time, so a request's items stay
	// together and in order, and lets close wait for the request writing.
	mu      sync.Mutex
	closed  bool
	openErr error // the spool could not be opened: items were refused
}

// lines is how many items the task has.
func (ti *taskItems) lines() int64 {
	if w := ti.w.Load(); w != nil {
		return w.Lines()
	}
	return 0
}

// writeErr is why an item could not be written, if one could not.
func (ti *taskItems) writeErr() error {
	ti.mu.Lock()
	openErr := ti.openErr
	ti.mu.Unlock()
	if openErr != nil {
		return openErr
	}
	if w := ti.w.Load(); w != nil {
		return w.WriteErr()
	}
	return nil
}

// errItemsEnded: the task's items are closed, as the task has ended.
var errItemsEnded = errors.New("the task has ended")

// itemsPath is where a task's items are spooled, next to its log.
func (a *Agent) itemsPath(taskID string) string { return a.dir("logs", taskID+".items") }

// openItems makes the items of task t of spider sp reachable by the
// endpoint, with the spider's deduplication as it is now. The spool is
// opened at the first item.
func (a *Agent) openItems(t *store.Task, sp *store.Spider, log *slog.Logger) (*taskItems, error) {
	dedup := store.Dedup{Keys: sp.DedupKeys, Policy: sp.Dedup}
	if err := store.CheckDedup(dedup); err != nil {
		// The store would refuse every item: say so before the spider runs.
		return nil, fmt.Errorf("the spider's deduplication setting is wrong (%w): fix it and run the task again", err)
	}
	var key [16]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("items secret: %w", err)
	}
	ti := &taskItems{spiderID: sp.ID, secret: hex.EncodeToString(key[:])}
	ti.open = func() (*tasklog.Writer, error) {
		return tasklog.Open(tasklog.Config{
			TaskID: t.ID, Path: a.itemsPath(t.ID), MaxLine: tasklog.ItemMaxLine, Log: log,
			Store:   tasklog.ItemStore{Items: a.store.Items(), SpiderID: sp.ID, Dedup: dedup},
			Publish: a.publishItems,
		})
	}
	a.mu.Lock()
	a.items[t.ID] = ti
	a.mu.Unlock()
	return ti, nil
}

// recoveryStore is where the items an agent died with go: with the
// spider's deduplication, or none if the store would refuse it, as a
// refused save would be retried for ever.
func (a *Agent) recoveryStore(sp *store.Spider) tasklog.ItemStore {
	d := store.Dedup{Keys: sp.DedupKeys, Policy: sp.Dedup}
	if store.CheckDedup(d) != nil {
		d = store.Dedup{}
	}
	return tasklog.ItemStore{Items: a.store.Items(), SpiderID: sp.ID, Dedup: d}
}

// add writes a request's items (checked, each followed by '\n') and
// returns how many items the task has.
func (ti *taskItems) add(items []byte) (int64, error) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	if ti.closed {
		return 0, errItemsEnded
	}
	if len(items) > 0 {
		w := ti.w.Load()
		if w == nil {
			var err error
			if w, err = ti.open(); err != nil {
				ti.openErr = err
				return 0, err
			}
			ti.w.Store(w)
		}
		if _, err := w.Write(items); err != nil {
			return 0, err
		}
	}
	return ti.lines(), nil
}

// closeItems ends the task's items once its process has exited: a request
// still writing finishes first, later ones are refused, and every item is
// saved to the store (retrying until ctx ends). It returns how many items
// the task saved.
func (a *Agent) closeItems(ctx context.Context, taskID string, ti *taskItems) (int64, error) {
	ti.mu.Lock()
	ti.closed = true
	w := ti.w.Load()
	ti.mu.Unlock()
	var total int64
	var err error
	if w != nil {
		total, err = w.Close(ctx)
	}
	a.mu.Lock()
	delete(a.items, taskID)
	a.mu.Unlock()
	return total, err
}

// countItems records on t how many items it saved, and what deduplication
// made of them.
func (a *Agent) countItems(ctx context.Context, t *store.Task, total int64) {
	t.ItemCount, t.ItemStats = total, store.ItemCounts{}
	if total == 0 {
		return
	}
	_, stats, err := a.store.Items().ItemCount(ctx, t.SpiderID, t.ID)
	if err != nil {
		a.log.Warn("could not count the task's items in the store", "task_id", t.ID, "err", err)
	}
	t.ItemStats = stats
}

// recoverItems uploads the items a task left in its spool file when the
// agent died, and records the count on t (which the caller stores).
func (a *Agent) recoverItems(ctx context.Context, t *store.Task) {
	path := a.itemsPath(t.ID)
	fi, err := os.Stat(path)
	if err != nil {
		if n, stats, err := a.store.Items().ItemCount(ctx, t.SpiderID, t.ID); err == nil {
			t.ItemCount, t.ItemStats = n, stats
		}
		return
	}
	if fi.Size() == 0 {
		// No item saved: nothing to ask the store, which may be away.
		os.Remove(path)
		return
	}
	sp, err := a.store.Spiders().Get(ctx, t.SpiderID)
	if err != nil {
		// A deleted spider: its items are kept without deduplication.
		sp = &store.Spider{ID: t.SpiderID}
	}
	total, err := tasklog.Recover(ctx, t.ID, path, a.recoveryStore(sp))
	if err != nil {
		a.log.Warn("orphaned task's items not uploaded; they stay in "+path, "task_id", t.ID, "err", err)
	} else {
		os.Remove(path)
	}
	a.countItems(ctx, t, total)
}

// publishItems publishes a batch of items, whose lines are the items.
func (a *Agent) publishItems(ctx context.Context, b wire.LogBatch) error {
	ib := wire.ItemBatch{TaskID: b.TaskID, From: b.From, Items: rawItems(b.Lines), Total: b.Total}
	return a.publishItemBatch(ctx, ib)
}

func (a *Agent) publishItemBatch(ctx context.Context, b wire.ItemBatch) error {
	p, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return a.bus.Publish(ctx, wire.ItemsChannel(b.TaskID), a.signer.Sign(p))
}

func rawItems(lines []string) []json.RawMessage {
	items := make([]json.RawMessage, len(lines))
	for i, l := range lines {
		items[i] = json.RawMessage(l)
	}
	return items
}

// GetItems implements wire.Node: a running task's items come from its
// spool file here, an ended task's from the store.
func (a *Agent) GetItems(ctx context.Context, req wire.GetItems) (wire.ItemBatch, error) {
	out := wire.ItemBatch{TaskID: req.TaskID, From: req.From, Items: []json.RawMessage{}}
	if req.From < 0 {
		return out, fmt.Errorf("from is %d: items are numbered from 0", req.From)
	}
	// The reply is one bus message: bounded in items and in bytes
	// (wire.MaxReadBytes), so large items make a shorter page.
	limit := req.Limit
	if limit <= 0 || limit > wire.MaxReadEntries {
		limit = wire.MaxReadEntries
	}
	a.mu.Lock()
	ti := a.items[req.TaskID]
	a.mu.Unlock()
	if ti != nil {
		w := ti.w.Load()
		if w == nil {
			return out, nil // no item yet
		}
		out.Total = w.Lines()
		items, err := wire.ReadItems(req.From, limit, func(from int64, n int) ([]json.RawMessage, error) {
			lines, err := w.Read(from, n)
			return rawItems(lines), err
		})
		if !errors.Is(err, tasklog.ErrClosed) {
			out.Items = items
			return out, err
		}
		// The task has just ended: the store has every item now.
	}
	t, err := a.store.Tasks().Get(ctx, req.TaskID)
	if err != nil {
		return out, fmt.Errorf("task %s: %w", req.TaskID, err)
	}
	if out.Total, _, err = a.store.Items().ItemCount(ctx, t.SpiderID, t.ID); err != nil {
		return out, fmt.Errorf("task %s: counting its items: %w", t.ID, err)
	}
	out.Items, err = wire.ReadItems(req.From, limit, func(from int64, n int) ([]json.RawMessage, error) {
		stored, err := a.store.Items().ReadItems(ctx, t.SpiderID, t.ID, from, n)
		items := make([]json.RawMessage, len(stored))
		for i, it := range stored {
			items[i] = it.Data
		}
		return items, err
	})
	return out, err
}
