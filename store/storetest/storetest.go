// Package storetest is the conformance suite every store.Store
// implementation must pass. It pins down the semantics store.go documents,
// and a few it leaves open, so that the backends cannot drift apart:
//
//   - Get, Update, Delete, Touch, SetOffline, RecordFire and RecordSkip of
//     an unknown id, and Files.Delete of an unknown name, return
//     store.ErrNotFound; Logs.DeleteLog of an unknown task is a no-op.
//   - Creating an id that exists is store.ErrConflict, as a taken spider
//     or schedule name is; ids must be store.ValidID.
//   - "up to limit" (Tasks.Pending, Logs.ReadLog) with limit <= 0 returns
//     nothing; AppendLog of no lines is a no-op; negative line numbers are
//     errors; a log line may have up to 8 MiB, and a longer one is an error.
//   - File names are slash-separated relative paths; empty, absolute, "." or
//     ".." segments are rejected.
//   - Times come back in UTC at millisecond precision; empty maps and
//     lists may come back nil.
//
// Every error is checked with errors.Is, so implementations may (and
// should) wrap the sentinels with context.
package storetest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Run runs the conformance suite. open must return a store on fresh, empty
// storage; it is called once per subtest, and Run closes what it returns.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"NodeRegister", testNodeRegister},
		{"NodeNotFound", testNodeNotFound},
		{"NodeList", testNodeList},
		{"NodeTouchOffline", testNodeTouchOffline},
		{"NodeMarkStale", testNodeMarkStale},
		{"SpiderCRUD", testSpiderCRUD},
		{"SpiderConflict", testSpiderConflict},
		{"SpiderList", testSpiderList},
		{"TaskCRUD", testTaskCRUD},
		{"TaskList", testTaskList},
		{"TaskPending", testTaskPending},
		{"TaskScheduleID", testTaskScheduleID},
		{"TaskListBySchedule", testTaskListBySchedule},
		{"TaskDuplicate", testTaskDuplicate},
		{"ScheduleCRUD", testScheduleCRUD},
		{"ScheduleNotFound", testScheduleNotFound},
		{"ScheduleConflict", testScheduleConflict},
		{"ScheduleList", testScheduleList},
		{"ScheduleRecord", testScheduleRecord},
		{"ScheduleRoundTrip", testScheduleRoundTrip},
		{"ScheduleBadIDs", testScheduleBadIDs},
		{"ScheduleCancelledContext", testScheduleCancelledContext},
		{"BadIDs", testBadIDs},
		{"Files", testFiles},
		{"FileNames", testFileNames},
		{"FileLarge", testFileLarge},
		{"LogAppend", testLogAppend},
		{"LogRead", testLogRead},
		{"LogLarge", testLogLarge},
		{"LogBigLines", testLogBigLines},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				// t.Context is already cancelled when cleanups run.
				if err := s.Close(context.Background()); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// RunReopen checks that everything a store wrote is read back by a new
// store on the same storage after Close, as after a restart. open returns a
// store on fresh storage and a function that opens that same storage again;
// RunReopen closes both stores.
func RunReopen(t *testing.T, open func(t *testing.T) (store.Store, func(t *testing.T) store.Store)) {
	ctx := t.Context()
	s, reopen := open(t)
	closed := false
	t.Cleanup(func() {
		if closed {
			return
		}
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	n := node("persist")
	spider := newSpider("persist")
	sched := newSchedule("persist", spider)
	task := newTask(spider, n.ID, store.Now())
	task.ScheduleID = sched.ID
	task.Status = store.TaskFinished
	task.ExitCode = ptr(3)
	task.Started, task.Finished = store.Now(), store.Now().Add(time.Second)
	lines := numbered("persist", 1234)
	blob := []byte("persisted archive")

	must(t, s.Nodes().Register(ctx, n))
	must(t, s.Spiders().Create(ctx, spider))
	must(t, s.Tasks().Create(ctx, task))
	must(t, s.Schedules().Create(ctx, sched))
	must(t, s.Schedules().RecordFire(ctx, sched.ID, task.Created, task.ID))
	sched.LastFire, sched.LastTaskID = task.Created, task.ID
	must(t, s.Logs().AppendLog(ctx, task.ID, 0, lines))
	_, _, err := s.Files().Put(ctx, "spiders/persist.zip", bytes.NewReader(blob))
	must(t, err)
	closed = true
	must(t, s.Close(ctx))

	s = reopen(t)
	closed = false

	gotNode, err := s.Nodes().Get(ctx, n.ID)
	must(t, err)
	equalNode(t, gotNode, n)
	gotSpider, err := s.Spiders().Get(ctx, spider.ID)
	must(t, err)
	equalSpider(t, gotSpider, spider)
	gotTask, err := s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, gotTask, task)
	byschedule, total, err := s.Tasks().List(ctx, store.TaskFilter{ScheduleID: sched.ID})
	must(t, err)
	if total != 1 || len(byschedule) != 1 || byschedule[0].ID != task.ID {
		t.Errorf("tasks of the schedule: %v (total %d), want [%s]", taskIDs(byschedule), total, task.ID)
	}
	checkSchedule(t, s, sched)
	gotLines, err := s.Logs().ReadLog(ctx, task.ID, 0, len(lines)+10)
	must(t, err)
	equalLines(t, gotLines, lines)
	equalBytes(t, readFile(t, s, "spiders/persist.zip"), blob)
}

// ---- nodes

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(t.Context()))
}

