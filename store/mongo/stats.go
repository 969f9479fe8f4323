package mongo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
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
//     counts once). Small: it holds the ends not yet folded. A fold
//     renames it to task_ends_fold_<fold id> (new ends make a new
//     task_ends), folds that, and drops it: FerretDB deletes a large
//     selection with one SQL statement too many variables long, and a
//     drop costs nothing.
//   - task_hours_YYYYMMDD and task_days_YYYYMM: the rollups, one document
//     per UTC hour in a collection per day, one per UTC day in a
//     collection per month, every spider and status of the hour or day in
//     one document, written whole by Fold, which only one caller runs at a
//     time. A 24-hour window reads two small collections, a 30-day one
//     two others; FerretDB's cost is the size of what it scans.
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
	At         time.Time `bson:"at"` // when it was stored, for people
	// Sign is -1 for the end a correction takes back out (and 0, meaning
	// 1, for every other).
	Sign int64 `bson:"sign,omitempty"`
}

func (d *endDoc) sign() int64 {
	if d.Sign < 0 {
		return -1
	}
	return 1
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

// hourDoc is the rollup of one UTC hour: every spider and final status of
// the hour in one document, in the collection of its UTC day
// (task_hours_YYYYMMDD, at most 24 documents). FerretDB reads a whole
// collection for any query, so small collections are what keep a read of
// 24 hours small, whatever the history.
type hourDoc struct {
	ID   string    `bson:"_id"` // hourKey
	Hour time.Time `bson:"hour"`
	// Fold is the last fold written into Rows: the ends of this hour in
	// task_ends_fold_<Fold> are counted.
	Fold string `bson:"fold"`
	Rows []byte `bson:"rows"` // packRows
}

// dayDoc is the rollup of one UTC day, the sum of its hours, in the
// collection of its UTC month (task_days_YYYYMM, at most 31 documents).
type dayDoc struct {
	ID  string    `bson:"_id"` // dayKey
	Day time.Time `bson:"day"`
	// Folds are the Fold of each hour summed (by hourKey).
	Folds map[string]string `bson:"folds"`
	Rows  []byte            `bson:"rows"` // packRows
}

// rowDoc is one (spider, status) of a rollup: an hour of 50 spiders holds
// 200 of them. A rollup stores its rows packed (packRows), as one binary
// value: FerretDB turns every value of a document into a value of its own
// when it reads it (about 2 µs each), so 200 rows of subdocuments made a
// day of hours cost 100 ms to read, and one binary costs nothing.
type rowDoc struct {
	SpiderID   string `json:"s"`
	SpiderName string `json:"n"`
	Status     string `json:"st"`
	Count      int64  `json:"c"`
	RunCount   int64  `json:"rc,omitempty"`
	RunSumMS   int64  `json:"rs,omitempty"`
	RunMaxMS   int64  `json:"rm,omitempty"`
	Items      int64  `json:"i,omitempty"`
	// Hist is the run-time histogram's non-zero buckets, as pairs
	// (bucket, count).
	Hist []int64 `json:"h,omitempty"`
}

// packRows and unpackRows are the stored form of a rollup's rows: JSON.
func packRows(rows []rowDoc) []byte {
	b, _ := json.Marshal(rows) // plain strings and numbers always marshal
	return b
}

func unpackRows(b []byte) ([]rowDoc, error) {
	var rows []rowDoc
	if len(b) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("read a rollup's rows: %w", err)
	}
	return rows, nil
}

func hourKey(t time.Time) string { return t.UTC().Format("2006-01-02T15Z") }

func dayKey(t time.Time) string { return t.UTC().Format("2006-01-02") }

func (s *Store) hoursColl(day time.Time) *mongo.Collection {
	return s.db.Collection("task_hours_" + day.UTC().Format("20060102"))
}

func (s *Store) daysColl(month time.Time) *mongo.Collection {
	return s.db.Collection("task_days_" + month.UTC().Format("200601"))
}

