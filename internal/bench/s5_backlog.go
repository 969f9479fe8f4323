package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

// BacklogLines is scenario 5's log length.
const BacklogLines = 1_000_000

func (r *run) scenarioBacklog(ctx context.Context, c *cluster) {
	lines := int64(BacklogLines)
	if r.cfg.Quick {
		lines /= 10
	}
	t0 := time.Now()
	taskID, err := c.master.RunTask(ctx, c.spiderID, fmt.Sprintf("-n %d", lines))
	if err != nil {
		r.fail("scenario 5", err)
		return
	}
	t, err := c.master.WaitTask(ctx, taskID, 5*time.Minute, "finished")
	if err != nil {
		r.fail("scenario 5", err)
		return
	}
	if t.LogLines != lines {
		r.fail("scenario 5", fmt.Errorf("the task finished with %d lines, want %d", t.LogLines, lines))
		return
	}
	r.logf("scenario 5: a %d-line task ran and its log was saved in %.1f s", lines, time.Since(t0).Seconds())
	row, err := r.backlogOnce(ctx, c, taskID, lines, "mongo (FerretDB)")
	if err != nil {
		r.fail("scenario 5", err)
		return
	}
	r.res.Backlog = append(r.res.Backlog, row)
}

// backlogOnce subscribes a new client with since 0 to a finished task and
// times it until it has every line.
func (r *run) backlogOnce(ctx context.Context, c *cluster, taskID string, lines int64, storeName string) (BacklogRow, error) {
	var delivered, reconnects atomic.Int64
	f := newLogFollower(lines, 0, nil, &delivered)
	sub := Sub{Kind: KindCrawlhub, URL: wsURL(c.master.Base), Channel: wsapi.LogChannel(taskID)}
	fctx, cancel := context.WithTimeout(ctx, r.d(120*time.Second))
	defer cancel()
	start := time.Now()
	cl, err := Dial(fctx, sub, f.handle)
	if err != nil {
		return BacklogRow{}, err
	}
	follow(fctx, cl, sub, f, &reconnects)
	took := time.Since(start)
	if !f.doneAt.IsZero() {
		took = f.doneAt.Sub(start)
	}
	row := BacklogRow{Store: storeName, Lines: lines, Received: delivered.Load(), Seconds: took.Seconds(),
		InOrder: f.dup == 0 && f.gaps == 0 && f.next == lines}
	row.LinesPerS = float64(row.Received) / row.Seconds
	r.logf("scenario 5 (%s): %d of %d lines in %.2f s (%.0f lines/s), exactly once in order: %v, reconnects %d",
		storeName, row.Received, lines, row.Seconds, row.LinesPerS, row.InOrder, reconnects.Load())
	return row, nil
}

// scenarioBacklogAllInOne is scenario 5 on the embedded default: `crawlhub`
// with no sub-command (a master and an agent in one process, the
// in-process bus, SQLite), as a subprocess.
func (r *run) scenarioBacklogAllInOne(ctx context.Context) {
	port, err := FreePort()
	if err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	listen := "127.0.0.1:" + strconv.Itoa(port)
	dir := filepath.Join(r.cfg.WorkDir, "all-in-one")
	p, err := r.procs.Start("all-in-one", nil, nil, r.cfg.CrawlhubBin,
		"--listen", listen, "--data", dir, "--token", Token, "--log-level", "warn", "--name", "solo")
	if err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	defer p.Stop(15 * time.Second)
	m := &Master{Proc: p, Base: "http://" + listen}
	if err := waitHTTP(ctx, p, m.Base+"/healthz", 30*time.Second); err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := m.NodeID(ctx, "solo"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			r.fail("scenario 5 all-in-one", fmt.Errorf("its node is not listed after 30 s"))
			return
		}
		time.Sleep(100 * time.Millisecond) // another process's state
	}
	spider, err := m.CreateSpider(ctx, "emit", "exec '"+r.cfg.HarnessBin+"' emit")
	if err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	lines := int64(BacklogLines)
	if r.cfg.Quick {
		lines /= 10
	}
	t0 := time.Now()
	taskID, err := m.RunTask(ctx, spider, fmt.Sprintf("-n %d", lines))
	if err == nil {
		_, err = m.WaitTask(ctx, taskID, 5*time.Minute, "finished")
	}
	if err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	r.logf("scenario 5 all-in-one: a %d-line task ran and its log was saved in %.1f s", lines, time.Since(t0).Seconds())
	row, err := r.backlogOnce(ctx, &cluster{master: m}, taskID, lines, "sqlite (the all-in-one)")
	if err != nil {
		r.fail("scenario 5 all-in-one", err)
		return
	}
	r.res.Backlog = append(r.res.Backlog, row)
}
