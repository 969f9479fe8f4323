package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/logsearch"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/tasklog"
	"github.com/crawlhub/crawlhub/wire"
)

// SearchLines is scenario 11's log length.
const SearchLines = 1_000_000

// searchErrors are the lines of scenario 11's log that are errors.
var searchErrors = []int64{1_234, 250_000, 500_001, 750_000, 999_999}

// searchLine is line n of scenario 11's log: Scrapy's format, a URL with
// "error" in it on every line, an ERROR line at searchErrors.
func searchLine(n int64) string {
	if slices.Contains(searchErrors, n) {
		return fmt.Sprintf("2026-12-03 22:42:07 [scrapy.core.scraper] ERROR: Spider error processing <GET https://example.com/p/%d> (failure number %d)", n, n)
	}
	return fmt.Sprintf("2026-12-03 22:42:07 [scrapy.core.engine] DEBUG: Crawled (200) <GET https://example.com/error/page/%d> (referer: None)", n)
}

// searchQueries are what scenario 11 asks, each over the whole log.
var searchQueries = []struct {
	name string
	q    wire.SearchLog
	want int64 // matches
}{
	{"text, ignoring case", wire.SearchLog{Q: "FAILURE number"}, 5},
	{"text, every line matches", wire.SearchLog{Q: "example.com", Limit: logsearch.MaxLimit}, SearchLines},
	{"regex", wire.SearchLog{Q: `ERROR: .*failure number \d+`, Regex: true}, 5},
	{"level=error", wire.SearchLog{Level: logsearch.LevelError}, 5},
}

// scenarioLogSearch is scenario 11: a search of a 1,000,000-line log, in
// the harness, with the code a master runs for an ended task
// (logsearch over store.Logs.ScanLog) on SQLite and on the FerretDB test
// server, and the code an agent runs for a running one (logsearch over
// its log file, tasklog.Writer.Scan). The REST or JSON-RPC call around it
// is one request and is not what grows with the log.
func (r *run) scenarioLogSearch(ctx context.Context, ferretURI string) {
	lines := int64(SearchLines)
	if r.cfg.Quick {
		lines /= 10
	}
	taskID := store.NewID()
	sq, err := sqlite.Open(ctx, filepath.Join(r.cfg.WorkDir, "search-sqlite"))
	if err != nil {
		r.fail("scenario 11 sqlite", err)
	} else {
		r.searchStore(ctx, "sqlite (the all-in-one)", sq, taskID, lines)
		sq.Close(ctx)
	}
	if ferretURI != "" {
		mg, err := mongo.Open(ctx, ferretURI, "bench_search")
		if err != nil {
			r.fail("scenario 11 ferretdb", err)
		} else {
			r.searchStore(ctx, "mongo (FerretDB)", mg, taskID, lines)
			mg.Close(ctx)
		}
	}
	r.searchFile(ctx, taskID, lines)
}

// searchStore fills st with the log (10,000 lines per append, as an
// agent's saver sends them) and times each query.
func (r *run) searchStore(ctx context.Context, name string, st store.Store, taskID string, lines int64) {
	t0 := time.Now()
	batch := make([]string, 0, 10_000)
	for n := int64(0); n < lines; n += int64(len(batch)) {
		batch = batch[:0]
		for k := n; k < min(lines, n+10_000); k++ {
			batch = append(batch, searchLine(k))
		}
		if err := st.Logs().AppendLog(ctx, taskID, n, batch); err != nil {
			r.fail("scenario 11 "+name, err)
			return
		}
	}
	r.logf("scenario 11 (%s): %d lines stored in %.1f s", name, lines, time.Since(t0).Seconds())
	r.timeQueries(name, lines, func(fn func(int64, string) bool) error {
		return st.Logs().ScanLog(ctx, taskID, 0, fn)
	})
}

// searchFile writes the log through a tasklog.Writer, as the agent does,
// and searches its file while it is open (a running task's).
func (r *run) searchFile(ctx context.Context, taskID string, lines int64) {
	dir := filepath.Join(r.cfg.WorkDir, "search-agent")
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		r.fail("scenario 11 agent file", err)
		return
	}
	defer st.Close(ctx)
	w, err := tasklog.Open(tasklog.Config{TaskID: taskID, Path: filepath.Join(dir, "task.log"), Store: discardLogs{}})
	if err != nil {
		r.fail("scenario 11 agent file", err)
		return
	}
	defer w.Close(ctx)
	var b strings.Builder
	for n := int64(0); n < lines; n++ {
		b.WriteString(searchLine(n))
		b.WriteByte('\n')
		if b.Len() > 1<<20 || n == lines-1 {
			if _, err := w.Write([]byte(b.String())); err != nil {
				r.fail("scenario 11 agent file", err)
				return
			}
			b.Reset()
		}
	}
	r.timeQueries("the agent's file (a running task)", lines, func(fn func(int64, string) bool) error {
		_, err := w.Scan(0, fn)
		return err
	})
}

// discardLogs is a store that keeps nothing: the file is what is searched.
type discardLogs struct{}

func (discardLogs) AppendLog(context.Context, string, int64, []string) error { return nil }
func (discardLogs) LogLen(context.Context, string) (int64, error)            { return 0, nil }

// timeQueries runs each query three times and keeps the median.
func (r *run) timeQueries(where string, lines int64, scan func(fn func(int64, string) bool) error) {
	for _, sq := range searchQueries {
		s, err := logsearch.Compile(sq.q)
		if err != nil {
			r.fail("scenario 11", err)
			return
		}
		var took []float64
		var res wire.LogSearch
		for range 3 {
			t0 := time.Now()
			res, err = s.Run(scan)
			took = append(took, time.Since(t0).Seconds())
			if err != nil {
				r.fail("scenario 11 "+where, err)
				return
			}
		}
		slices.Sort(took)
		want := sq.want
		if want == SearchLines {
			want = lines
		}
		row := LogSearchRow{Where: where, Query: sq.name, Lines: res.Total, Matches: res.Count, Seconds: took[1],
			Correct: res.Total == lines && (res.Count == want || lines < SearchLines && sq.want == 5)}
		r.logf("scenario 11 (%s): %s: %d matches in %d lines, %.3f s (median of 3)", where, sq.name, res.Count, res.Total, row.Seconds)
		r.res.LogSearch = append(r.res.LogSearch, row)
	}
}
