package storetest

import (
	"context"
	"sync"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// Tasks.UpdateIf, the compare-and-set on a task's status.

func testTaskUpdateIf(t *testing.T, s store.Store) {
	ctx := t.Context()
	task := newTask(newSpider("cas"), "", store.Now())
	must(t, s.Tasks().Create(ctx, task))

	claimed := *task
	claimed.NodeID, claimed.Status, claimed.Started, claimed.Reason = store.NewID(), store.TaskRunning, store.Now(), ""
	must(t, s.Tasks().UpdateIf(ctx, &claimed, store.TaskPending))
	got, err := s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &claimed)

	// A cancel that still believes the task pending is refused, and
	// writes nothing.
	cancelled := *task
	cancelled.Status, cancelled.CancelledBy, cancelled.Reason = store.TaskCancelled, "bob", "cancelled by bob"
	isErr(t, s.Tasks().UpdateIf(ctx, &cancelled, store.TaskPending), store.ErrStale, "UpdateIf with a stale status")
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &claimed)

	// The same cancel, knowing the task runs, goes through.
	cancelled.NodeID, cancelled.Started = claimed.NodeID, claimed.Started
	must(t, s.Tasks().UpdateIf(ctx, &cancelled, store.TaskRunning))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &cancelled)

	// Writing the status it has is allowed (a progress update).
	cancelled.LogLines = 7
	must(t, s.Tasks().UpdateIf(ctx, &cancelled, store.TaskCancelled))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &cancelled)

	unknown := *task
	unknown.ID = store.NewID()
	err = s.Tasks().UpdateIf(ctx, &unknown, store.TaskPending)
	isErr(t, err, store.ErrNotFound, "UpdateIf of an unknown task")
	isErr(t, s.Tasks().UpdateIf(ctx, &unknown, ""), store.ErrNotFound, "UpdateIf of an unknown task, no status")
	_, err = s.Tasks().Get(ctx, unknown.ID)
	isErr(t, err, store.ErrNotFound, "Get after UpdateIf of an unknown task")
}

// RunAtomic checks that Tasks.UpdateIf is a compare-and-set under
// concurrency: of many writers moving one task from the same status, exactly
// one succeeds and the others get store.ErrStale. Only for backends whose
// filtered updates are atomic (SQLite, MongoDB; not FerretDB v1). open is as
// for Run; RunAtomic closes what it returns.
func RunAtomic(t *testing.T, open func(t *testing.T) store.Store) {
	s := open(t)
	t.Cleanup(func() {
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	ctx := t.Context()
	sp := newSpider("race")
	for round := range 10 {
		task := newTask(sp, "", store.Now())
		must(t, s.Tasks().Create(ctx, task))
		const writers = 8
		results := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			mine := *task
			mine.Status, mine.Reason = store.TaskCancelled, "writer "+string(rune('a'+i))
			if i%2 == 1 {
				mine.Status, mine.NodeID = store.TaskRunning, store.NewID()
			}
			wg.Go(func() { results[i] = s.Tasks().UpdateIf(ctx, &mine, store.TaskPending) })
		}
		wg.Wait()
		winner := -1
		for i, err := range results {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both moved the task from pending", round, winner, i)
			case err == nil:
				winner = i
			default:
				isErr(t, err, store.ErrStale, "losing UpdateIf")
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer moved the task from pending", round)
		}
		got, err := s.Tasks().Get(ctx, task.ID)
		must(t, err)
		if want := "writer " + string(rune('a'+winner)); got.Reason != want {
			t.Fatalf("round %d: stored task is %q's, but %q won", round, got.Reason, want)
		}
	}
}
