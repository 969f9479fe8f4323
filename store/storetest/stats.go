package storetest

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Task statistics: what the overview counts (store.Stats). Each test runs
// the tasks through the calls the server and the agents make (Create,
// UpdateIf from pending to running to an end), then reads the overview,
// and again after a Fold, which must not change it.

// statsBase is an hour well in the past, so that every test's window is
// closed and a Fold may fold all of it.
func statsBase() time.Time { return store.Now().Truncate(time.Hour).Add(-48 * time.Hour) }

// runTask takes a new task through a claim to its end: started at start,
// ended with status after run (a negative run: cancelled before it
// started, ended at start).
func runTask(t *testing.T, s store.Store, sp *store.Spider, start time.Time, run time.Duration, status string, items int64) *store.Task {
	t.Helper()
	ctx := t.Context()
	task := newTask(sp, "", start.Add(-time.Minute))
	must(t, s.Tasks().Create(ctx, task))
	if run < 0 {
		task.Status, task.Finished = status, start
		must(t, s.Tasks().UpdateIf(ctx, task, store.TaskPending))
		return task
	}
	task.Status, task.Started, task.NodeID = store.TaskRunning, start, store.NewID()
	must(t, s.Tasks().UpdateIf(ctx, task, store.TaskPending))
	task.Status, task.Finished, task.ItemCount = status, start.Add(run), items
	must(t, s.Tasks().UpdateIf(ctx, task, store.TaskRunning))
	return task
}

func taskStats(t *testing.T, s store.Store, from, to time.Time, bucket time.Duration) *store.TaskStats {
	t.Helper()
	st, err := s.Stats().TaskStats(t.Context(), store.StatsQuery{From: from, To: to, Bucket: bucket})
	must(t, err)
	return st
}

// statsTwice checks the overview, then folds everything and checks it
// again.
func statsTwice(t *testing.T, s store.Store, check func(t *testing.T)) {
	t.Helper()
	check(t)
	if _, err := s.Stats().Fold(t.Context(), store.Now().Truncate(time.Hour)); err != nil {
		t.Fatalf("Fold: %v", err)
	}
	check(t)
	if _, err := s.Stats().Fold(t.Context(), store.Now().Truncate(time.Hour)); err != nil {
		t.Fatalf("second Fold: %v", err)
	}
	check(t)
}

