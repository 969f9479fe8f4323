package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ScheduleCount is scenario 7's number of schedules, all due every minute.
const ScheduleCount = 10_000

// scenarioSchedules is scenario 7: ScheduleCount schedules due at the same
// second of every minute on one master, the all-in-one (in-process bus,
// SQLite). Their tasks are for a node that has gone offline, so they wait
// in the queue and nothing runs them: what is measured is the master
// firing, not tasks running. Overlap is "allow": with the default "skip",
// every schedule would skip from the second minute on, its first task
// still waiting.
func (r *run) scenarioSchedules(ctx context.Context) {
	n, minutes := ScheduleCount, 2
	if r.cfg.Quick {
		n, minutes = n/10, 1
	}
	dir := filepath.Join(r.cfg.WorkDir, "schedules")
	port, err := FreePort()
	if err != nil {
		r.fail("scenario 7", err)
		return
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	start := func(name string) (*Master, error) {
		p, err := r.procs.Start("schedules-"+name, nil, nil, r.cfg.CrawlhubBin,
			"--listen", listen, "--data", dir, "--token", Token, "--log-level", "warn", "--name", name)
		if err != nil {
			return nil, err
		}
		m := &Master{Proc: p, Base: "http://" + listen}
		if err := waitHTTP(ctx, p, m.Base+"/healthz", 30*time.Second); err != nil {
			p.Stop(10 * time.Second)
			return nil, err
		}
		return m, nil
	}
	// A node that registers once and stops: the schedules' tasks wait for it.
	m, err := start("gone")
	if err != nil {
		r.fail("scenario 7", err)
		return
	}
	gone, err := waitNode(ctx, m, "gone")
	m.Proc.Stop(15 * time.Second)
	if err == nil {
		err = os.Remove(filepath.Join(dir, "agent", "node_id"))
	}
	if err == nil {
		m, err = start("solo")
	}
	if err != nil {
		r.fail("scenario 7", err)
		return
	}
	defer m.Proc.Stop(15 * time.Second)
	spider, err := m.CreateSpider(ctx, "noop", "true")
	if err != nil {
		r.fail("scenario 7", err)
		return
	}

	t0 := time.Now()
	var made atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				err := m.API(ctx, "POST", "/api/schedules", map[string]any{
					"name": fmt.Sprintf("every-minute-%05d", i), "spider_id": spider, "cron": "* * * * *",
					"mode": "nodes", "node_ids": []string{gone}, "overlap": "allow",
				}, nil)
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				made.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		r.fail("scenario 7", firstErr)
		return
	}
	r.logf("scenario 7: %d schedules created in %.1f s", made.Load(), time.Since(t0).Seconds())

	// Measure whole minutes, from a second before the first fire time that
	// is at least 3 s away.
	first := time.Now().Add(3 * time.Second).Truncate(time.Minute).Add(time.Minute)
	end := first.Add(time.Duration(minutes) * time.Minute)
	sleepUntil(ctx, first.Add(-time.Second))
	cpu0, err := cpuSeconds(m.Proc.PID())
	if err != nil {
		r.fail("scenario 7", err)
		return
	}
	sleepUntil(ctx, end.Add(-time.Second))
	cpu1, err := cpuSeconds(m.Proc.PID())
	if err != nil {
		r.fail("scenario 7", err)
		return
	}
	// Let the last measured fire time finish before reading the tasks.
	sleepUntil(ctx, end.Add(-time.Second+r.d(20*time.Second)))

	row := ScheduleRow{Schedules: int(made.Load()), Minutes: minutes, Expected: int64(made.Load()) * int64(minutes),
		CPUSecondsPerMin: (cpu1 - cpu0) / float64(minutes)}
	if err := r.readFires(ctx, m, first, end, &row); err != nil {
		r.fail("scenario 7", err)
		return
	}
	r.logf("scenario 7: %d of %d fires (missing %d, twice %d); lag p50 %.0f ms, p99 %.0f ms, max %.0f ms; master CPU %.1f s per minute",
		row.Fired, row.Expected, row.Missing, row.Duplicates, row.Lag.P50ms, row.Lag.P99ms, row.Lag.MaxMs, row.CPUSecondsPerMin)
	r.res.Schedules = append(r.res.Schedules, row)
}

// readFires reads every task the schedules made and checks each fire time
// in [first, end) made one task per schedule; the lag is when the task was
// created against its fire time (a fire's task id starts with it).
func (r *run) readFires(ctx context.Context, m *Master, first, end time.Time, row *ScheduleRow) error {
	type key struct {
		schedule string
		at       int64
	}
	count := map[key]int{}
	hist := &Hist{}
	for offset := 0; ; offset += 1000 {
		var l struct {
			Items []struct {
				ID         string    `json:"id"`
				ScheduleID string    `json:"schedule_id"`
				Created    time.Time `json:"created"`
			} `json:"items"`
		}
		if err := m.API(ctx, "GET", "/api/tasks?limit=1000&offset="+strconv.Itoa(offset), nil, &l); err != nil {
			return err
		}
		for _, t := range l.Items {
			b, err := hex.DecodeString(t.ID)
			if err != nil || len(b) != 12 || t.ScheduleID == "" {
				continue
			}
			at := time.Unix(int64(b[0])<<24|int64(b[1])<<16|int64(b[2])<<8|int64(b[3]), 0)
			if at.Before(first) || !at.Before(end) {
				continue
			}
			count[key{t.ScheduleID, at.Unix()}]++
			hist.Record(t.Created.Sub(at))
		}
		if len(l.Items) < 1000 {
			break
		}
	}
	for _, c := range count {
		row.Fired++
		if c > 1 {
			row.Duplicates += int64(c - 1)
		}
	}
	row.Missing = row.Expected - row.Fired
	row.Lag = hist.Summary()
	return nil
}

// waitNode waits until the node named name is listed and returns its id.
func waitNode(ctx context.Context, m *Master, name string) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		id, err := m.NodeID(ctx, name)
		if err == nil {
			return id, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("node %s not listed after 30 s: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond) // another process's state
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// cpuSeconds is the user and system CPU time process pid has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad /proc/%d/stat", pid)
	}
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}
