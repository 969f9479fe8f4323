package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// Scenario 10's sizes: tasks in the store, spread over the last 30 days,
// of StatsSpiders spiders; the overview is read StatsReads times.
const (
	StatsTasks   = 1_000_000
	StatsSpiders = 50
	StatsReads   = 20
	statsBatch   = 10_000
)

// StatsRow is scenario 10: the overview (GET /api/stats's store call) over
// a store holding StatsTasks tasks.
type StatsRow struct {
	Store string `json:"store"`
	Tasks int64  `json:"tasks"`
	// LoadS is the time CreateMany took for them all (batches of
	// statsBatch); FoldS the one Fold after (MongoDB: the task ends of
	// the closed hours into their rollups; SQLite: nothing to do).
	LoadS  float64 `json:"load_s"`
	FoldS  float64 `json:"fold_s"`
	Folded int     `json:"folded"`
	// The 24 hours by hour and the 30 days by day, each read StatsReads
	// times; the overview is both, one after the other.
	HourP50ms     float64 `json:"hour_p50_ms"`
	HourMaxms     float64 `json:"hour_max_ms"`
	DayP50ms      float64 `json:"day_p50_ms"`
	DayMaxms      float64 `json:"day_max_ms"`
	OverviewP50ms float64 `json:"overview_p50_ms"`
	OverviewMaxms float64 `json:"overview_max_ms"`
	// Ended is what the 30-day overview counted: every task that ended.
	Ended int64 `json:"ended"`
}

// scenarioStats is scenario 10: StatsTasks tasks of the last 30 days
// (80 % finished, 10 % error, 5 % cancelled, 5 % abnormal, a few hundred
// pending or running), loaded with CreateMany into SQLite and into
// FerretDB, then the dashboard's two overview queries read in the harness
// process (the store call the server makes for GET /api/stats).
func (r *run) scenarioStats(ctx context.Context, c *cluster) {
	n := int64(StatsTasks)
	if r.cfg.Quick {
		n /= 10
	}
	sq, err := sqlite.Open(ctx, filepath.Join(r.cfg.WorkDir, "stats-sqlite"))
	if err != nil {
		r.fail("scenario 10 sqlite", err)
	} else {
		r.statsOn(ctx, "sqlite", sq, n)
		sq.Close(context.Background())
	}
	if c == nil || c.mongo == "" {
		return
	}
	mg, err := mongo.Open(ctx, c.mongo+"bench_stats", "bench_stats")
	if err != nil {
		r.fail("scenario 10 ferretdb", err)
		return
	}
	r.statsOn(ctx, "mongo (FerretDB)", mg, n)
	mg.Close(context.Background())
}

func (r *run) statsOn(ctx context.Context, name string, st store.Store, n int64) {
	row := StatsRow{Store: name, Tasks: n}
	now := time.Now().UTC()
	rng := rand.New(rand.NewPCG(10, 10))
	spiders := make([]store.Spider, StatsSpiders)
	for i := range spiders {
		spiders[i] = store.Spider{ID: store.NewID(), Name: fmt.Sprintf("spider-%02d", i)}
	}
	start := time.Now()
	batch := make([]store.Task, 0, statsBatch)
	var ended int64
	for i := int64(0); i < n; i++ {
		sp := spiders[rng.IntN(len(spiders))]
		end := now.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		run := time.Duration(math.Exp(rng.Float64()*math.Log(7200/0.5)) * 0.5 * float64(time.Second))
		t := store.Task{ID: store.NewID(), SpiderID: sp.ID, SpiderName: sp.Name, NodeID: store.NewID(), Mode: "any",
			Command: "scrapy crawl x", Created: end.Add(-run - time.Second), Started: end.Add(-run), Finished: end,
			ItemCount: rng.Int64N(1000)}
		switch p := rng.IntN(1000); {
		case p < 1:
			t.Status, t.Started, t.Finished, t.ItemCount = store.TaskPending, time.Time{}, time.Time{}, 0
		case p < 2:
			t.Status, t.Finished = store.TaskRunning, time.Time{}
		case p < 800:
			t.Status = store.TaskFinished
		case p < 900:
			t.Status = store.TaskError
		case p < 950:
			t.Status, t.Started = store.TaskCancelled, time.Time{}
		default:
			t.Status = store.TaskAbnormal
		}
		if store.TaskEnded(t.Status) {
			ended++
		}
		batch = append(batch, t)
		if len(batch) == statsBatch || i == n-1 {
			if _, err := st.Tasks().CreateMany(ctx, batch); err != nil {
				r.fail("scenario 10 "+name+" load", err)
				return
			}
			batch = batch[:0]
		}
	}
	row.LoadS = time.Since(start).Seconds()
	r.logf("scenario 10 %s: %d tasks loaded in %.1f s", name, n, row.LoadS)
	start = time.Now()
	folded, err := st.Stats().Fold(ctx, now.Truncate(time.Hour))
	if err != nil {
		r.fail("scenario 10 "+name+" fold", err)
		return
	}
	row.FoldS, row.Folded = time.Since(start).Seconds(), folded

	read := func(q store.StatsQuery) (time.Duration, *store.TaskStats, error) {
		t0 := time.Now()
		s, err := st.Stats().TaskStats(ctx, q)
		return time.Since(t0), s, err
	}
	var hours, days, both []float64
	for i := range StatsReads + 1 {
		now := store.Now()
		dh, _, err := read(store.StatsQuery{From: now.Add(-24 * time.Hour), To: now, Bucket: time.Hour})
		if err != nil {
			r.fail("scenario 10 "+name+" hour", err)
			return
		}
		dd, s, err := read(store.StatsQuery{From: now.Add(-30 * 24 * time.Hour), To: now, Bucket: 24 * time.Hour})
		if err != nil {
			r.fail("scenario 10 "+name+" day", err)
			return
		}
		if i == 0 {
			for _, c := range s.Totals {
				row.Ended += c
			}
			continue // the first read warms the caches
		}
		hours, days, both = append(hours, msOf(dh)), append(days, msOf(dd)), append(both, msOf(dh+dd))
	}
	row.HourP50ms, row.HourMaxms = p50(hours), slices.Max(hours)
	row.DayP50ms, row.DayMaxms = p50(days), slices.Max(days)
	row.OverviewP50ms, row.OverviewMaxms = p50(both), slices.Max(both)
	if row.Ended != ended {
		r.fail("scenario 10 "+name, fmt.Errorf("the 30-day overview counted %d ended tasks, %d were stored", row.Ended, ended))
	}
	r.logf("scenario 10 %s: fold %.1f s (%d ends); overview p50 %.1f ms (hour %.1f, day %.1f), max %.1f ms",
		name, row.FoldS, row.Folded, row.OverviewP50ms, row.HourP50ms, row.DayP50ms, row.OverviewMaxms)
	r.mu.Lock()
	r.res.Stats = append(r.res.Stats, row)
	r.mu.Unlock()
}

func msOf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func p50(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
