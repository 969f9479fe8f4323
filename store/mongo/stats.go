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

// The overview on MongoDB (see docs/overview.md). FerretDB v1 scans a
// collection for every query, updates filtered documents without
// atomicity and gets multi-accumulator $group wrong, so the overview never
// reads tasks and never counts with $inc:
//
//   - task_ends: one document per ended task, _id its task id, inserted as
//     the task ends (a second insert is a duplicate key, ignored: a task
//     counts once). Small: it holds the ends not yet folded.
//   - task_rollups: one document per UTC hour (_id "2006-01-02T15Z"),
//     every spider and status of the hour in one document, written whole
//     by Fold, which only one caller runs at a time. A 30-day window reads
//     at most 720 of them.
//   - task_active: one document per pending or running task (_id its task
//     id), so that "running and pending now" counts a small collection.
//
// A query reads the window's rollups and adds the ends not folded yet.

func (s *Store) Stats() store.Stats { return (*stats)(s) }

type stats Store

type endDoc struct {
	ID         string    `bson:"_id"` // the task's id
	Hour       time.Time `bson:"hour"`
	SpiderID   string    `bson:"spider_id"`
	SpiderName string    `bson:"spider_name"`
	Status     string    `bson:"status"`
	RunMS      int64     `bson:"run_ms"` // -1: never started
	Items      int64     `bson:"items"`
	// At is when the end was stored (the writer's clock): Fold folds what
	// was stored before its cut, and a rollup remembers its last cut.
	At time.Time `bson:"at"`
}

func toEndDoc(t *store.Task, at time.Time) *endDoc {
	e := store.TaskEndOf(t)
	return &endDoc{ID: t.ID, Hour: e.Hour, SpiderID: e.SpiderID, SpiderName: e.SpiderName, Status: e.Status,
		RunMS: e.RunMS, Items: e.Items, At: at}
}

func (d *endDoc) end() store.TaskEnd {
	return store.TaskEnd{Hour: d.Hour.UTC(), SpiderID: d.SpiderID, SpiderName: d.SpiderName, Status: d.Status,
		RunMS: d.RunMS, Items: d.Items}
}

type rollupDoc struct {
	ID   string    `bson:"_id"`
	Hour time.Time `bson:"hour"`
	// Cut: every end of this hour stored before it is counted in Rows.
	Cut  time.Time      `bson:"cut"`
	Rows []rollupRowDoc `bson:"rows"`
}

type rollupRowDoc struct {
	SpiderID   string  `bson:"spider_id"`
	SpiderName string  `bson:"spider_name"`
	Status     string  `bson:"status"`
	Count      int64   `bson:"count"`
	RunCount   int64   `bson:"run_count"`
	RunSumMS   int64   `bson:"run_sum_ms"`
	RunMaxMS   int64   `bson:"run_max_ms"`
	Items      int64   `bson:"items"`
	Hist       []int64 `bson:"hist"`
}

func hourKey(t time.Time) string { return t.UTC().Format("2006-01-02T15Z") }

// cutMargin is how far behind its own clock Fold cuts: an end stored by
// another master whose clock is up to this much ahead is still folded
// after it was stored, never skipped.
const cutMargin = time.Minute

// rollupKey is (hour, spider id, status).
type rollupKey [3]string

// rollups turns d's rows into store.Rollups.
func (d *rollupDoc) rollups() map[rollupKey]*store.Rollup {
	m := map[rollupKey]*store.Rollup{}
	for _, row := range d.Rows {
		r := &store.Rollup{Hour: d.Hour.UTC(), SpiderID: row.SpiderID, SpiderName: row.SpiderName, Status: row.Status,
			Count: row.Count, RunCount: row.RunCount, RunSumMS: row.RunSumMS, RunMaxMS: row.RunMaxMS, Items: row.Items}
		copy(r.Hist[:], row.Hist)
		m[rollupKey{d.ID, row.SpiderID, row.Status}] = r
	}
	return m
}

func addEnd(m map[rollupKey]*store.Rollup, e store.TaskEnd) {
	k := rollupKey{hourKey(e.Hour), e.SpiderID, e.Status}
	r := m[k]
	if r == nil {
		r = &store.Rollup{Hour: e.Hour, SpiderID: e.SpiderID, Status: e.Status}
		m[k] = r
	}
	r.SpiderName = e.SpiderName
	r.Add(e, 1)
}

