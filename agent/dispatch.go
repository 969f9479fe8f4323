package agent

import (
	"context"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/bus"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// How an agent finds and claims work (docs/dispatch.md):
//
//   - A master creating tasks names them in task_available (wire.TaskAvailable
//     .TaskIDs); the agent queues the ids and claims them through the bus
//     as slots free up, without reading the store to find them.
//   - It reads the store (Tasks.Pending) only when it has to look: at its
//     start, every PollInterval, when told to look (task_available with no
//     ids, or more ids than it keeps), and while the last look filled its
//     page. Tasks that wait for another task are only ever found so.
//   - A claim is the bus's (Claim): the loop takes it, and the task's own
//     goroutine records it (a read and a compare-and-set by id) and starts
//     the process, so the starts of several tasks overlap their round
//     trips to the store.
//   - A slot is held from the claim until the task's end is saved. Freeing
//     it when the process exits, while the end is saved, was measured: no
//     gain on a cluster (its bursts are bound by the store's writes) and
//     no consistent one on the all-in-one, so the simpler rule stays
//     (bench/notes.md, scenario 13).

// maxQueued bounds the ids an agent keeps from task_available. Past it the
// rest is dropped and the agent looks in the store instead, which has
// every pending task.
const maxQueued = 100_000

// poll takes tasks while there are free slots: at once when nudged by
// task_available or a slot freeing, and every PollInterval anyway.
func (a *Agent) poll(ctx context.Context) {
	t := time.NewTicker(a.cfg.PollInterval)
	defer t.Stop()
	for {
		a.takeTasks(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.mu.Lock()
			a.lookDue = true
			a.mu.Unlock()
		case <-a.wake:
		}
	}
}

func (a *Agent) nudge() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// TaskAvailable implements wire.Node: it queues the ids it names (or asks
// for a look in the store) and wakes the poller.
func (a *Agent) TaskAvailable(_ context.Context, req wire.TaskAvailable) error {
	a.mu.Lock()
	ids := req.TaskIDs
	if len(ids) == 0 {
		a.lookDue = true
	}
	if room := maxQueued - len(a.queued); len(ids) > room {
		ids, a.lookDue = ids[:room], true
	}
	for _, id := range ids {
		if store.ValidID(id) {
			a.queued = append(a.queued, id)
		}
	}
	a.mu.Unlock()
	a.nudge()
	return nil
}

// freeSlots is how many more tasks may start: Concurrency less the tasks
// starting or running (until their end is saved).
func (a *Agent) freeSlots() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg.Concurrency - len(a.runs) - len(a.starting)
}

// nextQueued takes the oldest queued id, if there is one.
func (a *Agent) nextQueued() (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.queued) == 0 {
		return "", false
	}
	id := a.queued[0]
	a.queued[0] = ""
	a.queued = a.queued[1:]
	if len(a.queued) == 0 {
		a.queued = nil // let the backing array go
	}
	return id, true
}

// takeLook reports whether a look in the store is due, and clears it.
func (a *Agent) takeLook() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	due := a.lookDue
	a.lookDue = false
	return due
}

func (a *Agent) takeTasks(ctx context.Context) {
	if w, ok := a.bus.(bus.Watcher); ok && !w.Up() {
		return // a task is claimed on the bus: nothing can start until it is back
	}
	for {
		free := a.freeSlots()
		if free <= 0 || ctx.Err() != nil {
			return
		}
		if id, ok := a.nextQueued(); ok {
			a.claim(ctx, id, nil)
			continue
		}
		if !a.takeLook() {
			return
		}
		// Ask for more than the free slots: others may win some claims.
		want := free * 4
		pending, err := a.store.Tasks().Pending(ctx, a.nodeID, want)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("could not poll for tasks", "err", err)
			}
			a.mu.Lock()
			a.lookDue = true // the next wake or tick tries again
			a.mu.Unlock()
			return
		}
		took := 0
		for _, t := range pending {
			if a.freeSlots() <= 0 {
				break
			}
			if a.waits(ctx, t) {
				continue
			}
			if a.claim(ctx, t.ID, &t) {
				took++
			}
		}
		if len(pending) == want {
			// A full page: there may be more, looked for as slots free.
			a.mu.Lock()
			a.lookDue = true
			a.mu.Unlock()
		}
		if took == 0 {
			return
		}
	}
}

