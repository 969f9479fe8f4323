package store

import (
	"context"
	"encoding/json"
	"time"
)

// Deduplication policies of a spider (Spider.Dedup): what happens to an
// item whose DedupKeys values an earlier item of the same spider has.
const (
	DedupNone      = ""          // every item is new (no DedupKeys)
	DedupIgnore    = "ignore"    // keep the first: the later item is ignored
	DedupOverwrite = "overwrite" // keep the newest: it replaces the earlier one
)

// Item outcomes (Item.Outcome): what deduplication made of an item when it
// was saved.
const (
	ItemNew         = "new"
	ItemIgnored     = "ignored"
	ItemOverwritten = "overwritten" // it replaced an earlier item
)

// ReservedItemKeys are the top-level keys an item may not have: the
// stores keep their own fields under these names beside the item's
// (MongoDB keeps each item as one document with the item's keys at the top).
var ReservedItemKeys = []string{"_id", "_task_id", "_n", "_key", "_outcome", "_current", "_saved", "_json"}

// MaxItemBytes is the largest item, as compact JSON.
const MaxItemBytes = 1 << 20

// Item is one item a spider saved, as stored.
//
// A task's items are numbered from 0 in the order it saved them, like log
// lines, and every one is kept in its task's sequence, so reading a task's
// items has no gaps. Deduplication decides which item is the spider's
// current one for a key: with "ignore" the first stays current and a later
// one is stored not current (Outcome "ignored"); with "overwrite" the
// newest becomes current and the earlier one stops being (Outcome of the
// newest "overwritten"). A spider's items (SpiderItems, its export) are
// its current ones.
type Item struct {
	TaskID  string          `json:"task_id"`
	N       int64           `json:"n"`
	Data    json.RawMessage `json:"data"` // the JSON object the spider saved
	Outcome string          `json:"outcome"`
	Current bool            `json:"current"`
	Saved   time.Time       `json:"saved"`
}

// ItemCounts is what deduplication made of a task's items.
type ItemCounts struct {
	New         int64 `json:"new"`
	Ignored     int64 `json:"ignored"`
	Overwritten int64 `json:"overwritten"`
}

// Dedup is a spider's deduplication: the top-level keys whose values make
// an item unique, and the policy. An item that has none of the keys is
// always new.
type Dedup struct {
	Keys   []string
	Policy string
}

// Items stores the items spiders save. Safe for concurrent use.
type Items interface {
	// AppendItems stores items from, from+1, … of task taskID of spider
	// spiderID, like Logs.AppendLog: from past the number stored is
	// ErrLogGap, items already stored are skipped (a retried batch keeps
	// its first copy), and concurrent appends to one task leave neither a
	// gap nor a duplicate. Each item is one compact JSON object. dedup is
	// the spider's deduplication at the time of saving. It returns what
	// deduplication made of the items it stored.
	AppendItems(ctx context.Context, spiderID, taskID string, from int64, items []json.RawMessage, dedup Dedup) (ItemCounts, error)
	// ReadItems returns up to limit items of a task from number from on,
	// in order; nothing when limit <= 0.
	ReadItems(ctx context.Context, spiderID, taskID string, from int64, limit int) ([]Item, error)
	// ItemCount is how many items the task has stored, and what
	// deduplication made of them.
	ItemCount(ctx context.Context, spiderID, taskID string) (int64, ItemCounts, error)
	// SpiderItems returns a page of the spider's current items, newest
	// first (by save time, then task and number), and how many it has.
	SpiderItems(ctx context.Context, spiderID string, limit, offset int) ([]Item, int64, error)
	// EachItem calls fn for every item of a task in order (taskID set),
	// or every current item of a spider newest first (taskID ""), reading
	// in pages so that memory stays flat whatever the count; it stops at
	// fn's first error and returns it.
	EachItem(ctx context.Context, spiderID, taskID string, fn func(Item) error) error
	// DeleteItems deletes a task's items (no-op for a task without any).
	DeleteItems(ctx context.Context, spiderID, taskID string) error
}
