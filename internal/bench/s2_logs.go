package bench

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

// logFollower follows one task's log on one connection (and its
// reconnections), checking that every line comes exactly once and in
// order: lines carry their number (see Emit).
type logFollower struct {
	total int64 // lines expected
	hist  *Hist // shared; nil: no latency

	// Written by the connection's reader goroutine only (and read by the
	// watcher after that goroutine ended, or after complete).
	next      int64
	dup, gaps int64
	firstTS   int64 // the write time of the first line received
	lastTS    int64 // … and of the last
	doneAt    time.Time
	complete  chan struct{}
	delivered *atomic.Int64 // shared count of lines received
}

func newLogFollower(total int64, since int64, hist *Hist, delivered *atomic.Int64) *logFollower {
	return &logFollower{total: total, next: since, hist: hist, delivered: delivered, complete: make(chan struct{})}
}

func (f *logFollower) handle(frame []byte) {
	now := time.Now()
	var n int64
	for {
		i := bytes.Index(frame, []byte(lineMarker))
		if i < 0 || len(frame)-i < markerLen {
			break
		}
		m := frame[i+2 : i+markerLen]
		frame = frame[i+markerLen:]
		num, ok1 := parseDigits(m[0:10])
		ts, ok2 := parseDigits(m[11:30])
		if !ok1 || !ok2 {
			continue
		}
		line := int64(num)
		switch {
		case line < f.next:
			f.dup++
			continue
		case line > f.next:
			f.gaps += line - f.next
		}
		f.next = line + 1
		n++
		if f.firstTS == 0 {
			f.firstTS = int64(ts)
		}
		f.lastTS = int64(ts)
		if f.hist != nil {
			f.hist.Record(now.Sub(time.Unix(0, int64(ts))))
		}
		if f.next == f.total {
			f.doneAt = now
			close(f.complete)
		}
	}
	if f.delivered != nil {
		f.delivered.Add(n)
	}
}

// follow keeps f's connection up until f is complete or ctx ends: a
// connection the server closes (4008: too slow) is reopened with since set
// to the next line, as docs/websocket-api.md tells clients to do.
func follow(ctx context.Context, c *Client, sub Sub, f *logFollower, reconnects *atomic.Int64) {
	for {
		select {
		case <-f.complete:
			c.Close()
			return
		case <-ctx.Done():
			c.Close()
			return
		case <-c.Done():
		}
		// The reader ended: f is ours to read.
		for {
			if ctx.Err() != nil {
				return
			}
			reconnects.Add(1)
			s := sub
			s.Since = f.next
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			nc, err := Dial(dctx, s, f.handle)
			cancel()
			if err == nil {
				c = nc
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// linesFor is how many lines the task writes for n clients: a million for
// one, and as many as keep n × lines (the deliveries) near 20 million.
func (r *run) linesFor(n int) int64 {
	l := min(int64(1_000_000), max(int64(20_000), 20_000_000/int64(n)))
	if r.cfg.Quick {
		l /= 10
	}
	return l
}

// pacedSeconds is how long a paced task writes.
const pacedSeconds = 5

func (r *run) scenarioLogs(ctx context.Context, c *cluster) {
	type runSpec struct {
		n    int
		rate float64
	}
	specs := []runSpec{{1, 0}, {100, 0}, {1000, 0},
		// The same 2,000,000 lines/s delivered in total, with the task
		// writing at the pace the clients can take: the latency of the
		// fan-out itself, without the queue a faster task builds.
		{100, targetLogLinesPerS / 100}, {1000, targetLogLinesPerS / 1000}}
	for _, s := range specs {
		n := s.n
		lines := r.linesFor(n)
		if s.rate > 0 {
			lines = int64(s.rate * pacedSeconds)
		}
		row, err := r.logFanout(ctx, c, n, lines, s.rate)
		if err != nil {
			r.fail(fmt.Sprintf("scenario 2 N=%d", n), err)
			continue
		}
		r.res.LogFanout = append(r.res.LogFanout, row)
		if ctx.Err() != nil {
			return
		}
	}
}

// logFanout runs one task writing lines as fast as it can, followed from
// line 0 by n clients that subscribed before its first line.
func (r *run) logFanout(ctx context.Context, c *cluster, n int, lines int64, rate float64) (LogRow, error) {
	row := LogRow{Clients: n, Lines: lines, PacedLinesPerS: rate}
	wait := filepath.Join(r.cfg.WorkDir, fmt.Sprintf("go-logs-%d-%d-%d", n, int(rate), time.Now().UnixNano()))
	taskID, err := c.master.RunTask(ctx, c.spiderID, fmt.Sprintf("-n %d -rate %g -wait '%s'", lines, rate, wait))
	if err != nil {
		return row, err
	}
	if _, err := c.master.WaitTask(ctx, taskID, 30*time.Second, "running"); err != nil {
		return row, err
	}
	hist := new(Hist)
	var delivered, reconnects atomic.Int64
	sub := Sub{Kind: KindCrawlhub, URL: wsURL(c.master.Base), Channel: wsapi.LogChannel(taskID)}
	followers := make([]*logFollower, n)
	clients, took, err := DialMany(ctx, sub, n, 32, func(i int) func([]byte) {
		followers[i] = newLogFollower(lines, 0, hist, &delivered)
		return followers[i].handle
	})
	if err != nil {
		_ = touch(wait) // let the task end
		return row, err
	}
	r.logf("scenario 2: %d clients subscribed to task %s in %v", n, taskID, took.Round(time.Millisecond))

	deadline := r.d(90 * time.Second)
	fctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() { follow(fctx, cl, sub, followers[i], &reconnects) })
	}
	drops := c.master.LogCount("redis pubsub connection lost")
	start := time.Now()
	if err := touch(wait); err != nil {
		return row, err
	}
	wg.Wait()

	var last time.Time
	var minTS, maxTS int64
	for _, f := range followers {
		row.Duplicates += f.dup
		row.Lost += f.gaps + (lines - f.next) // skipped, or never received before the deadline
		if f.doneAt.After(last) {
			last = f.doneAt
		}
		if f.firstTS != 0 && (minTS == 0 || f.firstTS < minTS) {
			minTS = f.firstTS
		}
		maxTS = max(maxTS, f.lastTS)
	}
	if last.IsZero() || row.Lost > 0 {
		last = time.Now()
	}
	row.Delivered = delivered.Load()
	row.UpstreamDrops = c.master.LogCount("redis pubsub connection lost") - drops
	row.Reconnects = reconnects.Load()
	row.SecondsToAll = last.Sub(start).Seconds()
	row.LinesPerSec = float64(row.Delivered) / row.SecondsToAll
	if maxTS > minTS {
		row.WriteLinesPerS = float64(lines-1) / (float64(maxTS-minTS) / 1e9)
	}
	row.Latency = hist.Summary()
	r.logf("scenario 2: N=%d, %d lines each, paced at %.0f lines/s (0: as fast as it can): task wrote %.0f lines/s; %.0f lines/s delivered in total, all in %.2f s; latency p50 %.1f ms p99 %.1f ms max %.1f ms; not received %d, duplicates %d, reconnects %d, master's Redis subscription dropped %d times",
		n, lines, rate, row.WriteLinesPerS, row.LinesPerSec, row.SecondsToAll, row.Latency.P50ms, row.Latency.P99ms, row.Latency.MaxMs, row.Lost, row.Duplicates, row.Reconnects, row.UpstreamDrops)
	// The next run starts once this task has ended and its log is saved.
	if _, err := c.master.WaitTask(ctx, taskID, 3*time.Minute, "finished"); err != nil {
		return row, err
	}
	return row, nil
}