func wantCounts(t *testing.T, what string, got map[string]int64, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s[%s] = %d, want %d (all: %v)", what, k, got[k], v, got)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok && v != 0 {
			t.Errorf("%s[%s] = %d, want none (all: %v)", what, k, v, got)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func testStatsCounts(t *testing.T, s store.Store) {
	base := statsBase()
	a, b := newSpider("alpha"), newSpider("beta")
	h0, h1 := base.Add(10*time.Minute), base.Add(time.Hour+5*time.Minute)
	runTask(t, s, a, h0, 1500*time.Millisecond, store.TaskFinished, 10)
	runTask(t, s, a, h0, 3*time.Second, store.TaskFinished, 20)
	runTask(t, s, a, h1, 30*time.Second, store.TaskFinished, 5)
	runTask(t, s, a, h1, 4*time.Second, store.TaskError, 1)
	runTask(t, s, b, h0, 2*time.Second, store.TaskAbnormal, 0)
	runTask(t, s, b, h1, 7*time.Second, store.TaskError, 0)
	runTask(t, s, b, h1, -1, store.TaskCancelled, 0)

	statsTwice(t, s, func(t *testing.T) {
		st := taskStats(t, s, base, base.Add(3*time.Hour), time.Hour)
		if st.Bucket != "hour" || !st.From.Equal(base) || !st.To.Equal(base.Add(3*time.Hour)) || len(st.Buckets) != 3 {
			t.Fatalf("window = %s %s..%s with %d buckets, want hour %s..%s with 3", st.Bucket, st.From, st.To, len(st.Buckets), base, base.Add(3*time.Hour))
		}
		for i, bk := range st.Buckets {
			if !bk.Start.Equal(base.Add(time.Duration(i) * time.Hour)) {
				t.Errorf("bucket %d starts at %s", i, bk.Start)
			}
		}
		wantCounts(t, "bucket 0", st.Buckets[0].Counts, map[string]int64{"finished": 2, "abnormal": 1})
		wantCounts(t, "bucket 1", st.Buckets[1].Counts, map[string]int64{"finished": 1, "error": 2, "cancelled": 1})
		wantCounts(t, "bucket 2", st.Buckets[2].Counts, map[string]int64{})
		wantCounts(t, "totals", st.Totals, map[string]int64{"finished": 3, "error": 2, "abnormal": 1, "cancelled": 1})
		if !near(st.SuccessRate, 3.0/7) {
			t.Errorf("success rate = %v, want 3/7", st.SuccessRate)
		}
		if st.Items != 36 {
			t.Errorf("items = %d, want 36", st.Items)
		}
		if len(st.Spiders) != 2 {
			t.Fatalf("spiders = %+v, want 2", st.Spiders)
		}
		// beta failed twice (error, abnormal), alpha once: beta first.
		sb, sa := st.Spiders[0], st.Spiders[1]
		if sb.SpiderID != b.ID || sb.SpiderName != "beta" || sb.Failed != 2 || sa.SpiderID != a.ID || sa.Failed != 1 {
			t.Fatalf("spiders = %+v, want beta (2 failed) then alpha (1)", st.Spiders)
		}
		wantCounts(t, "alpha", sa.Counts, map[string]int64{"finished": 3, "error": 1})
		wantCounts(t, "beta", sb.Counts, map[string]int64{"error": 1, "abnormal": 1, "cancelled": 1})
		// alpha ran 1.5, 3, 30 and 4 s: the average is exact; the p95 is
		// the bound of the bucket of the 4th run (20–50 s), capped by the
		// longest run, 30 s.
		if !near(sa.AvgSeconds, 38.5/4) || !near(sa.P95Seconds, 30) || sa.Items != 36 {
			t.Errorf("alpha avg %v p95 %v items %d, want 9.625, 30, 36", sa.AvgSeconds, sa.P95Seconds, sa.Items)
		}
		// beta ran 2 and 7 s (the cancelled task never started): p95 is the
		// bound of 5–10 s capped by 7 s.
		if !near(sb.AvgSeconds, 4.5) || !near(sb.P95Seconds, 7) {
			t.Errorf("beta avg %v p95 %v, want 4.5, 7", sb.AvgSeconds, sb.P95Seconds)
		}
	})
}

func testStatsP95(t *testing.T, s store.Store) {
	base := statsBase()
	sp := newSpider("many")
	var tasks []store.Task
	// 100 runs: 90 of 1.5 s, 10 of 150 s (bucket 100–200 s). The 95th
	// run is one of the long ones.
	for i := range 100 {
		run := 1500 * time.Millisecond
		if i >= 90 {
			run = 150 * time.Second
		}
		tk := newTask(sp, store.NewID(), base)
		tk.Status, tk.Started, tk.Finished = store.TaskFinished, base.Add(time.Minute), base.Add(time.Minute+run)
		tasks = append(tasks, *tk)
	}
	created, err := s.Tasks().CreateMany(t.Context(), tasks)
	must(t, err)
	for i, c := range created {
		if !c {
			t.Fatalf("task %d not created", i)
		}
	}
	// Creating them again counts nothing.
	created, err = s.Tasks().CreateMany(t.Context(), tasks[:10])
	must(t, err)
	for i, c := range created {
		if c {
			t.Fatalf("task %d created twice", i)
		}
	}
	statsTwice(t, s, func(t *testing.T) {
		st := taskStats(t, s, base, base.Add(time.Hour), time.Hour)
		if len(st.Spiders) != 1 || st.Spiders[0].Counts["finished"] != 100 {
			t.Fatalf("spiders = %+v, want 100 finished", st.Spiders)
		}
		if p := st.Spiders[0].P95Seconds; !near(p, 150) {
			t.Errorf("p95 = %v, want 150 (the longest run caps the 200 s bound)", p)
		}
		if a := st.Spiders[0].AvgSeconds; !near(a, (90*1.5+10*150)/100.0) {
			t.Errorf("avg = %v", a)
		}
		if !near(st.SuccessRate, 1) {
			t.Errorf("success rate = %v, want 1", st.SuccessRate)
		}
	})
}

func testStatsOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := statsBase()
	sp := newSpider("once")
	task := runTask(t, s, sp, base, 2*time.Second, store.TaskFinished, 4)
	// Later writes of the ended task (a progress update, the same end
	// stored again) do not count it again, and its items stay those it
	// had when it ended.
	task.LogLines, task.ItemCount = 99, 8
	must(t, s.Tasks().Update(ctx, task))
	must(t, s.Tasks().UpdateIf(ctx, task, store.TaskFinished))
	isErr(t, s.Tasks().UpdateIf(ctx, task, store.TaskRunning), store.ErrStale, "a second end from running")

	// A task first marked abnormal (its node went silent), then given the
	// outcome its node reports, counts once, with the outcome.
	late := runTask(t, s, sp, base.Add(time.Minute), 3*time.Second, store.TaskAbnormal, 0)
	late.Status = store.TaskFinished
	must(t, s.Tasks().UpdateIf(ctx, late, store.TaskAbnormal))

	statsTwice(t, s, func(t *testing.T) {
		st := taskStats(t, s, base, base.Add(time.Hour), time.Hour)
		wantCounts(t, "totals", st.Totals, map[string]int64{"finished": 2})
		if st.Items != 4 {
			t.Errorf("items = %d, want 4 (the count when the task ended)", st.Items)
		}
	})
	// A task created already ended counts too, once.
	done := newTask(sp, store.NewID(), base)
	done.Status, done.Finished = store.TaskCancelled, base.Add(30*time.Minute)
	must(t, s.Tasks().Create(ctx, done))
	isErr(t, s.Tasks().Create(ctx, done), store.ErrConflict, "Create twice")
	st := taskStats(t, s, base, base.Add(time.Hour), time.Hour)
	wantCounts(t, "totals", st.Totals, map[string]int64{"finished": 2, "cancelled": 1})
}

