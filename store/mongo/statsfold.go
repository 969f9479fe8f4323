package mongo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// ---- fold

// Fold renames task_ends to task_ends_fold_<new id> (the ends stored from
// then on make a new task_ends), adds the ends in it to their hours'
// rollups, sums each day touched again from its hours, and drops it. Each
// hour records the fold it last took in, and each day its hours', so a
// Fold that stopped half-way is taken up by the next one (which finds its
// collection) without counting an end twice. MongoDB folds every end it
// has, so before is not needed.
func (s *stats) Fold(ctx context.Context, before time.Time) (int, error) {
	st := (*Store)(s)
	folding, err := st.folding(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: fold task ends: %w", err)
	}
	if len(folding) == 0 {
		name := foldingPrefix + store.NewID()
		err := s.client.Database("admin").RunCommand(ctx, bson.D{
			{Key: "renameCollection", Value: s.db.Name() + "." + s.taskEnds.Name()},
			{Key: "to", Value: s.db.Name() + "." + name}}).Err()
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == 26 { // NamespaceNotFound: no ends
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("store: fold task ends: set them apart: %w", err)
		}
		folding = []string{name}
	}
	total := 0
	for _, name := range folding {
		n, err := st.foldEnds(ctx, name)
		if err != nil {
			return total, fmt.Errorf("store: fold task ends: %w", err)
		}
		total += n
	}
	return total, nil
}

// foldEnds folds the collection name (task_ends_fold_<id>) and drops it.
func (s *Store) foldEnds(ctx context.Context, name string) (int, error) {
	id := strings.TrimPrefix(name, foldingPrefix)
	coll := s.db.Collection(name)
	ends, err := findAll(ctx, coll, bson.D{}, func(d *endDoc) endDoc { return *d })
	if err != nil {
		return 0, err
	}
	hours := map[string][]endDoc{}
	days := map[string]time.Time{}
	for _, e := range ends {
		hours[hourKey(e.Hour)] = append(hours[hourKey(e.Hour)], e)
		days[dayKey(e.Hour)] = e.Hour.UTC().Truncate(24 * time.Hour)
	}
	folded := 0
	for k, es := range hours {
		hour := es[0].Hour.UTC().Truncate(time.Hour)
		hc := s.hoursColl(hour)
		var doc hourDoc
		err := findOne(ctx, hc, bson.D{{Key: "_id", Value: k}}, &doc)
		if errors.Is(err, store.ErrNotFound) {
			doc, err = hourDoc{ID: k, Hour: hour}, nil
		}
		if err != nil {
			return 0, fmt.Errorf("hour %s: %w", k, err)
		}
		if doc.Fold == id {
			continue // written before this fold stopped
		}
		m := rollups{}
		if err := m.addRows(hour, k, doc.Rows); err != nil {
			return 0, fmt.Errorf("hour %s: %w", k, err)
		}
		for _, e := range es {
			m.addEnd(hour, k, e.end(), e.sign())
		}
		folded += len(es)
		doc.Fold, doc.Rows = id, m.rows()
		if _, err := hc.ReplaceOne(ctx, bson.D{{Key: "_id", Value: k}}, doc, options.Replace().SetUpsert(true)); err != nil {
			return 0, fmt.Errorf("hour %s: %w", k, err)
		}
	}
	for k, day := range days {
		if err := s.sumDay(ctx, k, day); err != nil {
			return 0, fmt.Errorf("day %s: %w", k, err)
		}
	}
	if err := coll.Drop(ctx); err != nil {
		return 0, fmt.Errorf("drop the folded ends: %w", err)
	}
	return folded, nil
}

// sumDay writes the rollup of a day as the sum of its hours.
func (s *Store) sumDay(ctx context.Context, k string, day time.Time) error {
	docs, err := findAll(ctx, s.hoursColl(day), bson.D{}, func(d *hourDoc) hourDoc { return *d })
	if err != nil {
		return err
	}
	m := rollups{}
	doc := dayDoc{ID: k, Day: day, Folds: map[string]string{}}
	for _, h := range docs {
		if err := m.addRows(day, k, h.Rows); err != nil {
			return fmt.Errorf("hour %s: %w", h.ID, err)
		}
		doc.Folds[h.ID] = h.Fold
	}
	doc.Rows = m.rows()
	_, err = s.daysColl(day).ReplaceOne(ctx, bson.D{{Key: "_id", Value: k}}, doc, options.Replace().SetUpsert(true))
	return err
}

// backfillStats counts the tasks that ended before the store kept task
// ends (a database from an earlier crawlhub), once: a marker in
// task_stats says it was done, and is written first, so that two masters
// opening at once do not both do it.
func (s *Store) backfillStats(ctx context.Context) error {
	_, err := s.db.Collection("task_stats").InsertOne(ctx, bson.D{{Key: "_id", Value: "backfill"}, {Key: "at", Value: time.Now()}})
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