func testNodeRegister(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := node("alpha")
	n.Created = time.Time{}
	before := store.Now()
	must(t, s.Nodes().Register(ctx, n))
	got, err := s.Nodes().Get(ctx, n.ID)
	must(t, err)
	if got.Created.Before(before) || got.Created.After(store.Now()) {
		t.Fatalf("zero Created stored as %v, want about now (%v)", got.Created, before)
	}
	created := got.Created

	// Re-registering replaces everything but Created.
	again := node("alpha-renamed")
	again.ID = n.ID
	again.Created = created.Add(-time.Hour)
	again.IsMaster = true
	again.Status = store.NodeOffline
	must(t, s.Nodes().Register(ctx, again))
	got, err = s.Nodes().Get(ctx, n.ID)
	must(t, err)
	want := *again
	want.Created = created
	equalNode(t, got, &want)

	// A Created given on insert is kept.
	other := node("beta")
	other.Created = store.Now().Add(-48 * time.Hour)
	must(t, s.Nodes().Register(ctx, other))
	got, err = s.Nodes().Get(ctx, other.ID)
	must(t, err)
	equalNode(t, got, other)
}

func testNodeNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := store.NewID()
	_, err := s.Nodes().Get(ctx, id)
	isErr(t, err, store.ErrNotFound, "Get unknown node")
	isErr(t, s.Nodes().Touch(ctx, id, store.Now()), store.ErrNotFound, "Touch unknown node")
	isErr(t, s.Nodes().SetOffline(ctx, id), store.ErrNotFound, "SetOffline unknown node")
	_, err = s.Nodes().Get(ctx, "not-an-id")
	isErr(t, err, store.ErrNotFound, "Get malformed id")
	if err == nil || !strings.Contains(err.Error(), "not-an-id") {
		t.Errorf("error %q should name the id it was about", err)
	}
}

