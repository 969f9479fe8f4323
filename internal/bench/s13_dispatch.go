package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Scenario 13's sizes: the burst of short tasks, the trickle that measures
// the latency of an idle cluster, and how many run at once (3 agents of
// DispatchPerAgent each; the all-in-one and the machine at the sum).
const (
	DispatchTasks    = 5000
	DispatchTrickle  = 100
	DispatchAgents   = 3
	DispatchPerAgent = 2 // StartAgent's --concurrency
	dispatchPosters  = 8 // harness goroutines creating tasks
	dispatchTrickleD = 100 * time.Millisecond
	// The bursts' bounds: creating stops at half, waiting at the whole.
	dispatchAllInOneDeadline = 90 * time.Second
	dispatchClusterDeadline  = 150 * time.Second
)

// Dispatch systems.
const (
	DispatchMachine  = "the machine: fork/exec from Go"
	DispatchAllInOne = "all-in-one (SQLite)"
	DispatchCluster  = "cluster (Redis + FerretDB, 3 agents)"
)

// DispatchRow is scenario 13: tasks run by one system, in a burst or a
// trickle.
type DispatchRow struct {
	System      string `json:"system"`
	Phase       string `json:"phase"` // "burst" or "trickle"
	Tasks       int    `json:"tasks"`
	Concurrency int    `json:"concurrency"`
	// Seconds from the first task created to the last ended; TasksPerS is
	// Tasks over it. CreatePerS is how fast the harness could create them.
	Seconds    float64 `json:"seconds"`
	TasksPerS  float64 `json:"tasks_per_s"`
	CreatePerS float64 `json:"create_per_s,omitempty"`
	// Start is creation → the process running (its first instruction: the
	// time it prints).
	Start   Latency `json:"start"`
	Missing int     `json:"missing"` // never started, or not ended before the deadline
	Twice   int     `json:"twice"`   // started more than once
}

// dispatchCommand is the one-line task: it appends the time it started
// (bash's $EPOCHREALTIME, microseconds) and its task id to starts.
func dispatchCommand(bash, starts string) string {
	return bash + ` -c 'echo "$EPOCHREALTIME $CRAWLHUB_TASK_ID" >> ` + starts + `'`
}

func (r *run) scenarioDispatch(ctx context.Context, c *cluster) {
	n, trickle := DispatchTasks, DispatchTrickle
	if r.cfg.Quick {
		n, trickle = n/10, trickle/4
	}
	conc := DispatchAgents * DispatchPerAgent
	bash, err := exec.LookPath("bash")
	if err != nil {
		r.fail("scenario 13", fmt.Errorf("bash (for $EPOCHREALTIME): %w", err))
		return
	}
	dir := filepath.Join(r.cfg.WorkDir, "dispatch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.fail("scenario 13", err)
		return
	}
	starts := filepath.Join(dir, "starts")
	cmd := dispatchCommand(bash, starts)

	row := r.dispatchMachine(ctx, cmd, starts, n, conc)
	r.logf("scenario 13 (%s): %d tasks in %.2f s: %.0f tasks/s", row.System, row.Tasks, row.Seconds, row.TasksPerS)
	r.res.Dispatch = append(r.res.Dispatch, row)

	// The all-in-one.
	m, err := r.startAllInOne(ctx, "dispatch-all-in-one", filepath.Join(dir, "all-in-one"), "solo")
	if err == nil {
		_, err = waitNode(ctx, m, "solo")
	}
	if err != nil {
		r.fail("scenario 13 all-in-one", err)
	} else {
		r.dispatchSystem(ctx, DispatchAllInOne, m, cmd, starts, n, trickle, conc, dispatchAllInOneDeadline)
		m.Stop(15 * time.Second)
	}

	// The cluster: one master, three agents, on a database of its own.
	uri := c.mongo + "bench_dispatch"
	cm, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: uri})
	if err != nil {
		r.fail("scenario 13 cluster", err)
		return
	}
	defer cm.Stop(15 * time.Second)
	for i := range DispatchAgents {
		a, err := r.procs.StartAgent(ctx, r.cfg.CrawlhubBin, c.redis.URL, uri, "dispatch-"+strconv.Itoa(i+1), "", cm)
		if err != nil {
			r.fail("scenario 13 cluster", err)
			return
		}
		defer a.Stop(15 * time.Second)
	}
	r.dispatchSystem(ctx, DispatchCluster, cm, cmd, starts, n, trickle, conc, dispatchClusterDeadline)
}

// dispatchSystem runs the trickle (first, on the idle system), then the
// burst, on master m.
func (r *run) dispatchSystem(ctx context.Context, system string, m *Master, cmd, starts string, n, trickle, conc int, burstDeadline time.Duration) {
	spider, err := m.CreateSpider(ctx, "dispatch", cmd)
	if err != nil {
		r.fail("scenario 13 "+system, err)
		return
	}
	for _, p := range []struct {
		phase    string
		n        int
		posters  int
		every    time.Duration
		deadline time.Duration
	}{
		{"trickle", trickle, 1, dispatchTrickleD, 60 * time.Second},
		{"burst", n, dispatchPosters, 0, burstDeadline},
	} {
		row, err := r.dispatchTasks(ctx, m, spider, starts, p.n, p.posters, p.every, p.deadline)
		if err != nil {
			r.fail("scenario 13 "+system+" "+p.phase, err)
			return
		}
		row.System, row.Phase, row.Concurrency = system, p.phase, conc
		r.logf("scenario 13 (%s, %s): %d tasks in %.2f s: %.0f tasks/s (created at %.0f/s); creation → start p50 %.1f ms, p99 %.1f ms; missing %d, twice %d",
			system, p.phase, row.Tasks, row.Seconds, row.TasksPerS, row.CreatePerS, row.Start.P50ms, row.Start.P99ms, row.Missing, row.Twice)
		r.res.Dispatch = append(r.res.Dispatch, row)
	}
}

