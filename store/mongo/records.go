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

// ---- nodes

type nodes Store

func (s *nodes) Register(ctx context.Context, n *store.Node) error {
	if err := checkID(n.ID); err != nil {
		return fmt.Errorf("store: register node: %w", err)
	}
	if n.Created.IsZero() {
		n.Created = store.Now()
	}
	// $setOnInsert keeps the Created of a node that registered before.
	_, err := s.nodes.UpdateByID(ctx, n.ID, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "name", Value: n.Name}, {Key: "hostname", Value: n.Hostname}, {Key: "ip", Value: n.IP},
			{Key: "mac", Value: n.MAC}, {Key: "os", Value: n.OS}, {Key: "arch", Value: n.Arch},
			{Key: "version", Value: n.Version}, {Key: "is_master", Value: n.IsMaster},
			{Key: "status", Value: n.Status}, {Key: "last_seen", Value: ms(n.LastSeen)},
		}},
		{Key: "$setOnInsert", Value: bson.D{{Key: "created", Value: ms(n.Created)}}},
	}, options.UpdateOne().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("store: register node %s: %w", n.ID, err)
	}
	return nil
}

func (s *nodes) Get(ctx context.Context, id string) (*store.Node, error) {
	var d nodeDoc
	if err := findOne(ctx, s.nodes, bson.D{{Key: "_id", Value: id}}, &d); err != nil {
		return nil, fmt.Errorf("store: get node %s: %w", id, err)
	}
	n := d.node()
	return &n, nil
}

func (s *nodes) List(ctx context.Context) ([]store.Node, error) {
	list, err := findAll(ctx, s.nodes, bson.D{}, (*nodeDoc).node,
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	return list, nil
}

func (s *nodes) Touch(ctx context.Context, id string, at time.Time) error {
	res, err := s.nodes.UpdateByID(ctx, id, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: store.NodeOnline}, {Key: "last_seen", Value: ms(at)},
	}}})
	if err = matched(matchedCount(res), err); err != nil {
		return fmt.Errorf("store: touch node %s: %w", id, err)
	}
	return nil
}

func (s *nodes) SetOffline(ctx context.Context, id string) error {
	res, err := s.nodes.UpdateByID(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: store.NodeOffline}}}})
	if err = matched(matchedCount(res), err); err != nil {
		return fmt.Errorf("store: set node %s offline: %w", id, err)
	}
	return nil
}

// MarkStale finds the stale nodes, then flips each with an update that
// repeats the condition, and reports those whose update changed something.
// On MongoDB that makes concurrent sweeps by several masters report each
// node once. FerretDB v1 does not apply a filtered update atomically, so
// there two racing sweeps may both report a node: harmless, since the
// report only makes masters tell browsers "offline" twice.
func (s *nodes) MarkStale(ctx context.Context, before time.Time) ([]store.Node, error) {
	stale := bson.D{{Key: "status", Value: store.NodeOnline}, {Key: "last_seen", Value: bson.D{{Key: "$lt", Value: ms(before)}}}}
	candidates, err := findAll(ctx, s.nodes, stale, (*nodeDoc).node,
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: mark stale nodes: %w", err)
	}
	var changed []store.Node
	for _, n := range candidates {
		res, err := s.nodes.UpdateOne(ctx, append(bson.D{{Key: "_id", Value: n.ID}}, stale...),
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: store.NodeOffline}}}})
		if err != nil {
			// The nodes already flipped are returned too, so that the
			// caller can still announce them.
			return changed, fmt.Errorf("store: mark node %s stale: %w", n.ID, err)
		}
		if res.ModifiedCount == 1 {
			n.Status = store.NodeOffline
			changed = append(changed, n)
		}
	}
	return changed, nil
}

// ---- spiders

type spiders Store

func (s *spiders) Create(ctx context.Context, sp *store.Spider) error {
	if err := checkID(sp.ID); err != nil {
		return fmt.Errorf("store: create spider %q: %w", sp.Name, err)
	}
	if _, err := s.spiders.InsertOne(ctx, toSpiderDoc(sp)); err != nil {
		return fmt.Errorf("store: create spider %q: %w", sp.Name, conflict(err))
	}
	return nil
}

func (s *spiders) get(ctx context.Context, what string, filter bson.D) (*store.Spider, error) {
	var d spiderDoc
	if err := findOne(ctx, s.spiders, filter, &d); err != nil {
		return nil, fmt.Errorf("store: get spider %s: %w", what, err)
	}
	sp := d.spider()
	return &sp, nil
}

func (s *spiders) Get(ctx context.Context, id string) (*store.Spider, error) {
	return s.get(ctx, id, bson.D{{Key: "_id", Value: id}})
}

func (s *spiders) GetByName(ctx context.Context, name string) (*store.Spider, error) {
	return s.get(ctx, fmt.Sprintf("%q", name), bson.D{{Key: "name", Value: name}})
}

func (s *spiders) List(ctx context.Context) ([]store.Spider, error) {
	list, err := findAll(ctx, s.spiders, bson.D{}, (*spiderDoc).spider,
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list spiders: %w", err)
	}
	return list, nil
}