func testNodeList(t *testing.T, s store.Store) {
	ctx := t.Context()
	nodes, err := s.Nodes().List(ctx)
	must(t, err)
	if len(nodes) != 0 {
		t.Fatalf("empty store lists %d nodes", len(nodes))
	}
	var want []*store.Node
	for _, name := range []string{"gamma", "alpha", "beta", "alpha", "Zulu", ""} {
		n := node(name)
		want = append(want, n)
		must(t, s.Nodes().Register(ctx, n))
	}
	slices.SortFunc(want, func(a, b *store.Node) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	nodes, err = s.Nodes().List(ctx)
	must(t, err)
	if len(nodes) != len(want) {
		t.Fatalf("List returned %d nodes, want %d", len(nodes), len(want))
	}
	for i := range nodes {
		equalNode(t, &nodes[i], want[i])
	}
}

func testNodeTouchOffline(t *testing.T, s store.Store) {
	ctx := t.Context()
	n := node("touchy")
	n.Status = store.NodeOffline
	must(t, s.Nodes().Register(ctx, n))

	at := store.Now().Add(time.Minute)
	must(t, s.Nodes().Touch(ctx, n.ID, at))
	got, err := s.Nodes().Get(ctx, n.ID)
	must(t, err)
	want := *n
	want.Status, want.LastSeen = store.NodeOnline, at
	equalNode(t, got, &want)

	must(t, s.Nodes().SetOffline(ctx, n.ID))
	got, err = s.Nodes().Get(ctx, n.ID)
	must(t, err)
	want.Status = store.NodeOffline
	equalNode(t, got, &want)
	// Idempotent: a second graceful shutdown is not an error.
	must(t, s.Nodes().SetOffline(ctx, n.ID))
}

func testNodeMarkStale(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := store.Now()
	cutoff := now.Add(-15 * time.Second)

	mk := func(name, status string, lastSeen time.Time) *store.Node {
		n := node(name)
		n.Status, n.LastSeen = status, lastSeen
		must(t, s.Nodes().Register(ctx, n))
		return n
	}
	staleA := mk("stale-a", store.NodeOnline, now.Add(-time.Hour))
	staleB := mk("stale-b", store.NodeOnline, cutoff.Add(-time.Millisecond))
	fresh := mk("fresh", store.NodeOnline, now)
	edge := mk("edge", store.NodeOnline, cutoff) // not before cutoff: stays
	gone := mk("gone", store.NodeOffline, now.Add(-time.Hour))

	changed, err := s.Nodes().MarkStale(ctx, cutoff)
	must(t, err)
	slices.SortFunc(changed, func(a, b store.Node) int { return strings.Compare(a.Name, b.Name) })
	if len(changed) != 2 {
		t.Fatalf("MarkStale changed %v, want stale-a and stale-b", names(changed))
	}
	for i, want := range []*store.Node{staleA, staleB} {
		w := *want
		w.Status = store.NodeOffline
		equalNode(t, &changed[i], &w)
	}
	for _, n := range []*store.Node{staleA, staleB, gone} {
		got, err := s.Nodes().Get(ctx, n.ID)
		must(t, err)
		if got.Status != store.NodeOffline {
			t.Errorf("%s is %s after MarkStale, want offline", n.Name, got.Status)
		}
	}
	for _, n := range []*store.Node{fresh, edge} {
		got, err := s.Nodes().Get(ctx, n.ID)
		must(t, err)
		if got.Status != store.NodeOnline {
			t.Errorf("%s is %s after MarkStale, want online", n.Name, got.Status)
		}
	}

	// Only changes are reported: a second pass finds nothing.
	changed, err = s.Nodes().MarkStale(ctx, cutoff)
	must(t, err)
	if len(changed) != 0 {
		t.Fatalf("second MarkStale changed %v, want none", names(changed))
	}
}

// ---- spiders

func testSpiderCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("quotes")
	must(t, s.Spiders().Create(ctx, sp))

	got, err := s.Spiders().Get(ctx, sp.ID)
	must(t, err)
	equalSpider(t, got, sp)
	got, err = s.Spiders().GetByName(ctx, "quotes")
	must(t, err)
	equalSpider(t, got, sp)

	upd := *sp
	upd.Name, upd.Command, upd.Env = "quotes2", "scrapy crawl quotes2", map[string]string{"B": "2"}
	upd.MD5, upd.Size, upd.Updated = strings.Repeat("b", 32), 99, store.Now().Add(time.Minute)
	must(t, s.Spiders().Update(ctx, &upd))
	got, err = s.Spiders().Get(ctx, sp.ID)
	must(t, err)
	equalSpider(t, got, &upd)
	_, err = s.Spiders().GetByName(ctx, "quotes")
	isErr(t, err, store.ErrNotFound, "GetByName of the old name")

	// Env cleared.
	upd.Env = nil
	must(t, s.Spiders().Update(ctx, &upd))
	got, err = s.Spiders().Get(ctx, sp.ID)
	must(t, err)
	equalSpider(t, got, &upd)

	must(t, s.Spiders().Delete(ctx, sp.ID))
	_, err = s.Spiders().Get(ctx, sp.ID)
	isErr(t, err, store.ErrNotFound, "Get deleted spider")
	_, err = s.Spiders().GetByName(ctx, "quotes2")
	isErr(t, err, store.ErrNotFound, "GetByName deleted spider")
	isErr(t, s.Spiders().Delete(ctx, sp.ID), store.ErrNotFound, "Delete deleted spider")
	isErr(t, s.Spiders().Update(ctx, &upd), store.ErrNotFound, "Update deleted spider")
	// The name is free again.
	must(t, s.Spiders().Create(ctx, newSpider("quotes2")))
}

func testSpiderConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := newSpider("a"), newSpider("b")
	must(t, s.Spiders().Create(ctx, a))
	must(t, s.Spiders().Create(ctx, b))

	isErr(t, s.Spiders().Create(ctx, newSpider("a")), store.ErrConflict, "Create with a taken name")
	dup := newSpider("c")
	dup.ID = a.ID
	isErr(t, s.Spiders().Create(ctx, dup), store.ErrConflict, "Create with a taken id")

	bb := *b
	bb.Name = "a"
	isErr(t, s.Spiders().Update(ctx, &bb), store.ErrConflict, "Update to another spider's name")
	got, err := s.Spiders().Get(ctx, b.ID)
	must(t, err)
	equalSpider(t, got, b)

	// Keeping its own name is no conflict.
	bb.Name, bb.Command = "b", "other"
	must(t, s.Spiders().Update(ctx, &bb))

	// An unknown spider is not found, whatever its name.
	ghost := newSpider("a")
	isErr(t, s.Spiders().Update(ctx, ghost), store.ErrNotFound, "Update unknown spider with a taken name")
}