// ---- written as tasks change (records.go calls these)

// ended records that t has ended, for the first time: its end, and it is
// no longer active. A duplicate end (two writers racing) is ignored.
func (s *Store) ended(ctx context.Context, t *store.Task) error {
	_, err := s.taskEnds.InsertOne(ctx, toEndDoc(t, time.Now()))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("count its end: %w", err)
	}
	if _, err := s.taskActive.DeleteOne(ctx, bson.D{{Key: "_id", Value: t.ID}}); err != nil {
		return fmt.Errorf("count its end: %w", err)
	}
	return nil
}

// corrected replaces the end of t when its final status changed (abnormal,
// then the outcome its node reports) and the end is not folded yet; once
// folded, the first end stays counted.
func (s *Store) corrected(ctx context.Context, t *store.Task) error {
	_, err := s.taskEnds.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}}, toEndDoc(t, time.Now()))
	if err != nil {
		return fmt.Errorf("correct its end: %w", err)
	}
	return nil
}

// active records that t is pending or running.
func (s *Store) active(ctx context.Context, t *store.Task) error {
	_, err := s.taskActive.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}},
		bson.D{{Key: "_id", Value: t.ID}, {Key: "status", Value: t.Status}}, options.Replace().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("count it active: %w", err)
	}
	return nil
}

// changed counts what a write of t over a task whose status was old
// ("" for a new task) changes in the overview.
func (s *Store) changed(ctx context.Context, old string, t *store.Task) error {
	switch {
	case !store.TaskEnded(t.Status):
		return s.active(ctx, t)
	case !store.TaskEnded(old):
		return s.ended(ctx, t)
	case old != t.Status:
		return s.corrected(ctx, t)
	}
	return nil
}

// changedMany is changed for tasks just created, in two bulk writes.
func (s *Store) changedMany(ctx context.Context, ts []store.Task, created []bool) error {
	var ends, active []any
	now := time.Now()
	for i := range ts {
		switch {
		case !created[i]:
		case store.TaskEnded(ts[i].Status):
			ends = append(ends, toEndDoc(&ts[i], now))
		default:
			active = append(active, bson.D{{Key: "_id", Value: ts[i].ID}, {Key: "status", Value: ts[i].Status}})
		}
	}
	for _, w := range []struct {
		c    *mongo.Collection
		docs []any
	}{{s.taskEnds, ends}, {s.taskActive, active}} {
		if len(w.docs) == 0 {
			continue
		}
		if err := ignoreDuplicates(w.c.InsertMany(ctx, w.docs, options.InsertMany().SetOrdered(false))); err != nil {
			return fmt.Errorf("count them: %w", err)
		}
	}
	return nil
}

func ignoreDuplicates(_ *mongo.InsertManyResult, err error) error {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil {
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return err
			}
		}
		return nil
	}
	return err
}

// ---- read

func (s *stats) TaskStats(ctx context.Context, q store.StatsQuery) (*store.TaskStats, error) {
	q, err := store.CheckStatsQuery(q)
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	docs, err := findAll(ctx, s.taskRollups, bson.D{{Key: "_id", Value: bson.D{
		{Key: "$gte", Value: hourKey(q.From)}, {Key: "$lt", Value: hourKey(q.To)}}}},
		func(d *rollupDoc) rollupDoc { return *d })
	if err != nil {
		return nil, fmt.Errorf("store: task stats: read rollups: %w", err)
	}
	byHour := map[string]*rollupDoc{}
	for i := range docs {
		byHour[docs[i].ID] = &docs[i]
	}
	ends, err := findAll(ctx, s.taskEnds, bson.D{{Key: "hour", Value: bson.D{
		{Key: "$gte", Value: q.From}, {Key: "$lt", Value: q.To}}}}, func(d *endDoc) endDoc { return *d })
	if err != nil {
		return nil, fmt.Errorf("store: task stats: read task ends: %w", err)
	}
	var list []store.Rollup
	for _, d := range docs {
		for _, r := range d.rollups() {
			list = append(list, *r)
		}
	}
	recent := map[rollupKey]*store.Rollup{}
	for _, e := range ends {
		if d := byHour[hourKey(e.Hour)]; d != nil && e.At.Before(d.Cut) {
			continue // folded already, not deleted yet
		}
		addEnd(recent, e.end())
	}
	for _, r := range recent {
		list = append(list, *r)
	}
	running, err := s.taskActive.CountDocuments(ctx, bson.D{{Key: "status", Value: store.TaskRunning}})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: count running: %w", err)
	}
	pending, err := s.taskActive.CountDocuments(ctx, bson.D{{Key: "status", Value: store.TaskPending}})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: count pending: %w", err)
	}
	return store.BuildTaskStats(q, list, running, pending), nil
}

