package mongo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/storetest"
)

// open opens a store on database db of uri and drops db when t ends.
// TestMain fails the run if a test leaves goroutines behind: a store must
// stop everything it started when it is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t testing.TB, uri, db string) *Store {
	t.Helper()
	s, err := Open(t.Context(), uri, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Cleanups run last first, so this one runs after whoever closes
		// s: drop with a client of its own.
		s, err := Open(context.Background(), uri, db)
		if err != nil {
			t.Errorf("drop %s: %v", db, err)
			return
		}
		defer s.Close(context.Background())
		if err := s.db.Drop(context.Background()); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				return open(t, srv.URI, testenv.UniqueDB(t))
			})
		})
	}
}

// TestFilteredUpdateIf runs the tests of UpdateIf's filtered update, the
// way of MongoDB proper, on every server: a FerretDB store uses the
// other (scansFilters), so without this its code would run nowhere here.
func TestFilteredUpdateIf(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			storetest.RunOnly(t, func(t *testing.T) store.Store {
				s := open(t, srv.URI, testenv.UniqueDB(t))
				s.scans = false
				return s
			}, "TaskUpdateIf", "StatsOnce", "StatsCorrectedAfterFold")
		})
	}
}

// TestAtomic runs on a real MongoDB only: FerretDB v1 does not apply a
// filtered update atomically (see store.Tasks.UpdateIf).
func TestAtomic(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		if srv.Name != "mongodb" {
			continue
		}
		t.Run(srv.Name, func(t *testing.T) {
			storetest.RunAtomic(t, func(t *testing.T) store.Store {
				return open(t, srv.URI, testenv.UniqueDB(t))
			})
		})
	}
}

func TestReopen(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			storetest.RunReopen(t, func(t *testing.T) (store.Store, func(*testing.T) store.Store) {
				db := testenv.UniqueDB(t)
				return open(t, srv.URI, db), func(t *testing.T) store.Store {
					s, err := Open(t.Context(), srv.URI, db)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			})
		})
	}
}

// TestLogHeads checks that the head of a log is only a hint: stale,
// missing or wrong, LogLen and AppendLog still find the real end.
func TestLogHeads(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			l := s.Logs()
			id := store.NewID()
			lines := make([]string, 120)
			for i := range lines {
				lines[i] = fmt.Sprint("line ", i)
			}
			for from := 0; from < 100; from += 25 {
				must(t, l.AppendLog(ctx, id, int64(from), lines[from:from+25]))
			}
			setHead := func(from, end int64) {
				t.Helper()
				_, err := s.heads.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}},
					headDoc{ID: id, From: from, End: end}, options.Replace().SetUpsert(true))
				must(t, err)
			}
			wantLen := func(want int64) {
				t.Helper()
				n, err := l.LogLen(ctx, id)
				must(t, err)
				if n != want {
					t.Fatalf("LogLen = %d, want %d", n, want)
				}
			}
			wantLen(100)
			setHead(0, 25) // stale, as after racing writers
			wantLen(100)
			must(t, l.AppendLog(ctx, id, 100, lines[100:110]))
			wantLen(110)
			_, err := s.heads.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
			must(t, err)
			wantLen(110)
			setHead(500, 600) // no such chunk, as after DeleteLog raced an append
			wantLen(110)
			setHead(25, 999) // a chunk, but not that one
			wantLen(110)
			must(t, l.AppendLog(ctx, id, 110, lines[110:]))
			got, err := l.ReadLog(ctx, id, 0, 1000)
			must(t, err)
			if !slices.Equal(got, lines) {
				t.Fatalf("log read back wrong: %d lines", len(got))
			}
			must(t, l.DeleteLog(ctx, id))
			wantLen(0)
			if n, err := s.heads.CountDocuments(ctx, bson.D{}); err != nil || n != 0 {
				t.Errorf("%d heads left after DeleteLog (%v)", n, err)
			}
		})
	}
}

// TestLogChunks checks that one big append is split into documents well
// under MongoDB's 16 MiB limit.
func TestLogChunks(t *testing.T) {
	for _, srv := range testenv.MongoURIs(t) {
		t.Run(srv.Name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, srv.URI, testenv.UniqueDB(t))
			defer s.Close(ctx)
			id := store.NewID()
			var lines []string
			for i := range 30_000 {
				lines = append(lines, fmt.Sprint("small line ", i))
				if i%5000 == 0 {
					lines = append(lines, strings.Repeat("x", 3<<20))
				}
			}
			must(t, s.Logs().AppendLog(ctx, id, 0, lines))
			if err := s.Logs().AppendLog(ctx, id, int64(len(lines)), []string{strings.Repeat("y", maxLineBytes+1)}); err == nil {
				t.Error("AppendLog took a line longer than maxLineBytes")
			}
			cur, err := s.chunks.Find(ctx, bson.D{{Key: "task_id", Value: id}})
			must(t, err)
			defer cur.Close(ctx)
			docs, total := 0, 0
			for cur.Next(ctx) {
				docs++
				if len(cur.Current) > maxLineBytes+chunkBytes {
					t.Errorf("chunk of %d bytes", len(cur.Current))
				}
				var c chunkDoc
				must(t, cur.Decode(&c))
				if c.Lines != nil || c.Packed == nil {
					t.Errorf("chunk [%d, %d) not packed", c.From, c.End)
				}
				lines, err := c.lines()
				must(t, err)
				if len(lines) > chunkLines || c.End-c.From != int64(len(lines)) {
					t.Errorf("chunk [%d, %d) holds %d lines", c.From, c.End, len(lines))
				}
				total += len(lines)
			}
			must(t, cur.Err())
			if total != len(lines) || docs < 6+3 {
				t.Errorf("%d lines in %d chunks, want %d lines in at least 9", total, docs, len(lines))
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
