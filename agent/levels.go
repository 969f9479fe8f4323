package agent

import (
	"context"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// levelsEvery is how often a running task's log levels reach the store and
// the tasks channel when they changed: as often as its lines reach the
// store (tasklog's default SaveEvery), so the counts and the log agree.
const levelsEvery = 2 * time.Second

// reportLevels records a running task's log levels (and the lines so far)
// every levelsEvery while they change, and tells the masters, so the task
// list shows errors as they happen. Its goroutine belongs to the task's
// run; the returned stop ends it and waits for it, before the task's end
// is recorded (which then carries the final counts).
func (a *Agent) reportLevels(t store.Task, r *run) (stop func()) {
	ctx, cancel := context.WithCancel(a.runCtx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(levelsEvery)
		defer tick.Stop()
		var last store.LogLevels
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			lv := r.levels.Levels()
			if lv == last {
				continue
			}
			t.LogLevels, t.LogLines = lv, max(t.LogLines, r.log.Lines())
			err := a.store.Tasks().UpdateIf(ctx, &t, store.TaskRunning)
			switch {
			case errors.Is(err, store.ErrStale):
				return // it ended (or a master gave up on it): the end has the counts
			case err != nil:
				if ctx.Err() == nil {
					a.log.Warn("task log levels not stored; trying again", "task_id", t.ID, "err", err)
				}
				continue
			}
			last = lv
			a.emitStatus(ctx, &t)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