func (s *spiders) Update(ctx context.Context, sp *store.Spider) error {
	if err := s.update(ctx, sp); err != nil {
		return fmt.Errorf("store: update spider %s: %w", sp.ID, err)
	}
	return nil
}

func (s *spiders) update(ctx context.Context, sp *store.Spider) error {
	if err := nameFree(ctx, s.spiders, "name", sp.ID, sp.Name); err != nil {
		return err
	}
	res, err := s.spiders.ReplaceOne(ctx, bson.D{{Key: "_id", Value: sp.ID}}, toSpiderDoc(sp))
	return matched(matchedCount(res), conflict(err))
}

func (s *spiders) Delete(ctx context.Context, id string) error {
	res, err := s.spiders.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err = matched(deletedCount(res), err); err != nil {
		return fmt.Errorf("store: delete spider %s: %w", id, err)
	}
	return nil
}

// ---- tasks

type tasks Store

func (s *tasks) Create(ctx context.Context, t *store.Task) error {
	if err := checkID(t.ID); err != nil {
		return fmt.Errorf("store: create task: %w", err)
	}
	if _, err := s.tasks.InsertOne(ctx, toTaskDoc(t)); err != nil {
		return fmt.Errorf("store: create task %s: %w", t.ID, conflict(err))
	}
	err := (*Store)(s).changed(ctx, "", nil, t)
	if err == nil {
		err = (*Store)(s).enqueue(ctx, []store.Task{*t}, []bool{true})
	}
	if err != nil {
		return fmt.Errorf("store: create task %s: %w", t.ID, err)
	}
	return nil
}

// CreateMany inserts ts unordered in one command: a task whose id exists
// is reported as a duplicate key and the others are inserted all the same.
func (s *tasks) CreateMany(ctx context.Context, ts []store.Task) ([]bool, error) {
	created := make([]bool, len(ts))
	if len(ts) == 0 {
		return created, ctx.Err()
	}
	docs := make([]any, len(ts))
	for i := range ts {
		if err := checkID(ts[i].ID); err != nil {
			return nil, fmt.Errorf("store: create tasks: %w", err)
		}
		docs[i] = toTaskDoc(&ts[i])
		created[i] = true
	}
	_, err := s.tasks.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		err = nil
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) || we.Index < 0 || we.Index >= len(ts) {
				err = bwe
				break
			}
			created[we.Index] = false
		}
	}
	if err == nil {
		err = (*Store)(s).changedMany(ctx, ts, created)
	}
	if err == nil {
		err = (*Store)(s).enqueue(ctx, ts, created)
	}
	if err != nil {
		return nil, fmt.Errorf("store: create %d tasks: %w", len(ts), err)
	}
	return created, nil
}

func (s *tasks) Get(ctx context.Context, id string) (*store.Task, error) {
	var d taskDoc
	if err := findOne(ctx, s.tasks, bson.D{{Key: "_id", Value: id}}, &d); err != nil {
		return nil, fmt.Errorf("store: get task %s: %w", id, err)
	}
	t := d.task()
	return &t, nil
}

// List counts with CountDocuments, not a $group/$facet pipeline: FerretDB
// v1 gets multi-accumulator groups wrong. The count and the page are two
// reads, so a task created in between can make them disagree by one.
func (s *tasks) List(ctx context.Context, f store.TaskFilter) ([]store.Task, int, error) {
	filter := bson.D{}
	for _, c := range []struct{ key, val string }{
		{"status", f.Status}, {"spider_id", f.SpiderID}, {"node_id", f.NodeID}, {"schedule_id", f.ScheduleID},
	} {
		if c.val != "" {
			filter = append(filter, bson.E{Key: c.key, Value: c.val})
		}
	}
	total, err := s.tasks.CountDocuments(ctx, filter)
	if err != nil {
		return nil, 0, fmt.Errorf("store: count tasks: %w", err)
	}
	opts := options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}})
	if f.Offset > 0 {
		opts.SetSkip(int64(f.Offset))
	}
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	list, err := findAll(ctx, s.tasks, filter, (*taskDoc).task, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list tasks: %w", err)
	}
	return list, int(total), nil
}

func (s *tasks) Active(ctx context.Context, scheduleIDs []string) (map[string]store.Task, error) {
	out := map[string]store.Task{}
	if len(scheduleIDs) == 0 {
		return out, ctx.Err()
	}
	list, err := findAll(ctx, s.tasks, bson.D{
		{Key: "schedule_id", Value: bson.D{{Key: "$in", Value: scheduleIDs}}},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{store.TaskPending, store.TaskRunning}}}},
	}, (*taskDoc).task, options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}}))
	if err != nil {
		return nil, fmt.Errorf("store: active tasks of %d schedules: %w", len(scheduleIDs), err)
	}
	for _, t := range list {
		if _, ok := out[t.ScheduleID]; !ok {
			out[t.ScheduleID] = t // newest first
		}
	}
	return out, nil
}