// ---- fold

// Fold adds the ends of the hours before before, stored up to a minute
// ago, to their hours' rollups, then deletes them. Each rollup records the
// cut it was folded up to, so a Fold that stopped between writing the
// rollups and deleting the ends is not counted twice: the next one skips
// (and deletes) the ends the rollup already holds.
func (s *stats) Fold(ctx context.Context, before time.Time) (int, error) {
	cut := time.Now().Add(-cutMargin).Truncate(time.Millisecond)
	filter := bson.D{{Key: "hour", Value: bson.D{{Key: "$lt", Value: before}}}, {Key: "at", Value: bson.D{{Key: "$lt", Value: cut}}}}
	ends, err := findAll(ctx, s.taskEnds, filter, func(d *endDoc) endDoc { return *d })
	if err != nil {
		return 0, fmt.Errorf("store: fold task ends: %w", err)
	}
	if len(ends) == 0 {
		return 0, nil
	}
	hours := map[string][]endDoc{}
	var keys bson.A
	for _, e := range ends {
		k := hourKey(e.Hour)
		if hours[k] == nil {
			keys = append(keys, k)
		}
		hours[k] = append(hours[k], e)
	}
	docs, err := findAll(ctx, s.taskRollups, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: keys}}}},
		func(d *rollupDoc) rollupDoc { return *d })
	if err != nil {
		return 0, fmt.Errorf("store: fold task ends: %w", err)
	}
	old := map[string]*rollupDoc{}
	for i := range docs {
		old[docs[i].ID] = &docs[i]
	}
	folded := 0
	for k, es := range hours {
		d := old[k]
		if d == nil {
			d = &rollupDoc{ID: k, Hour: es[0].Hour.UTC().Truncate(time.Hour)}
		}
		m := d.rollups()
		for _, e := range es {
			if e.At.Before(d.Cut) {
				continue
			}
			addEnd(m, e.end())
			folded++
		}
		d.Cut, d.Rows = cut, d.Rows[:0]
		for _, r := range m {
			d.Rows = append(d.Rows, rollupRowDoc{SpiderID: r.SpiderID, SpiderName: r.SpiderName, Status: r.Status,
				Count: r.Count, RunCount: r.RunCount, RunSumMS: r.RunSumMS, RunMaxMS: r.RunMaxMS, Items: r.Items,
				Hist: r.Hist[:]})
		}
		if _, err := s.taskRollups.ReplaceOne(ctx, bson.D{{Key: "_id", Value: k}}, d, options.Replace().SetUpsert(true)); err != nil {
			return 0, fmt.Errorf("store: fold task ends of %s: %w", k, err)
		}
	}
	if _, err := s.taskEnds.DeleteMany(ctx, filter); err != nil {
		return 0, fmt.Errorf("store: delete folded task ends: %w", err)
	}
	return folded, nil
}

// backfillStats counts the tasks that ended before the store kept task
// ends (a database from an earlier crawlhub), once: a marker in
// task_rollups says it was done, and is written first, so that two masters
// opening at once do not both do it.
func (s *Store) backfillStats(ctx context.Context) error {
	_, err := s.taskRollups.InsertOne(ctx, bson.D{{Key: "_id", Value: "backfill"}, {Key: "at", Value: time.Now()}})
	if mongo.IsDuplicateKeyError(err) {
		return nil
	}
	if err != nil {
		return err
	}
	cur, err := s.tasks.Find(ctx, bson.D{})
	if err != nil {
		return err
	}
	defer cur.Close(ctx)
	var batch []store.Task
	flush := func() error {
		created := make([]bool, len(batch))
		for i := range created {
			created[i] = true
		}
		err := s.changedMany(ctx, batch, created)
		batch = batch[:0]
		return err
	}
	for cur.Next(ctx) {
		var d taskDoc
		if err := cur.Decode(&d); err != nil {
			return err
		}
		batch = append(batch, d.task())
		if len(batch) == 1000 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	return flush()
}
