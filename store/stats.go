package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// StatsQuery selects a window of task outcomes: tasks that ended in
// [From, To), counted per Bucket (time.Hour or 24*time.Hour, aligned to
// UTC).
type StatsQuery struct {
	From   time.Time
	To     time.Time
	Bucket time.Duration
}

// StatsBucket is one bucket of a window: how many tasks ended in it, by
// their final status.
type StatsBucket struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// SpiderStats is one spider's share of a window.
type SpiderStats struct {
	SpiderID   string           `json:"spider_id"`
	SpiderName string           `json:"spider_name"`
	Counts     map[string]int64 `json:"counts"`
	// Failed counts error and abnormal ends.
	Failed int64 `json:"failed"`
	// AvgSeconds and P95Seconds are the run time (started → finished) of
	// its tasks that ran; P95 may be approximate (a histogram's bound).
	AvgSeconds float64 `json:"avg_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	Items      int64   `json:"items"`
}

// TaskStats is the overview of a window.
type TaskStats struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Bucket  string        `json:"bucket"` // "hour" or "day"
	Buckets []StatsBucket `json:"buckets"`
	// Totals are the window's ends by final status.
	Totals map[string]int64 `json:"totals"`
	// SuccessRate is finished / ended in the window, 0 when none ended.
	SuccessRate float64 `json:"success_rate"`
	// Running and Pending are now, not in the window.
	Running int64 `json:"running"`
	Pending int64 `json:"pending"`
	Items   int64 `json:"items"`
	// Spiders are the spiders with ends in the window, those failing most
	// first.
	Spiders []SpiderStats `json:"spiders"`
}

// Stats computes the overview from what the store keeps as tasks end
// (never by loading every task).
type Stats interface {
	// TaskStats returns the overview of q, which CheckStatsQuery accepts
	// (the store checks it again: ErrBadStatsQuery).
	TaskStats(ctx context.Context, q StatsQuery) (*TaskStats, error)
	// Fold moves what the store keeps per task end into its rollups, for
	// the stores that keep the two apart (MongoDB; a no-op on SQLite,
	// whose rollups are written as tasks end). Only one caller at a time
	// may fold (the server claims each fold through the bus); before is
	// the end of the last hour that may be folded. It returns how many
	// task ends it folded.
	Fold(ctx context.Context, before time.Time) (int, error)
}

// Stats queries are bounded so that one request cannot make the store read
// years of rollups or the server build a million buckets.
const (
	MaxStatsWindow  = 400 * 24 * time.Hour
	MaxStatsBuckets = 2000
)

// ErrBadStatsQuery (wrapped) is a window CheckStatsQuery refuses.
var ErrBadStatsQuery = errors.New("bad stats query")

// CheckStatsQuery validates q and aligns it to its buckets: From down and
// To up to a UTC hour or day. A zero Bucket means an hour.
func CheckStatsQuery(q StatsQuery) (StatsQuery, error) {
	if q.Bucket == 0 {
		q.Bucket = time.Hour
	}
	if q.Bucket != time.Hour && q.Bucket != 24*time.Hour {
		return q, fmt.Errorf("%w: bucket must be an hour or a day, not %s", ErrBadStatsQuery, q.Bucket)
	}
	if q.From.IsZero() || q.To.IsZero() {
		return q, fmt.Errorf("%w: from and to are both needed", ErrBadStatsQuery)
	}
	q.From = q.From.UTC().Truncate(q.Bucket)
	if to := q.To.UTC().Truncate(q.Bucket); to.Before(q.To) {
		q.To = to.Add(q.Bucket)
	} else {
		q.To = to
	}
	switch {
	case !q.To.After(q.From):
		return q, fmt.Errorf("%w: to must be after from", ErrBadStatsQuery)
	case q.To.Sub(q.From) > MaxStatsWindow:
		return q, fmt.Errorf("%w: the window is %s, more than the %d days a query may span", ErrBadStatsQuery,
			q.To.Sub(q.From), int(MaxStatsWindow/(24*time.Hour)))
	case q.To.Sub(q.From)/q.Bucket > MaxStatsBuckets:
		return q, fmt.Errorf("%w: %d buckets, more than %d: use a shorter window or day buckets", ErrBadStatsQuery,
			q.To.Sub(q.From)/q.Bucket, MaxStatsBuckets)
	}
	return q, nil
}

// RunTimeBounds are the upper bounds, in seconds, of the run-time
// histogram the rollups keep: log-spaced (1, 2, 5 per decade), so a p95
// read from it is exact to within its bucket (at most 2.5× the true value,
// and never more than the longest run seen). A run of exactly a bound
// falls in the next bucket; the last bucket has no bound. The stores keep
// one count per bucket, so this list may only grow at its end with a
// migration of both.
var RunTimeBounds = [...]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}

// RunTimeBuckets is the histogram's size: one bucket past the last bound.
const RunTimeBuckets = len(RunTimeBounds) + 1

// RunTimeBucket is the histogram bucket of a run of ms milliseconds.
func RunTimeBucket(ms int64) int {
	for i, b := range RunTimeBounds {
		if float64(ms) < b*1000 {
			return i
		}
	}
	return len(RunTimeBounds)
}

// TaskEnd is one task's end as the rollups count it: the hour it ended
// in (UTC; its Created time when it has no Finished time), its spider, its
// final status, its run time in milliseconds (-1 when it never started)
// and its items.
type TaskEnd struct {
	Hour       time.Time
	SpiderID   string
	SpiderName string
	Status     string
	RunMS      int64
	Items      int64
}

// TaskEndOf is the end of t, which has ended.
func TaskEndOf(t *Task) TaskEnd {
	at := t.Finished
	if at.IsZero() {
		at = t.Created
	}
	run := int64(-1)
	if !t.Started.IsZero() && !t.Finished.IsZero() && !t.Finished.Before(t.Started) {
		run = t.Finished.Sub(t.Started).Milliseconds()
	}
	return TaskEnd{Hour: at.UTC().Truncate(time.Hour), SpiderID: t.SpiderID, SpiderName: t.SpiderName,
		Status: t.Status, RunMS: run, Items: t.ItemCount}
}

// Rollup counts the outcomes of one (hour, spider, final status).
type Rollup struct {
	Hour       time.Time
	SpiderID   string
	SpiderName string
	Status     string
	Count      int64
	// RunCount, RunSumMS and RunMaxMS are over the outcomes that ran;
	// Hist counts them per RunTimeBounds bucket.
	RunCount int64
	RunSumMS int64
	RunMaxMS int64
	Hist     [RunTimeBuckets]int64
	Items    int64
}

// Add counts o in r (sign 1) or takes it back out (sign -1: a task whose
// final status was corrected). RunMaxMS only ever grows.
func (r *Rollup) Add(o TaskEnd, sign int64) {
	r.Count += sign
	r.Items += sign * o.Items
	if o.RunMS >= 0 {
		r.RunCount += sign
		r.RunSumMS += sign * o.RunMS
		r.Hist[RunTimeBucket(o.RunMS)] += sign
		if sign > 0 {
			r.RunMaxMS = max(r.RunMaxMS, o.RunMS)
		}
	}
}

// Merge adds the counts of o to r.
func (r *Rollup) Merge(o *Rollup) {
	r.Count += o.Count
	r.Items += o.Items
	r.RunCount += o.RunCount
	r.RunSumMS += o.RunSumMS
	r.RunMaxMS = max(r.RunMaxMS, o.RunMaxMS)
	for i := range r.Hist {
		r.Hist[i] += o.Hist[i]
	}
}

// BuildTaskStats makes the overview of q (as CheckStatsQuery returns it)
// from the rollups of its hours (or days) and the counts of now.
func BuildTaskStats(q StatsQuery, rollups []Rollup, running, pending int64) *TaskStats {
	return BuildTaskStatsFrom(q, rollups, rollups, running, pending)
}

// BuildTaskStatsFrom is BuildTaskStats from rollups summed two ways, for a
// store that sums in its queries: buckets per (hour or day, status), whose
// spiders are not read, and spiders per (spider, status) over the window,
// whose hours are not read.
func BuildTaskStatsFrom(q StatsQuery, buckets, spiderRows []Rollup, running, pending int64) *TaskStats {
	ts := &TaskStats{From: q.From, To: q.To, Bucket: "hour", Totals: map[string]int64{},
		Running: running, Pending: pending, Buckets: []StatsBucket{}, Spiders: []SpiderStats{}}
	if q.Bucket != time.Hour {
		ts.Bucket = "day"
	}
	n := int(q.To.Sub(q.From) / q.Bucket)
	for i := range n {
		ts.Buckets = append(ts.Buckets, StatsBucket{Start: q.From.Add(time.Duration(i) * q.Bucket), Counts: map[string]int64{}})
	}
	type spider struct {
		SpiderStats
		all Rollup
	}
	spiders := map[string]*spider{}
	for i := range buckets {
		r := &buckets[i]
		if r.Hour.Before(q.From) || !r.Hour.Before(q.To) || r.Count == 0 {
			continue
		}
		ts.Buckets[int(r.Hour.Sub(q.From)/q.Bucket)].Counts[r.Status] += r.Count
	}
	for i := range spiderRows {
		r := &spiderRows[i]
		if r.Hour.Before(q.From) || !r.Hour.Before(q.To) || r.Count == 0 {
			continue
		}
		ts.Totals[r.Status] += r.Count
		ts.Items += r.Items
		sp := spiders[r.SpiderID]
		if sp == nil {
			sp = &spider{SpiderStats: SpiderStats{SpiderID: r.SpiderID, Counts: map[string]int64{}}}
			spiders[r.SpiderID] = sp
		}
		if r.Hour.After(sp.all.Hour) || sp.SpiderName == "" {
			sp.SpiderName, sp.all.Hour = r.SpiderName, r.Hour // the newest name
		}
		sp.Counts[r.Status] += r.Count
		if r.Status == TaskError || r.Status == TaskAbnormal {
			sp.Failed += r.Count
		}
		sp.all.Merge(r)
	}
	var ended int64
	for _, c := range ts.Totals {
		ended += c
	}
	if ended > 0 {
		ts.SuccessRate = float64(ts.Totals[TaskFinished]) / float64(ended)
	}
	for _, sp := range spiders {
		sp.Items = sp.all.Items
		if sp.all.RunCount > 0 {
			sp.AvgSeconds = float64(sp.all.RunSumMS) / float64(sp.all.RunCount) / 1000
			sp.P95Seconds = p95(&sp.all)
		}
		ts.Spiders = append(ts.Spiders, sp.SpiderStats)
	}
	slices.SortFunc(ts.Spiders, func(a, b SpiderStats) int {
		return cmp.Or(cmp.Compare(b.Failed, a.Failed), cmp.Compare(total(b.Counts), total(a.Counts)),
			strings.Compare(a.SpiderName, b.SpiderName), strings.Compare(a.SpiderID, b.SpiderID))
	})
	return ts
}

// p95 is the bound of the histogram bucket that holds the 95th percentile
// run, capped by the longest run (which also stands in for the last
// bucket's missing bound).
func p95(r *Rollup) float64 {
	rank := (r.RunCount*95 + 99) / 100 // the ceil(0.95·n)-th run
	var seen int64
	maxS := float64(r.RunMaxMS) / 1000
	for i, c := range r.Hist {
		seen += c
		if seen >= rank && c > 0 {
			if i < len(RunTimeBounds) {
				return min(RunTimeBounds[i], maxS)
			}
			break
		}
	}
	return maxS
}

func total(m map[string]int64) int64 {
	var n int64
	for _, c := range m {
		n += c
	}
	return n
}