// Update of a task that has ended reads the task it replaces in the same
// command (FindOneAndReplace), to count the end only when the task had not
// ended before.
func (s *tasks) Update(ctx context.Context, t *store.Task) error {
	if !store.TaskEnded(t.Status) {
		res, err := s.tasks.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}}, toTaskDoc(t))
		if err = matched(matchedCount(res), err); err == nil {
			err = (*Store)(s).changed(ctx, "", nil, t)
		}
		if err == nil {
			err = (*Store)(s).requeue(ctx, t)
		}
		if err != nil {
			return fmt.Errorf("store: update task %s: %w", t.ID, err)
		}
		return nil
	}
	var old taskDoc // whole: FerretDB v1 takes no projection here
	err := s.tasks.FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: t.ID}}, toTaskDoc(t),
		options.FindOneAndReplace().SetReturnDocument(options.Before)).Decode(&old)
	if errors.Is(err, mongo.ErrNoDocuments) {
		err = store.ErrNotFound
	}
	if err == nil {
		prev := old.task()
		err = (*Store)(s).changed(ctx, prev.Status, &prev, t)
	}
	if err == nil {
		err = (*Store)(s).requeue(ctx, t)
	}
	if err != nil {
		return fmt.Errorf("store: update task %s: %w", t.ID, err)
	}
	return nil
}

// UpdateIf is one ReplaceOne filtered on the id and the status (atomic on
// MongoDB, not on FerretDB v1: see store.Tasks), then, only when it
// matched nothing, a read of why. FerretDB reads every task for that
// filter (it looks up by _id only when the filter is the _id alone), so
// there the status is read by _id and the task replaced by _id: what
// FerretDB itself does for the filtered update, no less atomic, without
// reading the whole collection twice.
//
// A correction (an ended task ended again, as when its node reports the
// outcome of a task marked abnormal) reads the task it replaces, which
// the overview takes back out.
func (s *tasks) UpdateIf(ctx context.Context, t *store.Task, status string) error {
	var err error
	var prev *store.Task
	if (*Store)(s).scans {
		prev, err = s.updateIfByID(ctx, t, status)
	} else {
		prev, err = s.updateIfFiltered(ctx, t, status)
	}
	if err == nil {
		err = (*Store)(s).changed(ctx, status, prev, t)
	}
	if err == nil && (status == store.TaskPending || t.Status == store.TaskPending) {
		err = (*Store)(s).requeue(ctx, t)
	}
	if err != nil {
		return fmt.Errorf("store: update task %s: %w", t.ID, err)
	}
	return nil
}

// correction says whether replacing a task whose status is old by t
// corrects its end.
func correction(old string, t *store.Task) bool {
	return store.TaskEnded(old) && store.TaskEnded(t.Status) && old != t.Status
}

// updateIfFiltered returns the task it replaced when that is a correction.
func (s *tasks) updateIfFiltered(ctx context.Context, t *store.Task, status string) (*store.Task, error) {
	filter := bson.D{{Key: "_id", Value: t.ID}, {Key: "status", Value: status}}
	if correction(status, t) {
		var old taskDoc
		err := s.tasks.FindOneAndReplace(ctx, filter, toTaskDoc(t), options.FindOneAndReplace().SetReturnDocument(options.Before)).Decode(&old)
		if err == nil {
			prev := old.task()
			return &prev, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return nil, err
		}
	} else {
		res, err := s.tasks.ReplaceOne(ctx, filter, toTaskDoc(t))
		if err != nil || matchedCount(res) != 0 {
			return nil, err
		}
	}
	var now struct {
		Status string `bson:"status"`
	}
	err := findOne(ctx, s.tasks, bson.D{{Key: "_id", Value: t.ID}}, &now,
		options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}}))
	if err == nil {
		err = fmt.Errorf("%w: status is %s, not %s", store.ErrStale, now.Status, status)
	}
	return nil, err
}

// updateIfByID returns the task it replaced when that is a correction.
func (s *tasks) updateIfByID(ctx context.Context, t *store.Task, status string) (*store.Task, error) {
	var now taskDoc
	var opts []options.Lister[options.FindOneOptions]
	if !correction(status, t) {
		opts = append(opts, options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}}))
	}
	if err := findOne(ctx, s.tasks, bson.D{{Key: "_id", Value: t.ID}}, &now, opts...); err != nil {
		return nil, err
	}
	if now.Status != status {
		return nil, fmt.Errorf("%w: status is %s, not %s", store.ErrStale, now.Status, status)
	}
	res, err := s.tasks.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}}, toTaskDoc(t))
	if err = matched(matchedCount(res), err); err != nil || !correction(status, t) {
		return nil, err
	}
	prev := now.task()
	return &prev, nil
}

func (s *tasks) Delete(ctx context.Context, id string) error {
	res, err := s.tasks.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err = matched(deletedCount(res), err); err == nil {
		// Its end, if it had one, stays counted: the overview is history.
		_, err = s.taskActive.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	}
	if err == nil {
		_, err = s.queue.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	}
	if err != nil {
		return fmt.Errorf("store: delete task %s: %w", id, err)
	}
	return nil
}
