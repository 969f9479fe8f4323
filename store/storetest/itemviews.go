package storetest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Items: deduplication and a spider's view of its items.

// itemState is what a test expects of one stored item.
type itemState struct {
	outcome string
	current bool
}

func checkStates(t testing.TB, s store.Store, spiderID, taskID string, want []itemState) {
	t.Helper()
	got, err := s.Items().ReadItems(t.Context(), spiderID, taskID, 0, len(want)+1)
	must(t, err)
	if len(got) != len(want) {
		t.Fatalf("task has %d items, want %d", len(got), len(want))
	}
	for i, it := range got {
		if it.Outcome != want[i].outcome || it.Current != want[i].current {
			t.Errorf("item %d (%s): %s, current %v; want %s, current %v", i, it.Data, it.Outcome, it.Current,
				want[i].outcome, want[i].current)
		}
	}
}

// spiderData is the data of the spider's current items, as SpiderItems
// pages them, sorted for comparison.
func spiderData(t testing.TB, s store.Store, spiderID string) []string {
	t.Helper()
	list, total, err := s.Items().SpiderItems(t.Context(), spiderID, 1000, 0)
	must(t, err)
	if total != int64(len(list)) {
		t.Errorf("SpiderItems total %d, but %d items", total, len(list))
	}
	var out []string
	for _, it := range list {
		if !it.Current {
			t.Errorf("SpiderItems returned item %d of %s, which is not current", it.N, it.TaskID)
		}
		var v struct{ Url, V string }
		must(t, json.Unmarshal(it.Data, &v))
		out = append(out, v.Url+"="+v.V)
	}
	slices.Sort(out)
	return out
}

func testItemDedupIgnore(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, t1, t2 := store.NewID(), store.NewID(), store.NewID()
	d := store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore}
	c, err := s.Items().AppendItems(ctx, sp, t1, 0, raw(
		`{"url":"a","v":"1"}`,
		`{"url":"b","v":"1"}`,
		`{"url":"a","v":"2"}`, // the same call: ignored
		`{"v":"nokey"}`,       // no key: always new
		`{"v":"nokey"}`,
		`{"v":"1","url":"c"}`,
	), d)
	must(t, err)
	if c != (store.ItemCounts{New: 5, Ignored: 1}) {
		t.Errorf("counts of the first task %+v, want 5 new and 1 ignored", c)
	}
	c, err = s.Items().AppendItems(ctx, sp, t2, 0, raw(
		`{"url":"b","v":"2"}`,      // an earlier task's: ignored
		`{"url":"d","v":"2"}`,      // new
		`{"url":"\u0063","v":"2"}`, // the same key, spelled differently
		`{"url":"d","v":"3"}`,
	), d)
	must(t, err)
	if c != (store.ItemCounts{New: 1, Ignored: 3}) {
		t.Errorf("counts of the second task %+v, want 1 new and 3 ignored", c)
	}
	ign, nw := itemState{store.ItemIgnored, false}, itemState{store.ItemNew, true}
	checkStates(t, s, sp, t1, []itemState{nw, nw, ign, nw, nw, nw})
	checkStates(t, s, sp, t2, []itemState{ign, nw, ign, ign})
	if n, c := itemCount(t, s, sp, t2); n != 4 || c != (store.ItemCounts{New: 1, Ignored: 3}) {
		t.Errorf("ItemCount of the second task %d %+v, want 4: 1 new and 3 ignored", n, c)
	}
	want := []string{"=nokey", "=nokey", "a=1", "b=1", "c=1", "d=2"}
	if got := spiderData(t, s, sp); !slices.Equal(got, want) {
		t.Errorf("spider's items %q, want %q", got, want)
	}
	// Another spider's items are another matter.
	other := store.NewID()
	c, err = s.Items().AppendItems(ctx, other, store.NewID(), 0, raw(`{"url":"a","v":"x"}`), d)
	must(t, err)
	if c.New != 1 {
		t.Errorf("another spider's item with a taken key: %+v, want new", c)
	}
}

func testItemDedupOverwrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, t1, t2 := store.NewID(), store.NewID(), store.NewID()
	d := store.Dedup{Keys: []string{"url", "page"}, Policy: store.DedupOverwrite}
	c, err := s.Items().AppendItems(ctx, sp, t1, 0, raw(
		`{"url":"a","v":"1"}`,
		`{"url":"b","page":1,"v":"1"}`,
		`{"url":"a","v":"2"}`, // overwrites item 0
		`{"v":"nokey"}`,
		`{"url":"a","page":null,"v":"3"}`, // a missing key is null: overwrites item 2
		`{"url":"b","page":2,"v":"1"}`,    // another page: new
	), d)
	must(t, err)
	if c != (store.ItemCounts{New: 4, Overwritten: 2}) {
		t.Errorf("counts of the first task %+v, want 4 new and 2 overwritten", c)
	}
	must2(t)(s.Items().AppendItems(ctx, sp, t2, 0, raw(`{"page":1,"url":"b","v":"2"}`), d))
	nw, ow := itemState{store.ItemNew, true}, itemState{store.ItemOverwritten, true}
	gone, goneOw := itemState{store.ItemNew, false}, itemState{store.ItemOverwritten, false}
	checkStates(t, s, sp, t1, []itemState{gone, gone, goneOw, nw, ow, nw})
	checkStates(t, s, sp, t2, []itemState{ow})
	want := []string{"=nokey", "a=3", "b=1", "b=2"}
	if got := spiderData(t, s, sp); !slices.Equal(got, want) {
		t.Errorf("spider's items %q, want %q", got, want)
	}
	if n, c := itemCount(t, s, sp, t1); n != 6 || c != (store.ItemCounts{New: 4, Overwritten: 2}) {
		t.Errorf("ItemCount of the first task %d %+v, want 6: 4 new, 2 overwritten", n, c)
	}
	// Retrying a batch changes nothing, though its items would overwrite.
	c, err = s.Items().AppendItems(ctx, sp, t2, 0, raw(`{"page":1,"url":"b","v":"2"}`), d)
	must(t, err)
	if c != (store.ItemCounts{}) {
		t.Errorf("a retried batch counted %+v", c)
	}
	checkStates(t, s, sp, t2, []itemState{ow})
	// Without a policy, keys decide nothing.
	must2(t)(s.Items().AppendItems(ctx, sp, t2, 1, raw(`{"url":"a","v":"4"}`), store.Dedup{Keys: d.Keys}))
	checkStates(t, s, sp, t2, []itemState{ow, nw})
	if got := spiderData(t, s, sp); len(got) != 5 {
		t.Errorf("spider's items %q, want 5", got)
	}
}

func testSpiderItems(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := store.NewID()
	d := store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore}
	var tasks []string
	for i := range 4 {
		task := store.NewID()
		tasks = append(tasks, task)
		items := itemsOf("s", 30) // the same urls in each task: only the first task's are current
		items = append(items, itemsOf(fmt.Sprintf("t%d", i), 10)...)
		for from := 0; from < len(items); from += 7 {
			must2(t)(s.Items().AppendItems(ctx, sp, task, int64(from), items[from:min(from+7, len(items))], d))
		}
		// Not to wait for anything: so that the next task's items are
		// saved at a later millisecond, and the order is by more than ids.
		time.Sleep(2 * time.Millisecond)
	}
	// The expected order, from what the store says of each item.
	var want []store.Item
	for _, task := range tasks {
		list, err := s.Items().ReadItems(ctx, sp, task, 0, 100)
		must(t, err)
		for _, it := range list {
			if it.Current {
				want = append(want, it)
			}
		}
	}
	sortNewestFirst(want)
	if len(want) != 30+4*10 {
		t.Fatalf("%d current items, want %d", len(want), 30+4*10)
	}
	if !want[0].Saved.After(want[len(want)-1].Saved) {
		t.Fatalf("items saved over several ms, but the newest at %v, the oldest at %v", want[0].Saved, want[len(want)-1].Saved)
	}
	for _, tc := range []struct{ limit, offset int }{{10, 0}, {25, 10}, {100, 0}, {10, 65}, {10, 70}, {10, 200}, {0, 0}} {
		page, total, err := s.Items().SpiderItems(ctx, sp, tc.limit, tc.offset)
		must(t, err)
		if total != int64(len(want)) {
			t.Errorf("SpiderItems(%d, %d) total %d, want %d", tc.limit, tc.offset, total, len(want))
		}
		lo := min(tc.offset, len(want))
		sameItems(t, fmt.Sprintf("SpiderItems(%d, %d)", tc.limit, tc.offset), page, want[lo:min(lo+tc.limit, len(want))])
	}
	// A spider with no items.
	page, total, err := s.Items().SpiderItems(ctx, store.NewID(), 10, 0)
	must(t, err)
	if total != 0 || len(page) != 0 {
		t.Errorf("a spider with no items has %d (total %d)", len(page), total)
	}
}

