package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// The task queue: one small document per pending task in task_queue (_id
// the task's id, node_id, created), so that looking for pending work reads
// only pending tasks. On FerretDB v1 every query that is not a lookup by
// _id reads the whole collection, and tasks only grows: reading the queue
// instead keeps an agent's poll as cheap with a million old tasks as with
// none.
//
// The queue follows the tasks collection, written after it: a task is
// queued after it is stored, and dequeued after it is stored with another
// status. So a pending task is always queued, and an entry whose task is
// no longer pending (a writer that died between the two writes) is found
// stale by Pending, which reads each task it returns by _id, and removed.

type queueDoc struct {
	ID      string    `bson:"_id"`
	NodeID  string    `bson:"node_id"`
	Created time.Time `bson:"created"`
}

// enqueue queues the pending tasks of ts that were created.
func (s *Store) enqueue(ctx context.Context, ts []store.Task, created []bool) error {
	var docs []any
	for i := range ts {
		if created[i] && ts[i].Status == store.TaskPending {
			docs = append(docs, queueDoc{ID: ts[i].ID, NodeID: ts[i].NodeID, Created: ts[i].Created})
		}
	}
	if len(docs) == 0 {
		return nil
	}
	if err := ignoreDuplicates(s.queue.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))); err != nil {
		return fmt.Errorf("queue it: %w", err)
	}
	return nil
}

// requeue makes the queue follow a write of t: queued while pending,
// dequeued otherwise.
func (s *Store) requeue(ctx context.Context, t *store.Task) error {
	var err error
	if t.Status == store.TaskPending {
		_, err = s.queue.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}},
			queueDoc{ID: t.ID, NodeID: t.NodeID, Created: t.Created}, options.Replace().SetUpsert(true))
		if mongo.IsDuplicateKeyError(err) { // two upserts raced: either did it
			err = nil
		}
	} else {
		_, err = s.queue.DeleteOne(ctx, bson.D{{Key: "_id", Value: t.ID}})
	}
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// Pending reads the queue, oldest first, then each task by _id (the one
// lookup FerretDB does not scan for). Entries whose task is gone or no
// longer pending are removed as they are met.
func (s *tasks) Pending(ctx context.Context, nodeID string, limit int) ([]store.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	entries, err := findAll(ctx, s.queue, bson.D{
		{Key: "node_id", Value: bson.D{{Key: "$in", Value: bson.A{nodeID, ""}}}},
	}, func(d *queueDoc) queueDoc { return *d }, options.Find().
		SetSort(bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}).
		SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
	}
	out := make([]store.Task, 0, len(entries))
	for _, e := range entries {
		var d taskDoc
		err := findOne(ctx, s.tasks, bson.D{{Key: "_id", Value: e.ID}}, &d)
		if err == nil && d.Status == store.TaskPending {
			out = append(out, d.task())
			continue
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
		}
		if _, err := s.queue.DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID}}); err != nil {
			return nil, fmt.Errorf("store: pending tasks for %s: drop a stale queue entry: %w", nodeID, err)
		}
	}
	return out, nil
}

// backfillQueue queues the pending tasks of a database from before the
// queue, once: a marker in task_stats says it was done.
func (s *Store) backfillQueue(ctx context.Context) error {
	_, err := s.db.Collection("task_stats").InsertOne(ctx, bson.D{{Key: "_id", Value: "queue_backfill"}, {Key: "at", Value: time.Now()}})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	list, err := findAll(ctx, s.tasks, bson.D{{Key: "status", Value: store.TaskPending}}, (*taskDoc).task)
	if err != nil {
		return err
	}
	created := make([]bool, len(list))
	for i := range created {
		created[i] = true
	}
	return s.enqueue(ctx, list, created)
}

// scansFilters reports whether the server is FerretDB (v1), which reads
// the whole collection for every filter but {_id: v} and whose filtered
// updates are not atomic anyway: its buildInfo names its version.
func scansFilters(ctx context.Context, db *mongo.Database) (bool, error) {
	var info bson.M
	if err := db.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, fmt.Errorf("buildInfo: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	return ferret, nil
}