func testSpiderList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.Spiders().List(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("empty store lists %d spiders", len(list))
	}
	var want []string
	for _, name := range []string{"m", "b", "z", "a", "B"} {
		must(t, s.Spiders().Create(ctx, newSpider(name)))
		want = append(want, name)
	}
	slices.Sort(want)
	list, err = s.Spiders().List(ctx)
	must(t, err)
	var got []string
	for _, sp := range list {
		got = append(got, sp.Name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List order %q, want %q", got, want)
	}
}

// ---- tasks

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
	upd.Env = nil
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

// ---- files

func testFiles(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := s.Files()
	_, err := f.Open(ctx, "missing.zip")
	isErr(t, err, store.ErrNotFound, "Open unknown file")
	isErr(t, f.Delete(ctx, "missing.zip"), store.ErrNotFound, "Delete unknown file")

	first := []byte("first version, rather long ........................")
	put(t, s, "spiders/a/archive.zip", first)
	equalBytes(t, readFile(t, s, "spiders/a/archive.zip"), first)

	// Put replaces, also with something shorter.
	second := []byte("v2")
	put(t, s, "spiders/a/archive.zip", second)
	equalBytes(t, readFile(t, s, "spiders/a/archive.zip"), second)

	// Names that are prefixes of each other, as paths, coexist.
	put(t, s, "spiders/a", []byte("a file named like a directory"))
	put(t, s, "spiders/a/archive.zip/x", []byte("nested"))
	equalBytes(t, readFile(t, s, "spiders/a/archive.zip"), second)
	equalBytes(t, readFile(t, s, "spiders/a"), []byte("a file named like a directory"))

	// An empty blob is a blob.
	put(t, s, "empty", nil)
	equalBytes(t, readFile(t, s, "empty"), nil)

	must(t, f.Delete(ctx, "spiders/a/archive.zip"))
	_, err = f.Open(ctx, "spiders/a/archive.zip")
	isErr(t, err, store.ErrNotFound, "Open deleted file")
	equalBytes(t, readFile(t, s, "spiders/a/archive.zip/x"), []byte("nested"))

	// A failing reader stores nothing, and leaves the old blob alone.
	boom := errors.New("boom")
	_, _, err = f.Put(ctx, "spiders/a", io.MultiReader(strings.NewReader("partial"), errReader{boom}))
	if !errors.Is(err, boom) {
		t.Errorf("Put from a failing reader: %v, want it to wrap the reader's error", err)
	}
	equalBytes(t, readFile(t, s, "spiders/a"), []byte("a file named like a directory"))
	_, _, err = f.Put(ctx, "never", errReader{boom})
	if err == nil {
		t.Error("Put from a failing reader succeeded")
	}
	_, err = f.Open(ctx, "never")
	isErr(t, err, store.ErrNotFound, "Open a file whose Put failed")
}

func testFileNames(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, name := range []string{"", "/abs", "../up", "a/../../b", "a/./b", "a//b", "a/", ".", "..", "a/..", "a\x00b", "a\\b"} {
		if _, _, err := s.Files().Put(ctx, name, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want it rejected", name)
		}
		if _, err := s.Files().Open(ctx, name); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", name)
		}
	}
	for _, name := range []string{"a", "spiders/65ab/v1.zip", "..a", "a..", ".hidden", "with space", "ünïcödé/名前", "%2F", "a%2Fb", "A", "CON"} {
		data := []byte("content of " + name)
		put(t, s, name, data)
		equalBytes(t, readFile(t, s, name), data)
	}
	// Escaping must not make different names collide.
	equalBytes(t, readFile(t, s, "%2F"), []byte("content of %2F"))
	equalBytes(t, readFile(t, s, "a"), []byte("content of a"))
}

func testFileLarge(t *testing.T, s store.Store) {
	// Bigger than a GridFS chunk (255 KiB) many times over, and not a
	// multiple of it.
	data := make([]byte, 3<<20+12345)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	put(t, s, "big.bin", data)
	equalBytes(t, readFile(t, s, "big.bin"), data)
}

// ---- logs

func testLogAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := s.Logs()
	id := store.NewID()
	lines := numbered("l", 10)

	n, err := l.LogLen(ctx, id)
	must(t, err)
	if n != 0 {
		t.Fatalf("LogLen of an unknown task = %d, want 0", n)
	}
	must(t, l.AppendLog(ctx, id, 0, nil))
	isErr(t, l.AppendLog(ctx, id, 1, lines[1:3]), store.ErrLogGap, "AppendLog past the end of an empty log")

	must(t, l.AppendLog(ctx, id, 0, lines[:4]))
	must(t, l.AppendLog(ctx, id, 0, lines[:4]))  // idempotent
	must(t, l.AppendLog(ctx, id, 1, lines[1:3])) // inside
	checkLog(t, s, id, lines[:4])

	// Overlapping: only the new tail is stored, and the stored head wins
	// over whatever is re-sent for it.
	resent := slices.Clone(lines[2:7])
	resent[0] = "changed"
	must(t, l.AppendLog(ctx, id, 2, resent))
	checkLog(t, s, id, lines[:7])

	must(t, l.AppendLog(ctx, id, 7, lines[7:8])) // exactly at the end
	isErr(t, l.AppendLog(ctx, id, 9, lines[9:]), store.ErrLogGap, "AppendLog one past the end")
	checkLog(t, s, id, lines[:8])
	if err := l.AppendLog(ctx, id, -1, lines); err == nil || errors.Is(err, store.ErrLogGap) {
		t.Errorf("AppendLog from -1: %v, want a plain error", err)
	}
	must(t, l.AppendLog(ctx, id, 8, lines[8:]))
	checkLog(t, s, id, lines)

	// Logs are per task.
	other := store.NewID()
	must(t, l.AppendLog(ctx, other, 0, []string{"other"}))
	checkLog(t, s, other, []string{"other"})
	checkLog(t, s, id, lines)

	must(t, l.DeleteLog(ctx, id))
	checkLog(t, s, id, nil)
	must(t, l.DeleteLog(ctx, id)) // nothing left: still fine
	checkLog(t, s, other, []string{"other"})
	// A deleted log starts again from 0.
	must(t, l.AppendLog(ctx, id, 0, lines[:1]))
	checkLog(t, s, id, lines[:1])
}

func testLogRead(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := store.NewID()
	lines := numbered("r", 100)
	lines[5], lines[6], lines[7] = "", "  spaces and\ttabs  ", "ünïcödé 日本語 🙂"
	// Appended in pieces so reads cross piece boundaries.
	for from := 0; from < len(lines); from += 13 {
		must(t, s.Logs().AppendLog(ctx, id, int64(from), lines[from:min(from+13, len(lines))]))
	}
	for _, tc := range []struct {
		name        string
		from        int64
		limit, want int // want: how many lines from `from`
	}{
		{"start", 0, 10, 10},
		{"one", 0, 1, 1},
		{"middle", 37, 20, 20},
		{"across pieces", 12, 3, 3},
		{"to the end", 90, 10, 10},
		{"end, short", 95, 10, 5},
		{"last line", 99, 1, 1},
		{"all", 0, 1000, 100},
		{"at the end", 100, 10, 0},
		{"past the end", 150, 10, 0},
		{"zero limit", 10, 0, 0},
		{"negative limit", 10, -1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Logs().ReadLog(ctx, id, tc.from, tc.limit)
			must(t, err)
			var want []string
			if tc.want > 0 {
				want = lines[tc.from : tc.from+int64(tc.want)]
			}
			equalLines(t, got, want)
		})
	}
	if _, err := s.Logs().ReadLog(ctx, id, -1, 10); err == nil {
		t.Error("ReadLog from -1 succeeded")
	}
	got, err := s.Logs().ReadLog(ctx, store.NewID(), 0, 10)
	must(t, err)
	equalLines(t, got, nil)
}

