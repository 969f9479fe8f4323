package storetest

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The tasks aggregate.

func testTaskCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	task := newTask(sp, "", store.Now())
	must(t, s.Tasks().Create(ctx, task))
	got, err := s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, task)
	isErr(t, s.Tasks().Create(ctx, task), store.ErrConflict, "Create existing task")

	// The life of a task: claimed, running, finished with exit code 0 (which
	// is not the same as no exit code).
	upd := *task
	upd.NodeID, upd.Status, upd.Started = store.NewID(), store.TaskRunning, store.Now()
	upd.Reason = ""
	must(t, s.Tasks().Update(ctx, &upd))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &upd)

	upd.Status, upd.ExitCode, upd.Finished, upd.LogLines = store.TaskFinished, ptr(0), store.Now(), 42
	upd.ItemCount, upd.ItemStats = 1_000_007, store.ItemCounts{New: 1_000_000, Ignored: 4, Overwritten: 3}
	upd.Env = nil
	must(t, s.Tasks().Update(ctx, &upd))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &upd)

	// Who cancelled it is kept (a task may be cancelled as it ends).
	upd.Status, upd.CancelledBy, upd.Reason = store.TaskCancelled, "bob (token ci)", "cancelled"
	must(t, s.Tasks().Update(ctx, &upd))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &upd)

	unknown := *task
	unknown.ID = store.NewID()
	isErr(t, s.Tasks().Update(ctx, &unknown), store.ErrNotFound, "Update unknown task")
	_, err = s.Tasks().Get(ctx, unknown.ID)
	isErr(t, err, store.ErrNotFound, "Get unknown task")

	must(t, s.Tasks().Delete(ctx, task.ID))
	_, err = s.Tasks().Get(ctx, task.ID)
	isErr(t, err, store.ErrNotFound, "Get deleted task")
	isErr(t, s.Tasks().Delete(ctx, task.ID), store.ErrNotFound, "Delete deleted task")
}

func testTaskList(t *testing.T, s store.Store) {
	ctx := t.Context()
	spA, spB := newSpider("a"), newSpider("b")
	nodeX, nodeY := store.NewID(), store.NewID()
	base := store.Now().Add(-time.Hour)
	statuses := []string{store.TaskPending, store.TaskRunning, store.TaskFinished, store.TaskError}

	var all []*store.Task
	for i := range 24 {
		sp := spA
		if i%3 == 0 {
			sp = spB
		}
		nodeID := nodeX
		if i%2 == 0 {
			nodeID = nodeY
		}
		// Pairs share a Created time, so the id tie-break is exercised.
		task := newTask(sp, nodeID, base.Add(time.Duration(i/2)*time.Second))
		task.Status = statuses[i%len(statuses)]
		all = append(all, task)
	}
	// Insert out of order: ordering must come from the store.
	for _, i := range rand.New(rand.NewPCG(1, 2)).Perm(len(all)) {
		must(t, s.Tasks().Create(ctx, all[i]))
	}
	newestFirst := slices.Clone(all)
	slices.SortFunc(newestFirst, func(a, b *store.Task) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	match := func(f store.TaskFilter) []*store.Task {
		var out []*store.Task
		for _, task := range newestFirst {
			if (f.Status == "" || task.Status == f.Status) &&
				(f.SpiderID == "" || task.SpiderID == f.SpiderID) &&
				(f.NodeID == "" || task.NodeID == f.NodeID) {
				out = append(out, task)
			}
		}
		return out
	}

	for _, tc := range []struct {
		name string
		f    store.TaskFilter
	}{
		{"all", store.TaskFilter{}},
		{"status", store.TaskFilter{Status: store.TaskRunning}},
		{"spider", store.TaskFilter{SpiderID: spB.ID}},
		{"node", store.TaskFilter{NodeID: nodeX}},
		{"status and node", store.TaskFilter{Status: store.TaskPending, NodeID: nodeY}},
		{"all three", store.TaskFilter{Status: store.TaskFinished, SpiderID: spA.ID, NodeID: nodeY}},
		{"no such status", store.TaskFilter{Status: store.TaskCancelled}},
		{"no such spider", store.TaskFilter{SpiderID: store.NewID()}},
		{"first page", store.TaskFilter{Limit: 5}},
		{"second page", store.TaskFilter{Limit: 5, Offset: 5}},
		{"last page, short", store.TaskFilter{Limit: 5, Offset: 22}},
		{"offset only", store.TaskFilter{Offset: 20}},
		{"offset past the end", store.TaskFilter{Offset: 100}},
		{"page of a filter", store.TaskFilter{Limit: 2, Offset: 1, NodeID: nodeX}},
		{"limit above total", store.TaskFilter{Limit: 100, SpiderID: spA.ID}},
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
}

func testTaskPending(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("p")
	me, other := store.NewID(), store.NewID()
	base := store.Now().Add(-time.Hour)
	mk := func(nodeID, status string, age int) *store.Task {
		task := newTask(sp, nodeID, base.Add(time.Duration(age)*time.Second))
		task.Status = status
		must(t, s.Tasks().Create(ctx, task))
		return task
	}
	// Created out of order on purpose.
	anyLate := mk("", store.TaskPending, 30)
	mineEarly := mk(me, store.TaskPending, 10)
	mk(other, store.TaskPending, 5)
	mk(me, store.TaskRunning, 1)
	mk("", store.TaskFinished, 2)
	anyEarly := mk("", store.TaskPending, 20)
	mineLate := mk(me, store.TaskPending, 40)
	tie := mk(me, store.TaskPending, 40) // same Created: id decides

	wantOrder := []*store.Task{mineEarly, anyEarly, anyLate, mineLate, tie}
	slices.SortStableFunc(wantOrder[3:], func(a, b *store.Task) int { return strings.Compare(a.ID, b.ID) })

	for _, limit := range []int{1, 3, 5, 100} {
		got, err := s.Tasks().Pending(ctx, me, limit)
		must(t, err)
		want := wantOrder[:min(limit, len(wantOrder))]
		if len(got) != len(want) {
			t.Fatalf("Pending(limit %d) returned %d tasks, want %d", limit, len(got), len(want))
		}
		for i := range got {
			equalTask(t, &got[i], want[i])
		}
	}
	got, err := s.Tasks().Pending(ctx, me, 0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("Pending(limit 0) returned %d tasks, want none", len(got))
	}
	// A node nobody targets still gets the any-node tasks.
	got, err = s.Tasks().Pending(ctx, store.NewID(), 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != anyEarly.ID || got[1].ID != anyLate.ID {
		t.Errorf("Pending for a new node = %v, want [anyEarly anyLate]", taskIDs(got))
	}
}

func testBadIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := node("bad")
	n.ID = ""
	if err := s.Nodes().Register(ctx, n); err == nil {
		t.Error("Register with an empty id succeeded")
	}
	sp := newSpider("bad")
	sp.ID = "xyz"
	if err := s.Spiders().Create(ctx, sp); err == nil {
		t.Error("Create spider with a malformed id succeeded")
	}
	task := newTask(newSpider("x"), "", store.Now())
	task.ID = ""
	if err := s.Tasks().Create(ctx, task); err == nil {
		t.Error("Create task with an empty id succeeded")
	}
}
