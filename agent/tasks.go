package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/loglevel"
	"github.com/crawlhub/crawlhub/runner"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/tasklog"
	"github.com/crawlhub/crawlhub/wire"
)

// run is one task running on this node.
type run struct {
	task   store.Task
	dir    string // the spider version it runs from
	proc   *runner.Process
	log    *tasklog.Writer
	levels *loglevel.Counter
	items  *taskItems

	mu       sync.Mutex
	cancelBy string // set by cancel_task
}

func (a *Agent) dir(parts ...string) string {
	return filepath.Join(append([]string{a.cfg.DataDir}, parts...)...)
}

func (a *Agent) emitStatus(ctx context.Context, t *store.Task) {
	ev := wire.TaskStatus{TaskID: t.ID, NodeID: t.NodeID, SpiderID: t.SpiderID, Status: t.Status,
		ExitCode: t.ExitCode, Reason: t.Reason, LogLines: t.LogLines, LogLevels: wire.LogLevels(t.LogLevels),
		ItemCount: t.ItemCount, Created: t.Created, Started: t.Started, Finished: t.Finished}
	msg, err := a.resp.Event(wire.EvTaskStatus, ev)
	if err != nil {
		a.log.Error("could not encode a task status", "task_id", t.ID, "err", err)
		return
	}
	a.out.send(ctx, wire.MasterChannel, "task "+t.ID+" "+t.Status, msg)
}