func testLogLarge(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := store.NewID()
	const total = 200_000
	lines := numbered("large", total)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range lines {
		switch rng.IntN(50) {
		case 0:
			lines[i] = ""
		case 1:
			lines[i] += " " + strings.Repeat("x", rng.IntN(2000))
		}
	}
	// Chunks of varying size, some re-sent with overlap, as an agent that
	// retries after a timeout would.
	for from := 0; from < total; {
		n := 1 + rng.IntN(7000)
		if rng.IntN(10) == 0 {
			n = 1
		}
		end := min(from+n, total)
		must(t, s.Logs().AppendLog(ctx, id, int64(from), lines[from:end]))
		if rng.IntN(5) == 0 {
			back := max(0, from-rng.IntN(500))
			must(t, s.Logs().AppendLog(ctx, id, int64(back), lines[back:end]))
		}
		from = end
	}
	n, err := s.Logs().LogLen(ctx, id)
	must(t, err)
	if n != total {
		t.Fatalf("LogLen = %d, want %d", n, total)
	}
	got, err := s.Logs().ReadLog(ctx, id, 0, total+1)
	must(t, err)
	equalLines(t, got, lines)
	// In pages, as a client scrolling through would read it.
	var paged []string
	for from := 0; ; {
		page, err := s.Logs().ReadLog(ctx, id, int64(from), 25_000)
		must(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		from += len(page)
	}
	equalLines(t, paged, lines)
}

// testLogBigLines appends more than MongoDB's 16 MB document limit at once,
// in lines of a few MB: a store must split what it writes. It also pins the
// longest line a store must take, and refuse.
func testLogBigLines(t *testing.T, s store.Store) {
	ctx := t.Context()
	id := store.NewID()
	var lines []string
	for i := range 7 {
		lines = append(lines, fmt.Sprintf("%d %s", i, strings.Repeat(string(rune('a'+i)), 3<<20)))
		lines = append(lines, fmt.Sprintf("small %d", i))
	}
	must(t, s.Logs().AppendLog(ctx, id, 0, lines))
	checkLog(t, s, id, lines)
	got, err := s.Logs().ReadLog(ctx, id, 3, 2)
	must(t, err)
	equalLines(t, got, lines[3:5])

	// 8 MiB is the most a line may have, in every store.
	longest := strings.Repeat("m", 8<<20)
	must(t, s.Logs().AppendLog(ctx, id, int64(len(lines)), []string{longest}))
	if err := s.Logs().AppendLog(ctx, id, int64(len(lines))+1, []string{longest + "!"}); err == nil {
		t.Error("AppendLog took a line of more than 8 MiB")
	}
	checkLog(t, s, id, append(lines, longest))
}

// ---- concurrency and contexts

// testConcurrent has several goroutines use one store at once, as the
// master's handlers and an agent do. Run it with -race.
func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers = 8
	shared := store.NewID()
	sharedLines := numbered("shared", 3000)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- concurrentWorker(ctx, s, w, shared, sharedLines)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	checkLog(t, s, shared, sharedLines)
	got := readFile(t, s, "contended")
	if len(got) < 1000 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) || len(got) != 1000+int(got[0]) {
		t.Errorf("contended file is torn (%d bytes)", len(got))
	}
	spiders, err := s.Spiders().List(ctx)
	must(t, err)
	if c := countName(spiders, "contended"); c != 1 {
		t.Errorf("%d spiders named %q after concurrent Creates, want 1", c, "contended")
	}
	nodes, err := s.Nodes().List(ctx)
	must(t, err)
	if len(nodes) != workers {
		t.Errorf("%d nodes after %d workers registered one each", len(nodes), workers)
	}
	_, total, err := s.Tasks().List(ctx, store.TaskFilter{})
	must(t, err)
	if total != workers*5 {
		t.Errorf("%d tasks after %d workers created 5 each", total, workers)
	}
}

func concurrentWorker(ctx context.Context, s store.Store, w int, shared string, sharedLines []string) error {
	n := node(fmt.Sprintf("worker-%d", w))
	if err := s.Nodes().Register(ctx, n); err != nil {
		return err
	}
	sp := newSpider(fmt.Sprintf("spider-%d", w))
	if err := s.Spiders().Create(ctx, sp); err != nil {
		return err
	}
	// Everyone races for one name: exactly one may win, which the caller
	// cannot check from here, so only the error kind is checked.
	if err := s.Spiders().Create(ctx, newSpider("contended")); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("worker %d: contended Create: %w", w, err)
	}
	for i := range 5 {
		task := newTask(sp, n.ID, store.Now())
		if err := s.Tasks().Create(ctx, task); err != nil {
			return err
		}
		lines := numbered(fmt.Sprintf("w%d-t%d", w, i), 300)
		for from := 0; from < len(lines); from += 70 {
			if err := s.Logs().AppendLog(ctx, task.ID, int64(from), lines[from:min(from+70, len(lines))]); err != nil {
				return err
			}
		}
		task.Status, task.LogLines = store.TaskFinished, int64(len(lines))
		if err := s.Tasks().Update(ctx, task); err != nil {
			return err
		}
		got, err := s.Logs().ReadLog(ctx, task.ID, 0, 1000)
		if err != nil {
			return err
		}
		if !slices.Equal(got, lines) {
			return fmt.Errorf("worker %d: task %d log read back wrong", w, i)
		}
		if err := s.Nodes().Touch(ctx, n.ID, store.Now()); err != nil {
			return err
		}
		if _, err := s.Nodes().MarkStale(ctx, store.Now().Add(-time.Hour)); err != nil {
			return err
		}
		if _, err := s.Tasks().Pending(ctx, n.ID, 10); err != nil {
			return err
		}
	}
	// Every worker appends the same shared log, from wherever it finds the
	// end, overlapping the others: the result must still be exact.
	for from := 0; from < len(sharedLines); {
		end := min(from+97+w*13, len(sharedLines))
		if err := s.Logs().AppendLog(ctx, shared, int64(from), sharedLines[from:end]); err != nil {
			return fmt.Errorf("worker %d: shared AppendLog: %w", w, err)
		}
		from = end
	}
	data := bytes.Repeat([]byte{byte(w)}, 1000+w)
	name := fmt.Sprintf("w/%d", w)
	if _, _, err := s.Files().Put(ctx, name, bytes.NewReader(data)); err != nil {
		return err
	}
	// Everyone replaces one blob; the caller checks that whoever won left it
	// whole.
	if _, _, err := s.Files().Put(ctx, "contended", bytes.NewReader(data)); err != nil {
		return err
	}
	rc, err := s.Files().Open(ctx, name)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("worker %d: read back %d bytes of %s: %v", w, len(got), name, err)
	}
	return nil
}