func sortNewestFirst(list []store.Item) {
	slices.SortFunc(list, func(a, b store.Item) int {
		return -cmp.Or(a.Saved.Compare(b.Saved), strings.Compare(a.TaskID, b.TaskID), cmp.Compare(a.N, b.N))
	})
}

func sameItems(t testing.TB, what string, got, want []store.Item) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d items, want %d", what, len(got), len(want))
		return
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.TaskID != w.TaskID || g.N != w.N || !g.Saved.Equal(w.Saved) || g.Outcome != w.Outcome ||
			g.Current != w.Current || !jsonEqual(g.Data, w.Data) {
			t.Errorf("%s: item %d is %s/%d %s, want %s/%d %s", what, i, g.TaskID, g.N, g.Data, w.TaskID, w.N, w.Data)
			return
		}
	}
}

func testEachItem(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, t1, t2 := store.NewID(), store.NewID(), store.NewID()
	d := store.Dedup{Keys: []string{"url"}, Policy: store.DedupOverwrite}
	// More than a page in each task, and half of the first task's items
	// overwritten by the second's.
	first, second := itemsOf("e", 1500), itemsOf("e", 750)
	second = append(second, itemsOf("f", 1000)...)
	for _, task := range []struct {
		id    string
		items []json.RawMessage
	}{{t1, first}, {t2, second}} {
		items := task.items
		for from := 0; from < len(items); from += 500 {
			must2(t)(s.Items().AppendItems(ctx, sp, task.id, int64(from), items[from:min(from+500, len(items))], d))
		}
	}
	var got []store.Item
	collectAll := func(it store.Item) error { got = append(got, it); return nil }
	must(t, s.Items().EachItem(ctx, sp, t1, collectAll))
	equalItems(t, got, 0, first)

	var want []store.Item
	for _, task := range []string{t1, t2} {
		list, err := s.Items().ReadItems(ctx, sp, task, 0, 5000)
		must(t, err)
		for _, it := range list {
			if it.Current {
				want = append(want, it)
			}
		}
	}
	sortNewestFirst(want)
	if len(want) != 2500 {
		t.Fatalf("%d current items, want 2500", len(want))
	}
	got = nil
	must(t, s.Items().EachItem(ctx, sp, "", collectAll))
	sameItems(t, "EachItem of the spider", got, want)

	// fn's error stops it, and comes back.
	stop := errors.New("enough")
	calls := 0
	err := s.Items().EachItem(ctx, sp, "", func(store.Item) error {
		calls++
		if calls == 1200 {
			return stop
		}
		return nil
	})
	isErr(t, err, stop, "EachItem when fn fails")
	if calls != 1200 {
		t.Errorf("EachItem called fn %d times after it failed at 1200", calls)
	}
	// Nothing to go through.
	must(t, s.Items().EachItem(ctx, sp, store.NewID(), func(store.Item) error { return stop }))
	must(t, s.Items().EachItem(ctx, store.NewID(), "", func(store.Item) error { return stop }))
}

func testDeleteItems(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, t1, t2 := store.NewID(), store.NewID(), store.NewID()
	d := store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore}
	must2(t)(s.Items().AppendItems(ctx, sp, t1, 0, itemsOf("d", 20), d))
	must2(t)(s.Items().AppendItems(ctx, sp, t2, 0, itemsOf("x", 5), d))
	must(t, s.Items().DeleteItems(ctx, sp, t1))
	checkItems(t, s, sp, t1, nil)
	if _, c := itemCount(t, s, sp, t1); c != (store.ItemCounts{}) {
		t.Errorf("counts of a task without items %+v", c)
	}
	must(t, s.Items().DeleteItems(ctx, sp, t1)) // nothing left: still fine
	checkItems(t, s, sp, t2, itemsOf("x", 5))
	if got := spiderData(t, s, sp); len(got) != 5 {
		t.Errorf("spider's items after deleting a task's: %q, want the other task's 5", got)
	}
	// A task whose items were deleted starts again from 0, and its keys
	// are free: its items are new.
	c, err := s.Items().AppendItems(ctx, sp, t1, 0, itemsOf("d", 3), d)
	must(t, err)
	if c != (store.ItemCounts{New: 3}) {
		t.Errorf("items after deleting %+v, want 3 new", c)
	}
	checkItems(t, s, sp, t1, itemsOf("d", 3))
	// A spider's last items deleted: none left.
	must(t, s.Items().DeleteItems(ctx, sp, t1))
	must(t, s.Items().DeleteItems(ctx, sp, t2))
	if got := spiderData(t, s, sp); len(got) != 0 {
		t.Errorf("spider's items after deleting all: %q", got)
	}
}