// dispatchTasks creates n tasks of spider (posters at a time, or one
// every every), waits until they have ended, and reads when each was
// created, started and ended.
func (r *run) dispatchTasks(ctx context.Context, m *Master, spider, starts string, n, posters int, every, deadline time.Duration) (DispatchRow, error) {
	if err := os.WriteFile(starts, nil, 0o644); err != nil {
		return DispatchRow{}, err
	}
	ids := make([]string, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	// Creating stops halfway to the deadline, so that a slow system makes
	// fewer tasks rather than a longer run; the row says how many.
	stopCreating := t0.Add(r.d(deadline) / 2)
	for range posters {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil || time.Now().After(stopCreating) {
					return
				}
				if every > 0 {
					sleepUntil(ctx, t0.Add(time.Duration(i)*every))
				}
				id, err := m.RunTask(ctx, spider, "")
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				ids[i] = id
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return DispatchRow{}, firstErr
	}
	ids = slices.DeleteFunc(ids, func(id string) bool { return id == "" }) // the ones not made
	n = len(ids)
	row := DispatchRow{Tasks: n, CreatePerS: float64(n) / time.Since(t0).Seconds()}

	// Until every task has started (the starts file, read here: asking
	// the master would load the store being measured), then until nothing
	// is pending or running (another process's state, through the API).
	end := t0.Add(r.d(deadline))
	for time.Now().Before(end) {
		s, err := readStarts(starts)
		if err != nil {
			return row, err
		}
		if len(s) >= n {
			break
		}
		sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
	}
	for time.Now().Before(end) {
		busy := 0
		for _, st := range []string{"pending", "running"} {
			var l struct {
				Total int `json:"total"`
			}
			if err := m.API(ctx, "GET", "/api/tasks?limit=1&status="+st, nil, &l); err != nil {
				return row, err
			}
			busy += l.Total
		}
		if busy == 0 {
			break
		}
		sleepUntil(ctx, time.Now().Add(100*time.Millisecond))
	}

	want := make(map[string]bool, n)
	for _, id := range ids {
		want[id] = true
	}
	type times struct{ created, finished time.Time }
	got := map[string]times{}
	for offset := 0; ; offset += 1000 {
		var l struct {
			Items []struct {
				ID       string    `json:"id"`
				Status   string    `json:"status"`
				Created  time.Time `json:"created"`
				Finished time.Time `json:"finished"`
			} `json:"items"`
		}
		if err := m.API(ctx, "GET", "/api/tasks?limit=1000&offset="+strconv.Itoa(offset), nil, &l); err != nil {
			return row, err
		}
		for _, t := range l.Items {
			if want[t.ID] && t.Status == "finished" {
				got[t.ID] = times{t.Created, t.Finished}
			}
		}
		if len(l.Items) < 1000 {
			break
		}
	}
	started, err := readStarts(starts)
	if err != nil {
		return row, err
	}
	var first, last time.Time
	h := &Hist{}
	for _, id := range ids {
		tt, ok := got[id]
		s := started[id]
		if !ok || len(s) == 0 {
			row.Missing++
			continue
		}
		if len(s) > 1 {
			row.Twice++
		}
		h.Record(s[0].Sub(tt.created))
		if first.IsZero() || tt.created.Before(first) {
			first = tt.created
		}
		if tt.finished.After(last) {
			last = tt.finished
		}
	}
	if !first.IsZero() {
		row.Seconds = last.Sub(first).Seconds()
		row.TasksPerS = float64(n-row.Missing) / row.Seconds
	}
	row.Start = h.Summary()
	return row, nil
}

// readStarts reads the starts file: each task's start times.
func readStarts(path string) (map[string][]time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]time.Time{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		at, id, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		s, us, _ := strings.Cut(at, ".")
		sec, err1 := strconv.ParseInt(s, 10, 64)
		usec, err2 := strconv.ParseInt(us, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[id] = append(out[id], time.Unix(sec, usec*1000))
	}
	return out, sc.Err()
}

// dispatchMachine runs the same command conc at a time, n times, straight
// from Go: the rate the machine itself starts it at.
func (r *run) dispatchMachine(ctx context.Context, cmd, starts string, n, conc int) DispatchRow {
	_ = os.WriteFile(starts, nil, 0o644)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
				c.Env = append(os.Environ(), "CRAWLHUB_TASK_ID=machine-"+strconv.Itoa(i))
				if c.Run() != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(t0).Seconds()
	return DispatchRow{System: DispatchMachine, Phase: "burst", Tasks: n, Concurrency: conc, Seconds: took,
		TasksPerS: float64(n) / took, Missing: int(failed.Load())}
}