// foldingPrefix names the task ends a fold is folding.
const foldingPrefix = "task_ends_fold_"

// rollupKey is (hour or day, spider id, status).
type rollupKey [3]string

type rollups map[rollupKey]*store.Rollup

func (m rollups) addRows(at time.Time, key string, packed []byte) error {
	rows, err := unpackRows(packed)
	if err != nil {
		return err
	}
	for _, row := range rows {
		r := &store.Rollup{Hour: at.UTC(), SpiderID: row.SpiderID, SpiderName: row.SpiderName, Status: row.Status,
			Count: row.Count, RunCount: row.RunCount, RunSumMS: row.RunSumMS, RunMaxMS: row.RunMaxMS, Items: row.Items}
		for i := 0; i+1 < len(row.Hist); i += 2 {
			if b := row.Hist[i]; b >= 0 && b < int64(len(r.Hist)) {
				r.Hist[b] = row.Hist[i+1]
			}
		}
		k := rollupKey{key, row.SpiderID, row.Status}
		if old := m[k]; old != nil {
			old.Merge(r)
			old.SpiderName = r.SpiderName
		} else {
			m[k] = r
		}
	}
	return nil
}

func (m rollups) addEnd(at time.Time, key string, e store.TaskEnd, sign int64) {
	k := rollupKey{key, e.SpiderID, e.Status}
	r := m[k]
	if r == nil {
		r = &store.Rollup{Hour: at, SpiderID: e.SpiderID, Status: e.Status}
		m[k] = r
	}
	if sign > 0 || r.SpiderName == "" {
		r.SpiderName = e.SpiderName
	}
	r.Add(e, sign)
}

