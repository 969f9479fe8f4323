package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// items keeps each spider's items in a collection of its own,
// results_<spider id>, one document per item: the item's own keys at the
// top, as people querying MongoDB expect, and the store's fields beside
// them under store.ReservedItemKeys:
//
//	_id       "<task id>:<n, 12 digits>": a retried insert of an item is a
//	          duplicate key, never a second copy
//	_task_id, _n
//	_key      the dedup key (store.DedupKey); absent: none
//	_outcome, _current, _saved
//	_json     the item as JSON text, when part of it cannot be a field
//	          as it is (see jsonToDoc); absent: the fields are the item
//
// A task's items are always a prefix 0…n-1 of its numbers: they are
// inserted in order (an ordered insert stops at its first failure), so
// "item from-1 is stored and item from is not" means the task has from
// items, found with two _id lookups, the only queries FerretDB v1 answers
// without reading the whole collection.
//
// FerretDB v1 has no transactions, and its filtered updates are not atomic,
// so an append is several writes, ordered so that a failure between them
// is repaired by the retry that follows it (the caller retries until the
// append succeeds): the items an overwrite replaces stop being current
// before the new ones are inserted, so a failure in between leaves a key
// with no current item until the retry stores the new one (counted "new",
// there being nothing left to overwrite), never two.
//
// Deduplication reads the spider's current items, then writes: appends to
// one spider are serialised in this process so that they cannot both see
// a key free. Appends to one spider from two processes at the same moment
// (two agents running its tasks) can still both store an item of one key
// as current; the next overwrite of that key makes it one again.
type items Store

// itemsState is what the store keeps about items between calls.
type itemsState struct {
	ready sync.Map   // spider id → struct{}: its collection's indexes exist
	setup sync.Mutex // held while creating indexes
	mu    sync.Mutex
	locks map[string]*spiderLock // spider id → its appends' lock
}

type spiderLock struct {
	sync.Mutex
	users int // holders and waiters; the lock is dropped at 0
}

// lock serialises the deduplicating appends to one spider.
func (st *itemsState) lock(spiderID string) (unlock func()) {
	st.mu.Lock()
	if st.locks == nil {
		st.locks = map[string]*spiderLock{}
	}
	l := st.locks[spiderID]
	if l == nil {
		l = &spiderLock{}
		st.locks[spiderID] = l
	}
	l.users++
	st.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		st.mu.Lock()
		if l.users--; l.users == 0 {
			delete(st.locks, spiderID)
		}
		st.mu.Unlock()
	}
}

func (s *Store) Items() store.Items { return (*items)(s) }

func (s *items) coll(spiderID string) *mongo.Collection {
	return s.db.Collection("results_" + spiderID)
}

// itemIndexes are the indexes of a spider's collection.
var itemIndexes = []bson.D{
	// A task's items in order.
	{{Key: "_task_id", Value: 1}, {Key: "_n", Value: 1}},
	// The spider's current items, newest first.
	{{Key: "_current", Value: 1}, {Key: "_saved", Value: -1}, {Key: "_task_id", Value: -1}, {Key: "_n", Value: -1}},
	// The dedup lookup.
	{{Key: "_key", Value: 1}, {Key: "_current", Value: 1}},
}

// ready returns the spider's collection, creating its indexes the first
// time this store appends to it. One index at a time, one caller at a
// time: FerretDB v1 dropped the connection when asked for several indexes
// at once of a collection that had them, and when two clients created a
// new collection's indexes at once.
func (s *items) ready(ctx context.Context, spiderID string) (*mongo.Collection, error) {
	c := s.coll(spiderID)
	st := &s.itemsState
	if _, ok := st.ready.Load(spiderID); ok {
		return c, nil
	}
	st.setup.Lock()
	defer st.setup.Unlock()
	if _, ok := st.ready.Load(spiderID); ok {
		return c, nil
	}
	for _, keys := range itemIndexes {
		if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys}); err != nil {
			return nil, fmt.Errorf("create an index of %s: %w", c.Name(), err)
		}
	}
	st.ready.Store(spiderID, struct{}{})
	return c, nil
}

func itemID(taskID string, n int64) string { return fmt.Sprintf("%s:%012d", taskID, n) }

// appendItemRetries bounds how often an append starts again after another
// writer of the same task stored an item first.
const appendItemRetries = 100

func (s *items) AppendItems(ctx context.Context, spiderID, taskID string, from int64, list []json.RawMessage, d store.Dedup) (store.ItemCounts, error) {
	c, err := s.appendItems(ctx, spiderID, taskID, from, list, d)
	if err != nil {
		err = fmt.Errorf("store: append items of task %s at item %d: %w", taskID, from, err)
	}
	return c, err
}

