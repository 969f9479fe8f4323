package mongo

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/crawlhub/crawlhub/store"
)

// items is not stored in MongoDB yet: every call says so.
type items Store

var errNoItems = errors.New("store: items are not stored in MongoDB yet")

func (s *Store) Items() store.Items { return (*items)(s) }

func (s *items) AppendItems(context.Context, string, string, int64, []json.RawMessage, store.Dedup) (store.ItemCounts, error) {
	return store.ItemCounts{}, errNoItems
}

func (s *items) ReadItems(context.Context, string, string, int64, int) ([]store.Item, error) {
	return nil, errNoItems
}

func (s *items) ItemCount(context.Context, string, string) (int64, store.ItemCounts, error) {
	return 0, store.ItemCounts{}, errNoItems
}

func (s *items) SpiderItems(context.Context, string, int, int) ([]store.Item, int64, error) {
	return nil, 0, errNoItems
}

func (s *items) EachItem(context.Context, string, string, func(store.Item) error) error {
	return errNoItems
}

func (s *items) DeleteItems(context.Context, string, string) error { return errNoItems }
