package mongo

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// A Fold that stopped after writing the rollups, before dropping the task
// ends it folded, leaves those ends behind: neither a read nor the next
// Fold counts them twice, and that Fold drops them.
func TestFoldResumes(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			t.Cleanup(func() { s.Close(context.Background()) })
			base := store.Now().Truncate(time.Hour).Add(-30 * time.Hour)
			var tasks []store.Task
			for i := range 30 {
				end := base.Add(time.Duration(i) * time.Hour)
				tasks = append(tasks, store.Task{ID: store.NewID(), SpiderID: store.NewID(), SpiderName: "resume",
					Status: store.TaskFinished, Created: end.Add(-time.Minute), Started: end.Add(-time.Second), Finished: end})
			}
			if _, err := s.Tasks().CreateMany(ctx, tasks); err != nil {
				t.Fatal(err)
			}
			var left []any
			cur, err := s.taskEnds.Find(ctx, bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			var docs []endDoc
			if err := cur.All(ctx, &docs); err != nil {
				t.Fatal(err)
			}
			for i := range docs {
				left = append(left, docs[i])
			}
			check := func(what string) {
				t.Helper()
				for _, q := range []store.StatsQuery{
					{From: base, To: base.Add(30 * time.Hour), Bucket: time.Hour},
					{From: base, To: base.Add(30 * time.Hour), Bucket: 24 * time.Hour},
				} {
					st, err := s.Stats().TaskStats(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if st.Totals[store.TaskFinished] != 30 {
						t.Errorf("%s, by %s: %v, want 30 finished", what, st.Bucket, st.Totals)
					}
				}
			}
			check("before the fold")
			n, err := s.Stats().Fold(ctx, store.Now().Truncate(time.Hour))
			if err != nil || n != 30 {
				t.Fatalf("Fold = %d, %v; want 30", n, err)
			}
			check("after the fold")
			// The ends are back, as if the fold had stopped before dropping them.
			var hour hourDoc
			if err := findOne(ctx, s.hoursColl(base), bson.D{{Key: "_id", Value: hourKey(base)}}, &hour); err != nil || hour.Fold == "" {
				t.Fatalf("the first hour's rollup: %+v, %v", hour, err)
			}
			if _, err := s.db.Collection(foldingPrefix+hour.Fold).InsertMany(ctx, left); err != nil {
				t.Fatal(err)
			}
			check("with the folded ends left behind")
			if n, err := s.Stats().Fold(ctx, store.Now().Truncate(time.Hour)); err != nil || n != 0 {
				t.Errorf("second Fold = %d, %v; want 0 (all counted already)", n, err)
			}
			check("after the second fold")
			if names, err := s.folding(ctx); err != nil || len(names) != 0 {
				t.Errorf("task ends being folded after the second fold: %v (%v), want none", names, err)
			}
			// A task that ends now is counted, and folded by the next Fold.
			now := store.Now()
			done := store.Task{ID: store.NewID(), SpiderID: store.NewID(), SpiderName: "late", Status: store.TaskError,
				Created: now, Finished: now}
			if err := s.Tasks().Create(ctx, &done); err != nil {
				t.Fatal(err)
			}
			if n, err := s.Stats().Fold(ctx, now); err != nil || n != 1 {
				t.Errorf("third Fold = %d, %v; want 1", n, err)
			}
			st, err := s.Stats().TaskStats(ctx, store.StatsQuery{From: now.Add(-time.Hour), To: now.Add(time.Hour), Bucket: time.Hour})
			if err != nil || st.Totals[store.TaskError] != 1 {
				t.Errorf("after the third fold: %+v, %v; want the error counted", st, err)
			}
		})
	}
}