// appendItems returns the counts of what it stored even on an error: an
// append that fails midway may have stored its first items.
func (s *items) appendItems(ctx context.Context, spiderID, taskID string, from int64, list []json.RawMessage, d store.Dedup) (store.ItemCounts, error) {
	var counts store.ItemCounts
	if err := ctx.Err(); err != nil {
		return counts, err
	}
	if err := errors.Join(checkID(spiderID), checkID(taskID)); err != nil {
		return counts, err
	}
	keys, err := store.PrepareItems(from, list, d)
	if err != nil || len(list) == 0 {
		return counts, err
	}
	docs := make([]bson.D, len(list))
	for i, it := range list {
		doc, exact, err := jsonToDoc(it)
		if err != nil {
			return counts, fmt.Errorf("item %d: %w", from+int64(i), err)
		}
		if !exact {
			doc = append(doc, bson.E{Key: "_json", Value: string(it)})
		}
		docs[i] = doc
	}
	c, err := s.ready(ctx, spiderID)
	if err != nil {
		return counts, err
	}
	if d.Active() {
		defer s.itemsState.lock(spiderID)()
	}
	for retries := 0; ; retries++ {
		end, err := s.end(ctx, c, taskID, from)
		if err != nil {
			return counts, err
		}
		if from > end {
			return counts, fmt.Errorf("%w: task has %d items", store.ErrLogGap, end)
		}
		// Items already stored are skipped, not compared: the first write
		// of an item number wins.
		skip := end - from
		if skip >= int64(len(list)) {
			return counts, nil
		}
		stored, err := s.insert(ctx, c, taskID, end, docs[skip:], keys[skip:], d.Policy)
		for _, o := range stored {
			counts.Count(o)
		}
		switch {
		case err == nil:
			return counts, nil
		case !mongo.IsDuplicateKeyError(err):
			return counts, err
		case retries == appendItemRetries:
			return counts, fmt.Errorf("gave up after %d races with other writers: %w", retries, err)
		}
		// Another writer stored an item first: find the end again.
	}
}

// insert stores docs as items end, end+1, … and returns the outcomes of
// those it stored, which on an error are the ones before the failure.
func (s *items) insert(ctx context.Context, c *mongo.Collection, taskID string, end int64, docs []bson.D, keys []string, policy string) ([]string, error) {
	current, err := s.currentKeys(ctx, c, keys)
	if err != nil {
		return nil, err
	}
	outcomes, isCurrent, replaced := store.DedupItems(policy, keys, current)
	if len(replaced) > 0 {
		_, err := c.UpdateMany(ctx, bson.D{{Key: "_key", Value: bson.D{{Key: "$in", Value: replaced}}}, {Key: "_current", Value: true}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "_current", Value: false}}}})
		if err != nil {
			return nil, err
		}
	}
	saved := store.Now()
	full := make([]any, len(docs))
	for i, doc := range docs {
		n := end + int64(i)
		d := make(bson.D, 0, len(doc)+7)
		d = append(d, bson.E{Key: "_id", Value: itemID(taskID, n)})
		d = append(d, doc...)
		d = append(d, bson.E{Key: "_task_id", Value: taskID}, bson.E{Key: "_n", Value: n})
		if keys[i] != "" {
			d = append(d, bson.E{Key: "_key", Value: keys[i]})
		}
		d = append(d, bson.E{Key: "_outcome", Value: outcomes[i]}, bson.E{Key: "_current", Value: isCurrent[i]},
			bson.E{Key: "_saved", Value: saved})
		full[i] = d
	}
	_, err = c.InsertMany(ctx, full, options.InsertMany().SetOrdered(true))
	if err == nil {
		return outcomes, nil
	}
	// An ordered insert stops at its first failure: what came before it
	// is stored.
	var bw mongo.BulkWriteException
	if errors.As(err, &bw) && len(bw.WriteErrors) > 0 {
		return outcomes[:bw.WriteErrors[0].Index], err
	}
	return nil, err
}

// end returns how many items the task has, if that is from or fewer (see
// items): from when item from-1 is stored and item from is not. Past
// that, it counts.
func (s *items) end(ctx context.Context, c *mongo.Collection, taskID string, from int64) (int64, error) {
	stored := func(n int64) (bool, error) {
		var doc struct{}
		err := findOne(ctx, c, bson.D{{Key: "_id", Value: itemID(taskID, n)}}, &doc,
			options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	before := true
	if from > 0 {
		var err error
		if before, err = stored(from - 1); err != nil {
			return 0, err
		}
	}
	if before {
		at, err := stored(from)
		if err != nil || !at {
			return from, err
		}
	}
	return s.count(ctx, c, taskID)
}

// count returns how many items the task has: one more than its last number.
func (s *items) count(ctx context.Context, c *mongo.Collection, taskID string) (int64, error) {
	var last struct {
		N int64 `bson:"_n"`
	}
	err := findOne(ctx, c, bson.D{{Key: "_task_id", Value: taskID}}, &last, options.FindOne().
		SetSort(bson.D{{Key: "_n", Value: -1}}).SetProjection(bson.D{{Key: "_n", Value: 1}}))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return last.N + 1, nil
}

// currentKeys returns which of keys the spider has a current item of.
func (s *items) currentKeys(ctx context.Context, c *mongo.Collection, keys []string) (map[string]bool, error) {
	current := map[string]bool{}
	var distinct []string
	seen := map[string]bool{}
	for _, k := range keys {
		if k != "" && !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	if len(distinct) == 0 {
		return current, nil
	}
	cur, err := c.Find(ctx, bson.D{{Key: "_key", Value: bson.D{{Key: "$in", Value: distinct}}}, {Key: "_current", Value: true}},
		options.Find().SetProjection(bson.D{{Key: "_key", Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		k, ok := cur.Current.Lookup("_key").StringValueOK()
		if ok {
			current[k] = true
		}
	}
	return current, cur.Err()
}
