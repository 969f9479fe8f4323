package mongo

import (
	"context"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// A Fold that stopped after writing the rollups, before deleting the task
// ends it folded, leaves those ends behind: neither a read nor the next
// Fold counts them twice, and that Fold deletes them.
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
			// The ends are back, as if the fold had stopped before deleting them.
			if _, err := s.taskEnds.InsertMany(ctx, left); err != nil {
				t.Fatal(err)
			}
			check("with the folded ends left behind")
			if n, err := s.Stats().Fold(ctx, store.Now().Truncate(time.Hour)); err != nil || n != 0 {
				t.Errorf("second Fold = %d, %v; want 0 (all counted already)", n, err)
			}
			check("after the second fold")
			if c, err := s.taskEnds.CountDocuments(ctx, bson.D{}); err != nil || c != 0 {
				t.Errorf("%d task ends left after the second fold (%v), want 0", c, err)
			}
		})
	}
}