// runTask runs a claimed task to its end and records the outcome. ctx is
// the agent's life: when it ends, the task is stopped.
func (a *Agent) runTask(ctx context.Context, t store.Task) {
	log := a.log.With("task_id", t.ID)
	r := &run{task: t}
	fail := func(reason string) {
		a.mu.Lock()
		delete(a.starting, t.ID)
		a.mu.Unlock()
		a.finish(&t, store.TaskError, nil, reason, 0)
		a.nudge() // its slot is free
	}
	sp, dir, err := a.syncSpider(ctx, t.SpiderID)
	if err != nil {
		fail("could not fetch the spider: " + err.Error() + diskHint(err, a.cfg.DataDir))
		return
	}
	r.dir = dir
	if err := os.MkdirAll(a.dir("logs"), dirMode); err != nil {
		fail("log directory: " + err.Error() + diskHint(err, a.cfg.DataDir))
		return
	}
	// The items are reachable before the command starts: a spider may save
	// one at once.
	r.items, err = a.openItems(&t, sp, log)
	if err != nil {
		fail("items: " + err.Error())
		return
	}
	logPath := a.dir("logs", t.ID+".log")
	r.levels = new(loglevel.Counter)
	r.log, err = tasklog.Open(tasklog.Config{
		TaskID: t.ID, Path: logPath, Store: a.store.Logs(), Log: log,
		Publish: a.publishLog, Levels: r.levels, MaxBytes: a.cfg.MaxLogBytes,
	})
	if err != nil {
		a.closeItems(context.Background(), t.ID, r.items)
		fail("open the log: " + err.Error() + diskHint(err, a.cfg.DataDir))
		return
	}
	out := newTaskOutput(r.log)
	cmd := sp.Command
	if t.Params != "" {
		cmd += " " + t.Params
	}
	env, err := a.taskEnv(sp, &t, a.itemsURL(t.ID, r.items.secret))
	if err == nil {
		r.proc, err = runner.Start(ctx, runner.Spec{
			Command: cmd, Dir: dir, Env: env, Output: out,
			Timeout: time.Duration(t.Timeout) * time.Second, Grace: a.cfg.CancelGrace,
		})
	}
	a.mu.Lock()
	early := a.starting[t.ID]
	delete(a.starting, t.ID)
	if err == nil {
		a.runs[t.ID] = r
	}
	a.mu.Unlock()
	if err == nil && early != nil {
		// Cancelled while it was starting: the store had it running, so
		// the cancel was accepted; it stops now.
		r.mu.Lock()
		r.cancelBy = early.By
		r.mu.Unlock()
		log.Info("cancelling task, cancelled while it was starting", "by", early.By, "reason", early.Reason)
		r.proc.Stop(early.Reason)
	}
	if err != nil {
		total, _ := r.log.Close(context.Background())
		items, _ := a.closeItems(context.Background(), t.ID, r.items)
		a.countItems(context.Background(), &t, items)
		a.finish(&t, store.TaskError, nil, "could not start the command: "+err.Error(), total)
		return
	}
	a.savePID(t.ID, r.proc.PID(), r.proc.StartTime())
	log.Info("task started", "spider", sp.Name, "pid", r.proc.PID())
	stopLevels := a.reportLevels(t, r)

	var res runner.Result
	select {
	case <-r.proc.Done():
		res = r.proc.Wait()
	case <-out.failed:
		// Its output would go nowhere: stop it now rather than report,
		// hours later, a run whose log stops short.
		log.Error("task log not written; stopping the task", "err", out.err)
		r.proc.Stop("its log could not be written")
		res = r.proc.Wait()
	case <-ctx.Done():
		r.mu.Lock()
		r.cancelBy = "the agent on node " + a.cfg.Name + ", which was stopping"
		r.mu.Unlock()
		r.proc.Stop("agent stopping")
		res = r.proc.Wait()
	}

	// Save everything before saying the task ended, so the end is only
	// announced once the whole log and every item are durable. A slow
	// store gets time; a dead one does not hold the task forever.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	total, lerr := r.log.Close(sctx)
	stopLevels()
	t.LogLevels, t.ScrapyStats = r.levels.Levels(), r.levels.ScrapyStats()
	if lerr != nil {
		log.Error("task log not completely saved; it stays on this node and is uploaded at its next start", "err", lerr)
	}
	items, ierr := a.closeItems(sctx, t.ID, r.items)
	if ierr != nil {
		log.Error("task items not all saved; they stay on this node", "err", ierr)
	}
	a.countItems(sctx, &t, items)
	cancel()
	status, reason := store.TaskFinished, ""
	r.mu.Lock()
	by := r.cancelBy
	r.mu.Unlock()
	var code *int
	werr, iwerr := r.log.WriteErr(), r.items.writeErr()
	switch {
	case werr != nil:
		// Whatever the process did, its log misses lines: never finished.
		status, reason = store.TaskError, logNotWritten(werr, total, a.cfg.DataDir)
	case iwerr != nil:
		// The spider was told (its request failed), but may have carried
		// on regardless: its items are not all there.
		status, reason = store.TaskError, itemsNotWritten(iwerr, items, a.cfg.DataDir)
	case res.TimedOut:
		status, reason = store.TaskCancelled, res.Reason
	case res.Stopped:
		status, reason = store.TaskCancelled, "cancelled by "+by
		t.CancelledBy = by
		if res.Reason != "" {
			reason += ": " + res.Reason
		}
	case res.ExitCode == 0:
		c := 0
		code = &c
	case res.ExitCode > 0:
		c := res.ExitCode
		status, code, reason = store.TaskError, &c, "exit code "+strconv.Itoa(c)
	default:
		status, reason = store.TaskError, "killed by signal "+res.Signal
	}
	a.mu.Lock()
	delete(a.runs, t.ID)
	a.mu.Unlock()
	if lerr != nil {
		if reason != "" {
			reason += "; "
		}
		reason += "the log could not all be saved (" + lerr.Error() + "); the rest is uploaded when the agent restarts"
	}
	if ierr != nil {
		if reason != "" {
			reason += "; "
		}
		reason += "the items could not all be saved (" + ierr.Error() + "); they are kept on the node in " + a.itemsPath(t.ID)
	}
	a.finish(&t, status, code, reason, total)
	a.dropPID(t.ID)
	if lerr == nil {
		os.Remove(logPath)
	}
	if ierr == nil {
		os.Remove(a.itemsPath(t.ID))
	}
	log.Info("task ended", "status", status, "reason", reason, "lines", total, "items", items)
	a.nudge() // a slot is free
}

// finish records a task's end (t.ItemCount and t.ItemStats are set),
// publishes the end of its log and of its items, and its new status.
func (a *Agent) finish(t *store.Task, status string, code *int, reason string, lines int64) {
	t.Status, t.ExitCode, t.Reason, t.LogLines, t.Finished = status, code, reason, lines, store.Now()
	a.storeEnd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Through the outbox: a master that missed these would never learn
	// that the task ended.
	a.sendKept(ctx, wire.LogChannel(t.ID), "end of the log of task "+t.ID,
		wire.LogBatch{TaskID: t.ID, From: lines, Lines: []string{}, End: true, Status: status, Total: lines})
	a.sendKept(ctx, wire.ItemsChannel(t.ID), "end of the items of task "+t.ID,
		wire.ItemBatch{TaskID: t.ID, From: t.ItemCount, Items: []json.RawMessage{}, End: true, Status: status, Total: t.ItemCount})
	a.emitStatus(ctx, t)
}

