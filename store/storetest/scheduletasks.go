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

// ---- a minute's fires in one call

// testTaskCreateMany checks that CreateMany stores every new task, skips
// (and reports) those whose id exists, whether stored before or twice in
// the call, and changes nothing stored.
func testTaskCreateMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	old := newTask(sp, "", store.Now())
	old.Status = store.TaskRunning
	must(t, s.Tasks().Create(ctx, old))

	var batch []store.Task
	for i := range 5 {
		task := newTask(sp, store.NewID(), store.Now().Add(time.Duration(i)*time.Millisecond))
		task.ScheduleID = store.NewID()
		batch = append(batch, *task)
	}
	clash := *newTask(newSpider("other"), "", store.Now())
	clash.ID = old.ID // exists already: kept as it is
	twice := batch[1]
	twice.Reason = "second of one id in one call"
	batch = append(batch[:2], append([]store.Task{clash}, append(batch[2:], twice)...)...)

	created, err := s.Tasks().CreateMany(ctx, batch)
	must(t, err)
	want := []bool{true, true, false, true, true, true, false}
	if !slices.Equal(created, want) {
		t.Fatalf("CreateMany created %v, want %v", created, want)
	}
	for i := range batch {
		if !want[i] {
			continue
		}
		got, err := s.Tasks().Get(ctx, batch[i].ID)
		must(t, err)
		equalTask(t, got, &batch[i])
	}
	got, err := s.Tasks().Get(ctx, old.ID)
	must(t, err)
	equalTask(t, got, old)
	_, total, err := s.Tasks().List(ctx, store.TaskFilter{})
	must(t, err)
	if total != 6 {
		t.Errorf("%d tasks stored, want 6", total)
	}

	// None is a no-op; a bad id refuses the call, storing nothing.
	created, err = s.Tasks().CreateMany(ctx, nil)
	if err != nil || len(created) != 0 {
		t.Errorf("CreateMany(nil) = %v, %v; want nothing", created, err)
	}
	bad := []store.Task{*newTask(sp, "", store.Now()), *newTask(sp, "", store.Now())}
	bad[1].ID = "not-an-id"
	if _, err := s.Tasks().CreateMany(ctx, bad); err == nil {
		t.Error("CreateMany with a malformed id succeeded")
	}
	_, err = s.Tasks().Get(ctx, bad[0].ID)
	isErr(t, err, store.ErrNotFound, "task of a refused CreateMany")
}

// testTaskActive checks that Active names, for each schedule asked about,
// its newest pending or running task, and nothing for a schedule whose
// tasks have all ended.
func testTaskActive(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	base := store.Now().Add(-time.Hour)
	a, b, ended, other := store.NewID(), store.NewID(), store.NewID(), store.NewID()
	add := func(sched, status string, at time.Duration) *store.Task {
		task := newTask(sp, "", base.Add(at))
		task.ScheduleID, task.Status = sched, status
		must(t, s.Tasks().Create(ctx, task))
		return task
	}
	add(a, store.TaskRunning, 0)
	newestA := add(a, store.TaskPending, time.Second)
	add(a, store.TaskFinished, 2*time.Second) // newer, but ended
	newestB := add(b, store.TaskRunning, 0)
	add(b, store.TaskPending, 0) // ties on Created: the higher id is newer
	add(ended, store.TaskError, 0)
	add(ended, store.TaskCancelled, time.Second)
	add(other, store.TaskRunning, 0) // not asked about
	list, _, err := s.Tasks().List(ctx, store.TaskFilter{ScheduleID: b, Status: store.TaskPending})
	must(t, err)
	if list[0].ID > newestB.ID {
		newestB = &list[0]
	}

	got, err := s.Tasks().Active(ctx, []string{a, b, ended, store.NewID()})
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("Active named %d schedules, want 2 (a and b): %v", len(got), got)
	}
	for sched, want := range map[string]*store.Task{a: newestA, b: newestB} {
		task, ok := got[sched]
		if !ok {
			t.Fatalf("Active did not name schedule %s", sched)
		}
		equalTask(t, &task, want)
	}
	got, err = s.Tasks().Active(ctx, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("Active(nil) = %v, %v; want nothing", got, err)
	}
}

// testScheduleRecordMany records fires and skips of several schedules in
// one call, the same schedule twice among them (the later wins), and one
// schedule that is gone.
func testScheduleRecordMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	var scheds []*store.Schedule
	for i := range 3 {
		sc := newSchedule(fmt.Sprint("many-", i), sp)
		must(t, s.Schedules().Create(ctx, sc))
		scheds = append(scheds, sc)
	}
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	t0, t1 := store.NewID(), store.NewID()
	must(t, s.Schedules().Record(ctx,
		store.Outcome{ScheduleID: scheds[0].ID, At: at, TaskID: store.NewID()},
		store.Outcome{ScheduleID: store.NewID(), At: at, TaskID: store.NewID()},
		store.Outcome{ScheduleID: scheds[1].ID, At: at, Skipped: true, Reason: "still running"},
		store.Outcome{ScheduleID: scheds[0].ID, At: at.Add(time.Minute), TaskID: t0},
		store.Outcome{ScheduleID: scheds[1].ID, At: at.Add(time.Minute), TaskID: t1},
	))
	want0, want1, want2 := *scheds[0], *scheds[1], *scheds[2]
	want0.LastFire, want0.LastTaskID = at.Add(time.Minute), t0
	want1.LastSkip, want1.LastSkipReason = at, "still running"
	want1.LastFire, want1.LastTaskID = at.Add(time.Minute), t1
	checkSchedule(t, s, &want0)
	checkSchedule(t, s, &want1)
	checkSchedule(t, s, &want2)
	must(t, s.Schedules().Record(ctx))
}
