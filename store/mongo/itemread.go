package mongo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// Reading items back (the documents are described at items).

// decodeItem turns a stored document back into an item.
func decodeItem(raw bson.Raw) (store.Item, error) {
	var it store.Item
	var meta struct {
		TaskID  string    `bson:"_task_id"`
		N       int64     `bson:"_n"`
		Outcome string    `bson:"_outcome"`
		Current bool      `bson:"_current"`
		Saved   time.Time `bson:"_saved"`
		JSON    *string   `bson:"_json"`
	}
	if err := bson.Unmarshal(raw, &meta); err != nil {
		return it, err
	}
	it = store.Item{TaskID: meta.TaskID, N: meta.N, Outcome: meta.Outcome, Current: meta.Current, Saved: meta.Saved.UTC()}
	if meta.JSON != nil {
		it.Data = json.RawMessage(*meta.JSON)
		return it, nil
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: raw}, true); err != nil {
		return it, err
	}
	it.Data = buf.Bytes()
	return it, nil
}

// find returns the items filter matches, in the order of opts.
func (s *items) find(ctx context.Context, c *mongo.Collection, filter any, opts *options.FindOptionsBuilder) ([]store.Item, error) {
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var list []store.Item
	for cur.Next(ctx) {
		it, err := decodeItem(cur.Current)
		if err != nil {
			return nil, err
		}
		list = append(list, it)
	}
	return list, cur.Err()
}

var (
	taskOrder   = bson.D{{Key: "_n", Value: 1}}
	spiderOrder = bson.D{{Key: "_saved", Value: -1}, {Key: "_task_id", Value: -1}, {Key: "_n", Value: -1}}
)

func taskFrom(taskID string, from int64) bson.D {
	return bson.D{{Key: "_task_id", Value: taskID}, {Key: "_n", Value: bson.D{{Key: "$gte", Value: from}}}}
}

func (s *items) ReadItems(ctx context.Context, spiderID, taskID string, from int64, limit int) ([]store.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: read items of task %s: %w", taskID, err)
	}
	if from < 0 {
		return nil, fmt.Errorf("store: read items of task %s from item %d: negative item number", taskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	list, err := s.find(ctx, s.coll(spiderID), taskFrom(taskID, from),
		options.Find().SetSort(taskOrder).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: read items of task %s: %w", taskID, err)
	}
	return list, nil
}

func (s *items) ItemCount(ctx context.Context, spiderID, taskID string) (int64, store.ItemCounts, error) {
	var c store.ItemCounts
	// One accumulator: FerretDB v1 gets $group with two wrong.
	cur, err := s.coll(spiderID).Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: bson.D{{Key: "_task_id", Value: taskID}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$_outcome"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return 0, c, fmt.Errorf("store: count items of task %s: %w", taskID, err)
	}
	var groups []struct {
		Outcome string `bson:"_id"`
		N       int64  `bson:"n"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return 0, c, fmt.Errorf("store: count items of task %s: %w", taskID, err)
	}
	var total int64
	for _, g := range groups {
		total += g.N
		switch g.Outcome {
		case store.ItemNew:
			c.New = g.N
		case store.ItemIgnored:
			c.Ignored = g.N
		case store.ItemOverwritten:
			c.Overwritten = g.N
		}
	}
	return total, c, nil
}

var currentOnly = bson.E{Key: "_current", Value: true}

func (s *items) SpiderItems(ctx context.Context, spiderID string, limit, offset int) ([]store.Item, int64, error) {
	// Two reads, not one snapshot (there are no transactions to make one):
	// while items arrive, the total may be a little off the page.
	c := s.coll(spiderID)
	total, err := c.CountDocuments(ctx, bson.D{currentOnly})
	if err != nil {
		return nil, 0, fmt.Errorf("store: count items of spider %s: %w", spiderID, err)
	}
	if limit <= 0 {
		return nil, total, nil
	}
	list, err := s.find(ctx, c, bson.D{currentOnly},
		options.Find().SetSort(spiderOrder).SetSkip(int64(max(offset, 0))).SetLimit(int64(limit)))
	if err != nil {
		return nil, 0, fmt.Errorf("store: items of spider %s: %w", spiderID, err)
	}
	return list, total, nil
}

// eachPage is how many items EachItem reads at a time: memory is bounded
// by a page, and no cursor stays open while fn runs (a slow client of an
// export would otherwise keep it open past the server's cursor timeout).
const eachPage = 1000

func (s *items) EachItem(ctx context.Context, spiderID, taskID string, fn func(store.Item) error) error {
	what := "spider " + spiderID
	if taskID != "" {
		what = "task " + taskID
	}
	c := s.coll(spiderID)
	var last *store.Item
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: items of %s: %w", what, err)
		}
		var filter bson.D
		order := spiderOrder
		switch {
		case taskID != "":
			next := int64(0)
			if last != nil {
				next = last.N + 1
			}
			filter, order = taskFrom(taskID, next), taskOrder
		case last == nil:
			filter = bson.D{currentOnly}
		default:
			// A keyset cursor: the items after the last one seen, in
			// (saved, task, n) descending order.
			lt := func(v any) bson.D { return bson.D{{Key: "$lt", Value: v}} }
			filter = bson.D{currentOnly, {Key: "$or", Value: bson.A{
				bson.D{{Key: "_saved", Value: lt(last.Saved)}},
				bson.D{{Key: "_saved", Value: last.Saved}, {Key: "_task_id", Value: lt(last.TaskID)}},
				bson.D{{Key: "_saved", Value: last.Saved}, {Key: "_task_id", Value: last.TaskID}, {Key: "_n", Value: lt(last.N)}},
			}}}
		}
		page, err := s.find(ctx, c, filter, options.Find().SetSort(order).SetLimit(eachPage))
		if err != nil {
			return fmt.Errorf("store: items of %s: %w", what, err)
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < eachPage {
			return nil
		}
		last = &page[len(page)-1]
	}
}

func (s *items) DeleteItems(ctx context.Context, spiderID, taskID string) error {
	if _, err := s.coll(spiderID).DeleteMany(ctx, bson.D{{Key: "_task_id", Value: taskID}}); err != nil {
		return fmt.Errorf("store: delete items of task %s: %w", taskID, err)
	}
	return nil
}