// waits reports whether t must stay pending: the task it waits for (a
// schedule's overlap "queue") has not ended. A task that waits for one
// the store no longer has waits no more.
func (a *Agent) waits(ctx context.Context, t store.Task) bool {
	if t.WaitFor == "" {
		return false
	}
	w, err := a.store.Tasks().Get(ctx, t.WaitFor)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		a.log.Warn("could not look at the task a task waits for", "task_id", t.ID, "wait_for", t.WaitFor, "err", err)
		return true
	}
	return !store.TaskEnded(w.Status)
}

// claim takes task id through the bus, so that exactly one node runs it
// (and no master cancels it meanwhile: a master cancels a pending task by
// taking the same claim), and hands it to its own goroutine, which records
// it as running if it is still pending and runs it. It reports whether the
// claim was this node's. seen is the task as the store had it when it was
// found there (nil for an id from task_available).
func (a *Agent) claim(ctx context.Context, id string, seen *store.Task) bool {
	ok, err := a.bus.Claim(ctx, wire.TaskClaimKey(id), wire.TaskClaimTTL)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			a.log.Warn("could not claim task", "task_id", id, "err", err)
		}
		return false
	}
	// Starting from before the store says running: a master that reads
	// running sends cancel_task, which must find the task here.
	a.mu.Lock()
	a.starting[id] = nil
	a.mu.Unlock()
	a.tasks.Go(func() { a.start(a.runCtx, id, seen) })
	return true
}

// start records a claimed task as running, if the store still has it
// pending, and runs it.
func (a *Agent) start(ctx context.Context, id string, seen *store.Task) {
	notStarted := func() {
		a.mu.Lock()
		delete(a.starting, id)
		a.mu.Unlock()
		a.nudge() // the slot is free again
	}
	// The claim is ours; the stored task may have been cancelled meanwhile
	// (or, named by task_available, claimed and run by another node whose
	// claim has expired).
	cur, err := a.store.Tasks().Get(ctx, id)
	if err != nil || cur.Status != store.TaskPending {
		if err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			a.log.Warn("could not read claimed task", "task_id", id, "err", err)
		}
		notStarted()
		return
	}
	if seen == nil && cur.NodeID != "" && cur.NodeID != a.nodeID {
		notStarted() // not this node's to run: its claim expires
		return
	}
	if seen == nil && a.waits(ctx, *cur) {
		// Masters never name a waiting task; should one be named, it is
		// left to the node that finds it in the store once the claim
		// expires.
		a.log.Warn("task named by task_available waits for another; leaving it", "task_id", id, "wait_for", cur.WaitFor)
		notStarted()
		return
	}
	cur.Status, cur.NodeID, cur.Started, cur.Reason = store.TaskRunning, a.nodeID, store.Now(), ""
	if err := a.store.Tasks().UpdateIf(ctx, cur, store.TaskPending); err != nil {
		if errors.Is(err, store.ErrStale) {
			a.log.Info("task changed before it started; not running it", "task_id", id)
			notStarted()
			return
		}
		if ctx.Err() == nil {
			a.log.Warn("could not record claimed task; checking whether the store took it", "task_id", id, "err", err)
		}
		if !a.recordedRunning(ctx, id) {
			notStarted()
			return
		}
	}
	a.emitStatus(ctx, cur)
	a.runTask(ctx, *cur)
}

// recordedRunningWithin bounds how long a claimed task's record is looked
// for after its write failed; past it the task is left as the store has it.
const recordedRunningWithin = time.Minute

// recordedRunning reports whether the store has task id running on this
// node after a write of that failed. A write can take effect and still
// fail: the store answered too late, or a write that follows it (the
// overview's bookkeeping) did not go through. Left unrun, such a task
// would stay running in the store for good, on a live node.
func (a *Agent) recordedRunning(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, recordedRunningWithin)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		cur, err := a.store.Tasks().Get(ctx, id)
		if err == nil {
			return cur.Status == store.TaskRunning && cur.NodeID == a.nodeID
		}
		if errors.Is(err, store.ErrNotFound) {
			return false
		}
		select {
		case <-ctx.Done():
			a.log.Error("claimed task's record could not be read; leaving it", "task_id", id, "err", err)
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
