package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// ---- tasks of schedules

// testTaskScheduleID checks that a task keeps the schedule that fired it,
// and the task it waits for, through every method that returns tasks.
func testTaskScheduleID(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	fired := newTask(sp, "", store.Now())
	fired.ScheduleID, fired.WaitFor = store.NewID(), store.NewID()
	byHand := newTask(sp, "", store.Now().Add(time.Millisecond))
	must(t, s.Tasks().Create(ctx, fired))
	must(t, s.Tasks().Create(ctx, byHand))
	for _, want := range []*store.Task{fired, byHand} {
		got, err := s.Tasks().Get(ctx, want.ID)
		must(t, err)
		equalTask(t, got, want)
	}
	pending, err := s.Tasks().Pending(ctx, store.NewID(), 10)
	must(t, err)
	if len(pending) != 2 {
		t.Fatalf("Pending returned %d tasks, want 2", len(pending))
	}
	equalTask(t, &pending[0], fired)
	equalTask(t, &pending[1], byHand)

	// Update replaces it like every other field, also with none.
	upd := *fired
	upd.Status, upd.ScheduleID, upd.WaitFor = store.TaskRunning, store.NewID(), store.NewID()
	must(t, s.Tasks().Update(ctx, &upd))
	got, err := s.Tasks().Get(ctx, fired.ID)
	must(t, err)
	equalTask(t, got, &upd)
	upd.ScheduleID, upd.WaitFor = "", ""
	must(t, s.Tasks().Update(ctx, &upd))
	got, err = s.Tasks().Get(ctx, fired.ID)
	must(t, err)
	equalTask(t, got, &upd)
}

func testTaskListBySchedule(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	schedA, schedB := store.NewID(), store.NewID()
	base := store.Now().Add(-time.Hour)
	var all []*store.Task
	for i := range 20 {
		task := newTask(sp, "", base.Add(time.Duration(i/2)*time.Second)) // pairs tie on Created
		if i%4 != 3 {
			task.ScheduleID = schedA
		}
		if i%5 == 0 {
			task.ScheduleID = schedB
		}
		if i%3 == 0 {
			task.Status = store.TaskFinished
		}
		all = append(all, task)
	}
	// Insert out of order: ordering must come from the store.
	for _, i := range rand.New(rand.NewPCG(3, 4)).Perm(len(all)) {
		must(t, s.Tasks().Create(ctx, all[i]))
	}
	slices.SortFunc(all, func(a, b *store.Task) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	match := func(f store.TaskFilter) []*store.Task {
		var out []*store.Task
		for _, task := range all {
			if task.ScheduleID == f.ScheduleID && (f.Status == "" || task.Status == f.Status) {
				out = append(out, task)
			}
		}
		return out
	}
	if n := len(match(store.TaskFilter{ScheduleID: schedA})); n != 12 {
		t.Fatalf("fixture: %d tasks of schedule A, want 12 (for the pages below)", n)
	}
	for _, tc := range []struct {
		name string
		f    store.TaskFilter
	}{
		{"schedule", store.TaskFilter{ScheduleID: schedA}},
		{"other schedule", store.TaskFilter{ScheduleID: schedB}},
		{"first page", store.TaskFilter{ScheduleID: schedA, Limit: 5}},
		{"second page", store.TaskFilter{ScheduleID: schedA, Limit: 5, Offset: 5}},
		{"last page, short", store.TaskFilter{ScheduleID: schedA, Limit: 5, Offset: 10}},
		{"offset past the end", store.TaskFilter{ScheduleID: schedA, Offset: 50}},
		{"with status", store.TaskFilter{ScheduleID: schedA, Status: store.TaskFinished, Limit: 2, Offset: 1}},
		{"unknown schedule", store.TaskFilter{ScheduleID: store.NewID()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			matching := match(f)
			want := matching[min(f.Offset, len(matching)):]
			if f.Limit > 0 {
				want = want[:min(f.Limit, len(want))]
			}
			got, total, err := s.Tasks().List(ctx, f)
			must(t, err)
			if total != len(matching) {
				t.Errorf("total %d, want %d", total, len(matching))
			}
			if len(got) != len(want) {
				t.Fatalf("got %d tasks, want %d", len(got), len(want))
			}
			for i := range got {
				equalTask(t, &got[i], want[i])
			}
		})
	}
	// Without the filter, tasks with and without a schedule all count.
	_, total, err := s.Tasks().List(ctx, store.TaskFilter{})
	must(t, err)
	if total != len(all) {
		t.Errorf("unfiltered total %d, want %d", total, len(all))
	}
}

// testTaskDuplicate checks that a task id can be created once only, even
// by callers racing each other: what makes a task whose id is derived from
// a schedule's fire time impossible to create twice.
func testTaskDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	first := newTask(sp, "", store.Now())
	first.ScheduleID = store.NewID()
	must(t, s.Tasks().Create(ctx, first))
	second := newTask(newSpider("other"), store.NewID(), store.Now().Add(time.Second))
	second.ID, second.Status = first.ID, store.TaskRunning
	isErr(t, s.Tasks().Create(ctx, second), store.ErrConflict, "Create of a task id that exists")
	got, err := s.Tasks().Get(ctx, first.ID)
	must(t, err)
	equalTask(t, got, first)

	const racers = 8
	id := store.NewID()
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			task := newTask(sp, "", store.Now())
			task.ID, task.Reason = id, fmt.Sprint("racer ", i)
			errs[i] = s.Tasks().Create(ctx, task)
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("racer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d racing Creates of one task id succeeded, want 1", won, racers)
	}
	_, total, err := s.Tasks().List(ctx, store.TaskFilter{})
	must(t, err)
	if total != 2 {
		t.Errorf("%d tasks stored, want 2", total)
	}
}
