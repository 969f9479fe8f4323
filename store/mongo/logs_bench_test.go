package mongo

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
)

// benchServers is testenv.MongoURIs, but a benchmark run without any
// server configured (`make bench` outside `make test`) skips instead of
// failing.
func benchServers(b *testing.B) []testenv.NamedURI {
	b.Helper()
	if os.Getenv(testenv.FerretDBURIEnv) == "" && os.Getenv(testenv.FerretDBBinEnv) == "" && os.Getenv(testenv.MongoURIEnv) == "" {
		b.Skipf("no MongoDB-compatible server: set %s, %s or %s", testenv.FerretDBURIEnv, testenv.FerretDBBinEnv, testenv.MongoURIEnv)
	}
	return testenv.MongoURIs(b)
}

// benchLines makes n log lines of about 100 bytes for task, with random
// parts (ids, timings, sizes) so that they compress about as well as a
// real crawler's log, several times over but not more.
func benchLines(task string, n int) []string {
	rng := rand.New(rand.NewPCG(uint64(len(task)), uint64(n)))
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("2025-01-02 15:%02d:%02d.%03d INFO %s: item %d from https://example.com/p/%x status=%d in %dms",
			i/60000%60, i/1000%60, rng.IntN(1000), task, i, rng.Uint64(), 200+rng.IntN(4)*100, rng.IntN(5000))
	}
	return lines
}

// appendAll appends lines as an agent does: pieces of at most piece lines.
func appendAll(tb testing.TB, l store.Logs, id string, lines []string, piece int) {
	tb.Helper()
	for from := 0; from < len(lines); from += piece {
		must(tb, l.AppendLog(tb.Context(), id, int64(from), lines[from:min(from+piece, len(lines))]))
	}
}

// BenchmarkLogMillion is the integration test's big task: 1,000,000 lines
// appended in 200 pieces of 5,000 (with a LogLen now and then, as the
// master's dashboard asks), then read back in 100 pages of 10,000. It
// reports the append and read phases apart; ns/op is the whole of it.
//
//	go test -run '^$' -bench LogMillion -benchtime 1x ./store/mongo
func BenchmarkLogMillion(b *testing.B) {
	const total, piece, page = 1_000_000, 5_000, 10_000
	lines := benchLines("million", total)
	for _, srv := range benchServers(b) {
		b.Run(srv.Name, func(b *testing.B) {
			ctx := b.Context()
			s := open(b, srv.URI, testenv.UniqueDB(b))
			defer s.Close(ctx)
			l := s.Logs()
			var appendTime, readTime time.Duration
			for b.Loop() {
				id := store.NewID()
				start := time.Now()
				for i, from := 0, 0; from < total; i, from = i+1, from+piece {
					must(b, l.AppendLog(ctx, id, int64(from), lines[from:from+piece]))
					if i%50 == 0 {
						if _, err := l.LogLen(ctx, id); err != nil {
							b.Fatal(err)
						}
					}
				}
				appendTime += time.Since(start)

				start = time.Now()
				if n, err := l.LogLen(ctx, id); err != nil || n != total {
					b.Fatalf("LogLen = %d, %v; want %d", n, err, total)
				}
				for from := 0; from < total; from += page {
					got, err := l.ReadLog(ctx, id, int64(from), page)
					must(b, err)
					if !slices.Equal(got, lines[from:from+page]) {
						b.Fatalf("page at %d read back wrong (%d lines)", from, len(got))
					}
				}
				readTime += time.Since(start)
				must(b, l.DeleteLog(ctx, id))
			}
			b.ReportMetric(appendTime.Seconds()/float64(b.N), "append-s/op")
			b.ReportMetric(readTime.Seconds()/float64(b.N), "read-s/op")
		})
	}
}

// BenchmarkReadLogPage reads one page of 10,000 lines at a random place of
// a 100,000-line log while 20 other tasks' logs of 50,000 lines each share
// the collection: a page must cost the same however much else is stored.
//
//	go test -run '^$' -bench ReadLogPage ./store/mongo
func BenchmarkReadLogPage(b *testing.B) {
	const others, otherLines, total, piece, page = 20, 50_000, 100_000, 5_000, 10_000
	for _, srv := range benchServers(b) {
		b.Run(srv.Name, func(b *testing.B) {
			ctx := b.Context()
			s := open(b, srv.URI, testenv.UniqueDB(b))
			defer s.Close(ctx)
			l := s.Logs()
			for i := range others {
				appendAll(b, l, store.NewID(), benchLines(fmt.Sprint("other", i), otherLines), piece)
			}
			id := store.NewID()
			lines := benchLines("target", total)
			appendAll(b, l, id, lines, piece)
			rng := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				from := rng.IntN(total - page)
				got, err := l.ReadLog(ctx, id, int64(from), page)
				must(b, err)
				if !slices.Equal(got, lines[from:from+page]) {
					b.Fatalf("page at %d read back wrong (%d lines)", from, len(got))
				}
			}
		})
	}
}