// A task marked abnormal whose node reports the outcome long after (the
// overview folded meanwhile) moves to the outcome, in the hour it really
// ended, through either way a task is written.
func testStatsCorrectedAfterFold(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := statsBase()
	sp := newSpider("corrected")
	viaIf := runTask(t, s, sp, base.Add(time.Minute), 3*time.Second, store.TaskAbnormal, 0)
	viaUpdate := runTask(t, s, sp, base.Add(2*time.Minute), 4*time.Second, store.TaskAbnormal, 0)
	if _, err := s.Stats().Fold(ctx, store.Now().Truncate(time.Hour)); err != nil {
		t.Fatalf("Fold: %v", err)
	}
	st := taskStats(t, s, base, base.Add(2*time.Hour), time.Hour)
	wantCounts(t, "totals before the correction", st.Totals, map[string]int64{"abnormal": 2})

	viaIf.Status, viaIf.Finished, viaIf.ItemCount = store.TaskFinished, base.Add(time.Hour+5*time.Minute), 7
	must(t, s.Tasks().UpdateIf(ctx, viaIf, store.TaskAbnormal))
	viaUpdate.Status, viaUpdate.Finished = store.TaskError, base.Add(30*time.Minute)
	must(t, s.Tasks().Update(ctx, viaUpdate))

	statsTwice(t, s, func(t *testing.T) {
		st := taskStats(t, s, base, base.Add(2*time.Hour), time.Hour)
		wantCounts(t, "totals", st.Totals, map[string]int64{"finished": 1, "error": 1})
		wantCounts(t, "the first hour", st.Buckets[0].Counts, map[string]int64{"error": 1})
		wantCounts(t, "the second hour", st.Buckets[1].Counts, map[string]int64{"finished": 1})
		if st.Items != 7 {
			t.Errorf("items = %d, want the 7 of the corrected end", st.Items)
		}
		if len(st.Spiders) != 1 || st.Spiders[0].Failed != 1 {
			t.Errorf("spiders %+v: want one, with 1 failed (the error; the abnormal ends are gone)", st.Spiders)
		}
		day := base.Truncate(24 * time.Hour)
		st = taskStats(t, s, day, day.Add(48*time.Hour), 24*time.Hour)
		wantCounts(t, "totals by day", st.Totals, map[string]int64{"finished": 1, "error": 1})
	})
}