// testCancelledContext checks that every method gives up on a cancelled
// context instead of doing the work.
func testCancelledContext(t *testing.T, s store.Store) {
	n := node("ctx")
	must(t, s.Nodes().Register(t.Context(), n))
	sp := newSpider("ctx")
	task := newTask(sp, "", store.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id := store.NewID()
	calls := map[string]func() error{
		"Ping":             func() error { return s.Ping(ctx) },
		"Nodes.Register":   func() error { return s.Nodes().Register(ctx, node("x")) },
		"Nodes.Get":        func() error { _, err := s.Nodes().Get(ctx, n.ID); return err },
		"Nodes.List":       func() error { _, err := s.Nodes().List(ctx); return err },
		"Nodes.Touch":      func() error { return s.Nodes().Touch(ctx, n.ID, store.Now()) },
		"Nodes.SetOffline": func() error { return s.Nodes().SetOffline(ctx, n.ID) },
		"Nodes.MarkStale":  func() error { _, err := s.Nodes().MarkStale(ctx, store.Now()); return err },
		"Spiders.Create":   func() error { return s.Spiders().Create(ctx, sp) },
		"Spiders.Get":      func() error { _, err := s.Spiders().Get(ctx, id); return err },
		"Spiders.GetByName": func() error {
			_, err := s.Spiders().GetByName(ctx, "ctx")
			return err
		},
		"Spiders.List":   func() error { _, err := s.Spiders().List(ctx); return err },
		"Spiders.Update": func() error { return s.Spiders().Update(ctx, sp) },
		"Spiders.Delete": func() error { return s.Spiders().Delete(ctx, id) },
		"Tasks.Create":   func() error { return s.Tasks().Create(ctx, task) },
		"Tasks.Get":      func() error { _, err := s.Tasks().Get(ctx, id); return err },
		"Tasks.List": func() error {
			_, _, err := s.Tasks().List(ctx, store.TaskFilter{})
			return err
		},
		"Tasks.Pending": func() error { _, err := s.Tasks().Pending(ctx, id, 10); return err },
		"Tasks.Update":  func() error { return s.Tasks().Update(ctx, task) },
		"Tasks.Delete":  func() error { return s.Tasks().Delete(ctx, id) },
		"Files.Put": func() error {
			_, _, err := s.Files().Put(ctx, "f", strings.NewReader("x"))
			return err
		},
		"Files.Open":     func() error { _, err := s.Files().Open(ctx, "f"); return err },
		"Files.Delete":   func() error { return s.Files().Delete(ctx, "f") },
		"Logs.AppendLog": func() error { return s.Logs().AppendLog(ctx, id, 0, []string{"x"}) },
		"Logs.ReadLog":   func() error { _, err := s.Logs().ReadLog(ctx, id, 0, 10); return err },
		"Logs.LogLen":    func() error { _, err := s.Logs().LogLen(ctx, id); return err },
		"Logs.DeleteLog": func() error { return s.Logs().DeleteLog(ctx, id) },
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range calls {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := calls[name](); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	// Nothing happened.
	got, err := s.Nodes().Get(t.Context(), n.ID)
	must(t, err)
	equalNode(t, got, n)
	_, err = s.Spiders().Get(t.Context(), sp.ID)
	isErr(t, err, store.ErrNotFound, "spider created with a cancelled context")
}

// ---- fixtures

func node(name string) *store.Node {
	now := store.Now()
	return &store.Node{
		ID: store.NewID(), Name: name, Hostname: name + ".example", IP: "10.0.0.1",
		MAC: "02:00:00:00:00:01", OS: "linux", Arch: "amd64", Version: "v0.1.0",
		Status: store.NodeOnline, LastSeen: now, Created: now.Add(-time.Minute),
	}
}

func newSpider(name string) *store.Spider {
	now := store.Now()
	return &store.Spider{
		ID: store.NewID(), Name: name, Command: "scrapy crawl " + name,
		Env:  map[string]string{"A": "1", "LANG": "C.UTF-8"},
		File: "spiders/" + name + ".zip", MD5: strings.Repeat("a", 32), Size: 1234,
		Created: now, Updated: now,
	}
}

func newTask(sp *store.Spider, nodeID string, created time.Time) *store.Task {
	return &store.Task{
		ID: store.NewID(), SpiderID: sp.ID, SpiderName: sp.Name, NodeID: nodeID,
		Mode: "any", Status: store.TaskPending, Command: sp.Command, Params: "-a page=2",
		Env: map[string]string{"X": "y"}, Timeout: 3600, Reason: "waiting for a node",
		Created: created,
	}
}

func numbered(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s line %d", prefix, i)
	}
	return lines
}

func ptr[T any](v T) *T { return &v }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// ---- helpers

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isErr(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func put(t testing.TB, s store.Store, name string, data []byte) {
	t.Helper()
	sum, size, err := s.Files().Put(t.Context(), name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	want := md5.Sum(data)
	if sum != hex.EncodeToString(want[:]) || size != int64(len(data)) {
		t.Fatalf("Put(%q) = %s, %d; want %x, %d", name, sum, size, want, len(data))
	}
}

func readFile(t testing.TB, s store.Store, name string) []byte {
	t.Helper()
	rc, err := s.Files().Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return data
}

func equalBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (md5 %x), want %d bytes (md5 %x)", len(got), md5.Sum(got), len(want), md5.Sum(want))
	}
}

func checkLog(t testing.TB, s store.Store, id string, want []string) {
	t.Helper()
	n, err := s.Logs().LogLen(t.Context(), id)
	must(t, err)
	if n != int64(len(want)) {
		t.Fatalf("LogLen = %d, want %d", n, len(want))
	}
	got, err := s.Logs().ReadLog(t.Context(), id, 0, len(want)+10)
	must(t, err)
	equalLines(t, got, want)
}

func equalLines(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d = %.80q, want %.80q", i, got[i], want[i])
		}
	}
}