func (m rollups) rows() []byte {
	rows := make([]rowDoc, 0, len(m))
	for _, r := range m {
		if r.Count == 0 && r.RunCount == 0 && r.Items == 0 {
			continue // taken back out by a correction
		}
		row := rowDoc{SpiderID: r.SpiderID, SpiderName: r.SpiderName, Status: r.Status, Count: r.Count,
			RunCount: r.RunCount, RunSumMS: r.RunSumMS, RunMaxMS: r.RunMaxMS, Items: r.Items}
		for b, c := range r.Hist {
			if c != 0 {
				row.Hist = append(row.Hist, int64(b), c)
			}
		}
		rows = append(rows, row)
	}
	return packRows(rows)
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

// corrected moves the end of prev to t's when its final status changed
// (abnormal, then the outcome its node reports). An end not folded yet is
// replaced; one folded (or being folded) is taken back out by a second
// end of the old status with sign -1, stored with the new end, both under
// ids of their own (so a retry stores them once). Without prev (a caller
// that could not read it) a folded end stays as it was.
func (s *Store) corrected(ctx context.Context, prev, t *store.Task) error {
	now := time.Now()
	res, err := s.taskEnds.ReplaceOne(ctx, bson.D{{Key: "_id", Value: t.ID}}, toEndDoc(t, now))
	if err != nil {
		return fmt.Errorf("correct its end: %w", err)
	}
	if matchedCount(res) != 0 || prev == nil {
		return nil
	}
	id := t.ID + "." + prev.Status + "." + t.Status
	out, in := toEndDoc(prev, now), toEndDoc(t, now)
	out.ID, out.Sign, in.ID = id+".out", -1, id+".in"
	if err := ignoreDuplicates(s.taskEnds.InsertMany(ctx, []any{out, in}, options.InsertMany().SetOrdered(false))); err != nil {
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
// ("" for a new task) changes in the overview; prev is that task when the
// caller read it (a correction needs it to take a folded end back out).
func (s *Store) changed(ctx context.Context, old string, prev, t *store.Task) error {
	switch {
	case !store.TaskEnded(t.Status):
		return s.active(ctx, t)
	case !store.TaskEnded(old):
		return s.ended(ctx, t)
	case old != t.Status:
		return s.corrected(ctx, prev, t)
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
	// The ends first, then the rollups: a fold that ends meanwhile has
	// written the rollups before it dropped its ends, so nothing falls
	// between the two reads.
	inWindow := bson.D{{Key: "hour", Value: bson.D{{Key: "$gte", Value: q.From}, {Key: "$lt", Value: q.To}}}}
	ends := map[string]endDoc{}
	fold := map[string]string{} // by task id: the fold its end is being folded by
	list, err := findAll(ctx, s.taskEnds, inWindow, func(d *endDoc) endDoc { return *d })
	if err != nil {
		return nil, fmt.Errorf("store: task stats: read task ends: %w", err)
	}
	for _, e := range list {
		ends[e.ID] = e
	}
	folding, err := (*Store)(s).folding(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	for _, name := range folding {
		list, err := findAll(ctx, s.db.Collection(name), inWindow, func(d *endDoc) endDoc { return *d })
		if err != nil {
			return nil, fmt.Errorf("store: task stats: read task ends: %w", err)
		}
		for _, e := range list {
			ends[e.ID], fold[e.ID] = e, strings.TrimPrefix(name, foldingPrefix)
		}
	}

	m := rollups{}
	folds := map[string]string{} // by hourKey: the fold whose ends the rollups hold
	if q.Bucket == time.Hour {
		for d := q.From.Truncate(24 * time.Hour); d.Before(q.To); d = d.Add(24 * time.Hour) {
			docs, err := findAll(ctx, (*Store)(s).hoursColl(d), bson.D{}, func(d *hourDoc) hourDoc { return *d })
			if err != nil {
				return nil, fmt.Errorf("store: task stats: read the hours of %s: %w", dayKey(d), err)
			}
			for _, doc := range docs {
				if h := doc.Hour.UTC(); !h.Before(q.From) && h.Before(q.To) {
					if err := m.addRows(h, doc.ID, doc.Rows); err != nil {
						return nil, fmt.Errorf("store: task stats: hour %s: %w", doc.ID, err)
					}
					folds[doc.ID] = doc.Fold
				}
			}
		}
	} else {
		for mo := monthOf(q.From); mo.Before(q.To); mo = mo.AddDate(0, 1, 0) {
			docs, err := findAll(ctx, (*Store)(s).daysColl(mo), bson.D{}, func(d *dayDoc) dayDoc { return *d })
			if err != nil {
				return nil, fmt.Errorf("store: task stats: read the days of %s: %w", mo.Format("2006-01"), err)
			}
			for _, doc := range docs {
				if d := doc.Day.UTC(); !d.Before(q.From) && d.Before(q.To) {
					if err := m.addRows(d, doc.ID, doc.Rows); err != nil {
						return nil, fmt.Errorf("store: task stats: day %s: %w", doc.ID, err)
					}
					maps.Copy(folds, doc.Folds)
				}
			}
		}
	}
	for id, e := range ends {
		k := hourKey(e.Hour)
		if f := fold[id]; f != "" && folds[k] == f {
			continue // folded already, not dropped yet
		}
		at := e.Hour.UTC()
		if q.Bucket != time.Hour {
			at, k = at.Truncate(24*time.Hour), dayKey(at)
		}
		m.addEnd(at, k, e.end(), e.sign())
	}
	rs := make([]store.Rollup, 0, len(m))
	for _, r := range m {
		rs = append(rs, *r)
	}
	running, err := s.taskActive.CountDocuments(ctx, bson.D{{Key: "status", Value: store.TaskRunning}})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: count running: %w", err)
	}
	pending, err := s.taskActive.CountDocuments(ctx, bson.D{{Key: "status", Value: store.TaskPending}})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: count pending: %w", err)
	}
	return store.BuildTaskStats(q, rs, running, pending), nil
}

func monthOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// folding lists the task ends being folded (normally none; one while a
// fold runs or after one stopped half-way).
func (s *Store) folding(ctx context.Context) ([]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, fmt.Errorf("list the task ends being folded: %w", err)
	}
	var out []string
	for _, n := range names {
		if strings.HasPrefix(n, foldingPrefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}