func testStatsWindows(t *testing.T, s store.Store) {
	base := statsBase().Truncate(24 * time.Hour).Add(-24 * time.Hour) // a UTC midnight
	sp := newSpider("edges")
	// Ends at 00:00:00.000 (the first hour), at 00:59:59.999 (still the
	// first), at 01:00 (the second), and one a day before.
	for _, end := range []time.Time{base, base.Add(time.Hour - time.Millisecond), base.Add(time.Hour), base.Add(-24 * time.Hour)} {
		tk := newTask(sp, store.NewID(), end.Add(-time.Hour))
		tk.Status, tk.Started, tk.Finished = store.TaskFinished, end.Add(-time.Second), end
		must(t, s.Tasks().Create(t.Context(), tk))
	}
	statsTwice(t, s, func(t *testing.T) {
		st := taskStats(t, s, base, base.Add(2*time.Hour), time.Hour)
		if len(st.Buckets) != 2 || st.Buckets[0].Counts["finished"] != 2 || st.Buckets[1].Counts["finished"] != 1 {
			t.Errorf("hour buckets = %+v, want 2 then 1", st.Buckets)
		}
		// A window not on hour bounds widens to them.
		st = taskStats(t, s, base.Add(30*time.Minute), base.Add(90*time.Minute), time.Hour)
		if !st.From.Equal(base) || !st.To.Equal(base.Add(2*time.Hour)) || st.Totals["finished"] != 3 {
			t.Errorf("window %s..%s totals %v, want %s..%s and 3", st.From, st.To, st.Totals, base, base.Add(2*time.Hour))
		}
		// Day buckets.
		st = taskStats(t, s, base.Add(-24*time.Hour), base.Add(24*time.Hour), 24*time.Hour)
		if st.Bucket != "day" || len(st.Buckets) != 2 || st.Buckets[0].Counts["finished"] != 1 || st.Buckets[1].Counts["finished"] != 3 {
			t.Errorf("day buckets = %s %+v, want 1 then 3", st.Bucket, st.Buckets)
		}
		// The window ends before the first hour: nothing in it.
		st = taskStats(t, s, base.Add(-time.Hour), base, time.Hour)
		if len(st.Totals) != 0 || len(st.Spiders) != 0 || st.SuccessRate != 0 {
			t.Errorf("empty window: %+v", st)
		}
	})
	for _, q := range []store.StatsQuery{
		{From: base, To: base, Bucket: time.Hour},
		{From: base, To: base.Add(-time.Hour), Bucket: time.Hour},
		{From: base, To: base.Add(time.Hour), Bucket: time.Minute},
		{To: base},
		{From: base, To: base.Add(500 * 24 * time.Hour), Bucket: 24 * time.Hour},
		{From: base, To: base.Add(100 * 24 * time.Hour), Bucket: time.Hour},
	} {
		if _, err := s.Stats().TaskStats(t.Context(), q); !errors.Is(err, store.ErrBadStatsQuery) {
			t.Errorf("TaskStats(%+v) = %v, want ErrBadStatsQuery", q, err)
		}
	}
}

func testStatsNow(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("now")
	for range 3 {
		must(t, s.Tasks().Create(ctx, newTask(sp, "", store.Now())))
	}
	run := newTask(sp, "", store.Now())
	must(t, s.Tasks().Create(ctx, run))
	run.Status, run.Started = store.TaskRunning, store.Now()
	must(t, s.Tasks().UpdateIf(ctx, run, store.TaskPending))
	check := func(running, pending int64) {
		t.Helper()
		st := taskStats(t, s, store.Now().Add(-time.Hour), store.Now(), time.Hour)
		if st.Running != running || st.Pending != pending {
			t.Errorf("running %d pending %d, want %d and %d", st.Running, st.Pending, running, pending)
		}
	}
	check(1, 3)
	run.Status, run.Finished = store.TaskFinished, store.Now()
	must(t, s.Tasks().UpdateIf(ctx, run, store.TaskRunning))
	check(0, 3)
	st := taskStats(t, s, store.Now().Add(-time.Hour), store.Now(), time.Hour)
	if st.Totals["finished"] != 1 {
		t.Errorf("totals %v, want the task that just finished", st.Totals)
	}
}