// utc normalises a time the way the store promises to keep it, and checks
// the store handed it back in UTC.
func utc(t testing.TB, field string, tm *time.Time) {
	t.Helper()
	if !tm.IsZero() && tm.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", field, tm.Location())
	}
	*tm = tm.UTC().Truncate(time.Millisecond)
}

func env(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func equalNode(t testing.TB, got, want *store.Node) {
	t.Helper()
	g, w := *got, *want
	utc(t, "LastSeen", &g.LastSeen)
	utc(t, "Created", &g.Created)
	w.LastSeen, w.Created = w.LastSeen.UTC().Truncate(time.Millisecond), w.Created.UTC().Truncate(time.Millisecond)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("node\n got %+v\nwant %+v", g, w)
	}
}

func equalSpider(t testing.TB, got, want *store.Spider) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Created", &g.Created)
	utc(t, "Updated", &g.Updated)
	w.Created, w.Updated = w.Created.UTC().Truncate(time.Millisecond), w.Updated.UTC().Truncate(time.Millisecond)
	g.Env, w.Env = env(g.Env), env(w.Env)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("spider\n got %+v\nwant %+v", g, w)
	}
}

func equalTask(t testing.TB, got, want *store.Task) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name string
		g, w *time.Time
	}{{"Created", &g.Created, &w.Created}, {"Started", &g.Started, &w.Started}, {"Finished", &g.Finished, &w.Finished}} {
		utc(t, f.name, f.g)
		*f.w = f.w.UTC().Truncate(time.Millisecond)
	}
	g.Env, w.Env = env(g.Env), env(w.Env)
	if (g.ExitCode == nil) != (w.ExitCode == nil) || g.ExitCode != nil && *g.ExitCode != *w.ExitCode {
		t.Fatalf("task %s ExitCode = %v, want %v", w.ID, deref(g.ExitCode), deref(w.ExitCode))
	}
	g.ExitCode, w.ExitCode = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("task\n got %+v\nwant %+v", g, w)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func names(nodes []store.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func taskIDs(tasks []store.Task) []string {
	var out []string
	for _, task := range tasks {
		out = append(out, task.ID)
	}
	return out
}

func countName(spiders []store.Spider, name string) int {
	c := 0
	for _, sp := range spiders {
		if sp.Name == name {
			c++
		}
	}
	return c
}