// endSaveTimeout bounds how long a task's end is retried while the store
// is away, as its log's and items' final saves are: long enough for a
// store restart or failover, and the outcome is not lost past it either
// (the task stays running in the store, and the agent's next start
// settles the running tasks the store gives it, see orphans.go).
const endSaveTimeout = 10 * time.Minute

// storeEnd records a task's end, retrying while the store cannot be
// reached: until it is stored the store says the task is running, and a
// single failed write would leave it so.
func (a *Agent) storeEnd(t *store.Task) {
	ctx, cancel := context.WithTimeout(context.Background(), endSaveTimeout)
	defer cancel()
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		err := a.recordEnd(ctx, t)
		if err == nil {
			return
		}
		if errors.Is(err, store.ErrNotFound) || ctx.Err() != nil {
			a.log.Error("task outcome not stored", "task_id", t.ID, "status", t.Status, "err", err)
			return
		}
		if try == 0 {
			a.log.Warn("task outcome not stored yet; retrying until the store answers", "task_id", t.ID, "status", t.Status, "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// sendKept signs and sends v on channel through the outbox.
func (a *Agent) sendKept(ctx context.Context, channel, what string, v any) {
	p, err := json.Marshal(v)
	if err != nil {
		a.log.Error("could not encode "+what, "err", err)
		return
	}
	a.out.send(ctx, channel, what, a.signer.Sign(p))
}

// recordEnd stores a task's end if the store still has it running, or
// abnormal: a master marks a task abnormal when it stops hearing its node,
// and the node that comes back with the real outcome knows better. Any
// other end stored meanwhile is kept (never overwritten by a late writer).
func (a *Agent) recordEnd(ctx context.Context, t *store.Task) error {
	err := a.store.Tasks().UpdateIf(ctx, t, store.TaskRunning)
	if !errors.Is(err, store.ErrStale) {
		return err
	}
	err = a.store.Tasks().UpdateIf(ctx, t, store.TaskAbnormal)
	if errors.Is(err, store.ErrStale) {
		a.log.Warn("the task's end was already stored; keeping it", "task_id", t.ID, "status", t.Status)
		return nil
	}
	return err
}

func (a *Agent) publishLog(ctx context.Context, b wire.LogBatch) error {
	p, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return a.bus.Publish(ctx, wire.LogChannel(b.TaskID), a.signer.Sign(p))
}

// --- operations --------------------------------------------------------------

// CancelTask implements wire.Node; the outcome goes out as the task's
// EvTaskStatus event.
func (a *Agent) CancelTask(_ context.Context, req wire.CancelTask) error {
	a.mu.Lock()
	r := a.runs[req.TaskID]
	if r == nil {
		if _, ok := a.starting[req.TaskID]; ok {
			// Claimed and not started yet: stopped as soon as it starts.
			a.starting[req.TaskID] = &req
		}
		a.mu.Unlock()
		return nil // or not running here (any more)
	}
	a.mu.Unlock()
	r.mu.Lock()
	r.cancelBy = req.By
	r.mu.Unlock()
	a.log.Info("cancelling task", "task_id", req.TaskID, "by", req.By, "reason", req.Reason)
	r.proc.Stop(req.Reason)
	return nil
}

// GetLog implements wire.Node: a running task's lines come from its log
// file here, an ended task's from the store.
func (a *Agent) GetLog(ctx context.Context, req wire.GetLog) (wire.LogBatch, error) {
	a.mu.Lock()
	r := a.runs[req.TaskID]
	a.mu.Unlock()
	out := wire.LogBatch{TaskID: req.TaskID, From: req.From}
	// The reply is one bus message: bounded in lines and in bytes
	// (wire.MaxReadBytes), so long lines make a shorter page.
	limit := req.Limit
	if limit <= 0 || limit > wire.MaxReadEntries {
		limit = wire.MaxReadEntries
	}
	var err error
	if r != nil {
		out.Total = r.log.Lines()
		out.Lines, err = wire.ReadLines(req.From, limit, r.log.Read)
	} else {
		out.Lines, err = wire.ReadLines(req.From, limit, func(from int64, n int) ([]string, error) {
			return a.store.Logs().ReadLog(ctx, req.TaskID, from, n)
		})
		if err == nil {
			out.Total, err = a.store.Logs().LogLen(ctx, req.TaskID)
		}
	}
	if out.Lines == nil {
		out.Lines = []string{}
	}
	return out, err
}

// --- orphans -----------------------------------------------------------------
