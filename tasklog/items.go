package tasklog

import (
	"context"
	"encoding/json"

	"github.com/crawlhub/crawlhub/store"
)

// ItemMaxLine is Config.MaxLine for a Writer of items: the largest item,
// so that no item is ever cut in two.
const ItemMaxLine = store.MaxItemBytes

// ItemStore is the Store of a Writer of a task's items rather than its
// log. Each line is one item, as compact JSON (which never holds a raw
// '\n'), so items get every promise a log has: numbered from 0, in the
// local file first, published in batches, saved in order, retried until
// the store takes them, uploaded by Recover after a crash. The caller
// validates and compacts each item, makes it valid UTF-8 (the Writer
// would otherwise replace bad bytes, and could lengthen the item), and
// sets Config.MaxLine to ItemMaxLine.
type ItemStore struct {
	Items    store.Items
	SpiderID string
	// Dedup is the spider's deduplication, read when the task started.
	Dedup store.Dedup
}

var _ Store = ItemStore{}

// AppendLog implements Store with Items.AppendItems, which has the same
// numbering, skipping and gap rules as Logs.AppendLog.
func (s ItemStore) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	items := make([]json.RawMessage, len(lines))
	for i, l := range lines {
		items[i] = json.RawMessage(l)
	}
	_, err := s.Items.AppendItems(ctx, s.SpiderID, taskID, from, items, s.Dedup)
	return err
}

// LogLen implements Store: how many items the task has stored.
func (s ItemStore) LogLen(ctx context.Context, taskID string) (int64, error) {
	n, _, err := s.Items.ItemCount(ctx, s.SpiderID, taskID)
	return n, err
}
