package storetest

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// ---- schedules

func testScheduleCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	sc := newSchedule("nightly", newSpider("quotes"))
	// Create ignores the Last* fields: only Record writes them.
	in := *sc
	in.LastFire, in.LastTaskID = store.Now(), store.NewID()
	in.LastSkip, in.LastSkipReason = store.Now(), "still running"
	must(t, s.Schedules().Create(ctx, &in))
	got, err := s.Schedules().Get(ctx, sc.ID)
	must(t, err)
	equalSchedule(t, got, sc)

	// Update replaces every field a user sets, and neither Created nor
	// the Last* fields.
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: store.Now(), TaskID: store.NewID()}))
	before, err := s.Schedules().Get(ctx, sc.ID)
	must(t, err)
	other := newSpider("books")
	upd := store.Schedule{
		ID: sc.ID, Name: "hourly", SpiderID: other.ID, SpiderName: other.Name, Cron: "@hourly",
		Timezone: "America/New_York", Mode: "all", NodeIDs: []string{store.NewID()}, Params: "-a x=1",
		Env: map[string]string{"B": "2"}, Timeout: 60, Overlap: store.OverlapQueue,
		Misfire: store.MisfireSkip, Enabled: false,
		Created: sc.Created.Add(-time.Hour), Updated: sc.Updated.Add(time.Minute),
		LastFire: store.Now().Add(time.Hour), LastTaskID: "ignored",
		LastSkip: store.Now().Add(time.Hour), LastSkipReason: "ignored",
	}
	must(t, s.Schedules().Update(ctx, &upd))
	got, err = s.Schedules().Get(ctx, sc.ID)
	must(t, err)
	want := upd
	want.Created = before.Created
	want.LastFire, want.LastTaskID = before.LastFire, before.LastTaskID
	want.LastSkip, want.LastSkipReason = before.LastSkip, before.LastSkipReason
	equalSchedule(t, got, &want)

	must(t, s.Schedules().Delete(ctx, sc.ID))
	_, err = s.Schedules().Get(ctx, sc.ID)
	isErr(t, err, store.ErrNotFound, "Get deleted schedule")
	isErr(t, s.Schedules().Delete(ctx, sc.ID), store.ErrNotFound, "Delete deleted schedule")
	isErr(t, s.Schedules().Update(ctx, &upd), store.ErrNotFound, "Update deleted schedule")
	list, err := s.Schedules().List(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("%d schedules listed after the only one was deleted", len(list))
	}
	// The name is free again.
	must(t, s.Schedules().Create(ctx, newSchedule("hourly", other)))
}

func testScheduleNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A schedule that exists, so that the calls below cannot pass by
	// finding an empty collection.
	must(t, s.Schedules().Create(ctx, newSchedule("present", newSpider("s"))))
	ghost := newSchedule("ghost", newSpider("s"))
	_, err := s.Schedules().Get(ctx, ghost.ID)
	isErr(t, err, store.ErrNotFound, "Get unknown schedule")
	isErr(t, s.Schedules().Update(ctx, ghost), store.ErrNotFound, "Update unknown schedule")
	isErr(t, s.Schedules().Delete(ctx, ghost.ID), store.ErrNotFound, "Delete unknown schedule")
	// An outcome of a schedule that is gone is dropped, and creates none.
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: ghost.ID, At: store.Now(), TaskID: store.NewID()},
		store.Outcome{ScheduleID: ghost.ID, At: store.Now(), Skipped: true, Reason: "overlap"}))
	_, err = s.Schedules().Get(ctx, "not-an-id")
	isErr(t, err, store.ErrNotFound, "Get malformed id")
	if err == nil || !strings.Contains(err.Error(), "not-an-id") {
		t.Errorf("error %q should name the id it was about", err)
	}
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: "not-an-id", At: store.Now()}))
	list, err := s.Schedules().List(ctx)
	must(t, err)
	if len(list) != 1 || list[0].Name != "present" {
		t.Errorf("List = %v after calls on unknown schedules, want [present]", scheduleNames(list))
	}
}

func testScheduleConflict(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	a, b := newSchedule("a", sp), newSchedule("b", sp)
	must(t, s.Schedules().Create(ctx, a))
	must(t, s.Schedules().Create(ctx, b))

	isErr(t, s.Schedules().Create(ctx, newSchedule("a", sp)), store.ErrConflict, "Create with a taken name")
	dup := newSchedule("c", sp)
	dup.ID = a.ID
	isErr(t, s.Schedules().Create(ctx, dup), store.ErrConflict, "Create with a taken id")

	bb := *b
	bb.Name, bb.Cron = "a", "@daily"
	isErr(t, s.Schedules().Update(ctx, &bb), store.ErrConflict, "Update to another schedule's name")
	got, err := s.Schedules().Get(ctx, b.ID)
	must(t, err)
	equalSchedule(t, got, b)

	// Keeping its own name is no conflict.
	bb.Name = "b"
	must(t, s.Schedules().Update(ctx, &bb))
	got, err = s.Schedules().Get(ctx, b.ID)
	must(t, err)
	equalSchedule(t, got, &bb)

	// An unknown schedule is not found, whatever its name.
	isErr(t, s.Schedules().Update(ctx, newSchedule("a", sp)), store.ErrNotFound,
		"Update unknown schedule with a taken name")
	list, err := s.Schedules().List(ctx)
	must(t, err)
	if names := scheduleNames(list); !slices.Equal(names, []string{"a", "b"}) {
		t.Errorf("List = %q after the conflicts, want [a b]", names)
	}
}

func testScheduleList(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.Schedules().List(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("empty store lists %d schedules", len(list))
	}
	sp := newSpider("s")
	var want []*store.Schedule
	for _, name := range []string{"m", "b", "z", "a", "B", "a b", "ä"} {
		sc := newSchedule(name, sp)
		must(t, s.Schedules().Create(ctx, sc))
		want = append(want, sc)
	}
	// By name, byte-wise, as both MongoDB and SQLite compare strings.
	slices.SortFunc(want, func(a, b *store.Schedule) int { return strings.Compare(a.Name, b.Name) })
	list, err = s.Schedules().List(ctx)
	must(t, err)
	if len(list) != len(want) {
		t.Fatalf("List returned %d schedules, want %d", len(list), len(want))
	}
	for i := range list {
		equalSchedule(t, &list[i], want[i])
	}
}

func testScheduleRecord(t *testing.T, s store.Store) {
	ctx := t.Context()
	sc := newSchedule("every-minute", newSpider("s"))
	must(t, s.Schedules().Create(ctx, sc))
	stale, err := s.Schedules().Get(ctx, sc.ID)
	must(t, err)

	// A fire time in another zone and finer than a millisecond comes back
	// in UTC at the store's precision.
	fire := time.Date(2026, 3, 29, 2, 30, 0, 123456789, time.FixedZone("CEST", 2*3600))
	task := store.NewID()
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: fire, TaskID: task}))
	want := *sc
	want.LastFire, want.LastTaskID = fire, task
	checkSchedule(t, s, &want)

	skip := fire.Add(time.Minute)
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: skip, Skipped: true,
		Reason: "a task of this schedule is still running"}))
	want.LastSkip, want.LastSkipReason = skip, "a task of this schedule is still running"
	checkSchedule(t, s, &want)

	// An edit made from a copy read before the fire and the skip keeps
	// both.
	stale.Params, stale.Enabled, stale.Updated = "-a edited=1", false, store.Now().Add(time.Second)
	must(t, s.Schedules().Update(ctx, stale))
	want.Params, want.Enabled, want.Updated = stale.Params, stale.Enabled, stale.Updated
	checkSchedule(t, s, &want)

	// The next fire replaces the last one and leaves the skip alone; the
	// next skip replaces the last skip and leaves the fire alone.
	fire2, task2 := skip.Add(time.Minute), store.NewID()
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: fire2, TaskID: task2}))
	want.LastFire, want.LastTaskID = fire2, task2
	checkSchedule(t, s, &want)
	skip2 := fire2.Add(time.Minute)
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: skip2, Skipped: true, Reason: "overlap"}))
	want.LastSkip, want.LastSkipReason = skip2, "overlap"
	checkSchedule(t, s, &want)

	// Recording on one schedule leaves the others alone.
	other := newSchedule("other", newSpider("s"))
	must(t, s.Schedules().Create(ctx, other))
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: skip2.Add(time.Minute), TaskID: store.NewID()}))
	checkSchedule(t, s, other)
}

// testScheduleRoundTrip stores schedules with every field at its edges
// and reads each back, through Create and through Update.
func testScheduleRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("s")
	berlin := time.FixedZone("CET", 3600)
	full := newSchedule("vollständig ✓", sp)
	full.NodeIDs = []string{store.NewID(), store.NewID(), store.NewID()} // order is kept
	full.Env = map[string]string{"A": "1", "EMPTY": "", "QUOTE": `"x"`, "UNICODE": "ü✓"}
	full.Params = `-a "q=a b" -s DEPTH=2`
	full.Timeout = 1 << 40
	full.Created = time.Date(2026, 12, 3, 10, 0, 0, 999999999, berlin)
	full.Updated = time.Date(2026, 12, 3, 11, 0, 0, 1, berlin)
	full.Cron = "*/30 * * * * *"

	minimal := &store.Schedule{ID: store.NewID(), Name: "minimal", Created: store.Now(), Updated: store.Now()}
	emptyLists := newSchedule("empty lists", sp)
	emptyLists.NodeIDs, emptyLists.Env = []string{}, map[string]string{}
	emptyLists.Enabled = false

	for _, sc := range []*store.Schedule{full, minimal, emptyLists} {
		t.Run(sc.Name, func(t *testing.T) {
			must(t, s.Schedules().Create(ctx, sc))
			checkSchedule(t, s, sc)
			list, err := s.Schedules().List(ctx)
			must(t, err)
			i := slices.IndexFunc(list, func(l store.Schedule) bool { return l.ID == sc.ID })
			if i < 0 {
				t.Fatalf("schedule %q not listed", sc.Name)
			}
			equalSchedule(t, &list[i], sc)
		})
	}

	// Update writes every field and clears the lists.
	for _, next := range []*store.Schedule{minimal, full, emptyLists} {
		upd := *next
		upd.ID, upd.Name, upd.Created = full.ID, full.Name, full.Created
		must(t, s.Schedules().Update(ctx, &upd))
		checkSchedule(t, s, &upd)
	}
}

func testScheduleBadIDs(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"", "xyz", strings.Repeat("g", 24)} {
		sc := newSchedule("bad "+id, newSpider("s"))
		sc.ID = id
		if err := s.Schedules().Create(ctx, sc); err == nil {
			t.Errorf("Create schedule with id %q succeeded", id)
		}
	}
	list, err := s.Schedules().List(ctx)
	must(t, err)
	if len(list) != 0 {
		t.Errorf("%d schedules stored with bad ids", len(list))
	}
}

// testScheduleCancelledContext checks that every Schedules method gives up
// on a cancelled context instead of doing the work.
func testScheduleCancelledContext(t *testing.T, s store.Store) {
	sc := newSchedule("ctx", newSpider("ctx"))
	must(t, s.Schedules().Create(t.Context(), sc))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	fresh := newSchedule("fresh", newSpider("ctx"))
	edit := *sc
	edit.Cron = "@yearly"
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return s.Schedules().Create(ctx, fresh) }},
		{"Get", func() error { _, err := s.Schedules().Get(ctx, sc.ID); return err }},
		{"List", func() error { _, err := s.Schedules().List(ctx); return err }},
		{"Update", func() error { return s.Schedules().Update(ctx, &edit) }},
		{"Delete", func() error { return s.Schedules().Delete(ctx, sc.ID) }},
		{"Record", func() error {
			return s.Schedules().Record(ctx, store.Outcome{ScheduleID: sc.ID, At: store.Now(), TaskID: store.NewID()},
				store.Outcome{ScheduleID: sc.ID, At: store.Now(), Skipped: true, Reason: "x"})
		}},
	} {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("Schedules.%s with a cancelled context: %v, want context.Canceled", c.name, err)
		}
	}
	// Nothing happened.
	checkSchedule(t, s, sc)
	_, err := s.Schedules().Get(t.Context(), fresh.ID)
	isErr(t, err, store.ErrNotFound, "schedule created with a cancelled context")
}

// ---- fixtures and helpers

func newSchedule(name string, sp *store.Spider) *store.Schedule {
	now := store.Now()
	return &store.Schedule{
		ID: store.NewID(), Name: name, SpiderID: sp.ID, SpiderName: sp.Name, Cron: "*/5 * * * *",
		Timezone: "Europe/Berlin", Mode: "nodes", NodeIDs: []string{store.NewID(), store.NewID()},
		Params: "-a page=2", Env: map[string]string{"A": "1"}, Timeout: 600,
		Overlap: store.OverlapSkip, Misfire: store.MisfireOnce, Enabled: true,
		Created: now.Add(-time.Minute), Updated: now,
	}
}

// checkSchedule reads want.ID back and compares it with want.
func checkSchedule(t testing.TB, s store.Store, want *store.Schedule) {
	t.Helper()
	got, err := s.Schedules().Get(t.Context(), want.ID)
	must(t, err)
	equalSchedule(t, got, want)
}

// equalSchedule compares as the store promises to keep a schedule: times
// in UTC at millisecond precision, empty lists and maps possibly nil.
func equalSchedule(t testing.TB, got, want *store.Schedule) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name string
		g, w *time.Time
	}{
		{"Created", &g.Created, &w.Created}, {"Updated", &g.Updated, &w.Updated},
		{"LastFire", &g.LastFire, &w.LastFire}, {"LastSkip", &g.LastSkip, &w.LastSkip},
	} {
		utc(t, f.name, f.g)
		*f.w = f.w.UTC().Truncate(time.Millisecond)
	}
	g.Env, w.Env = env(g.Env), env(w.Env)
	if len(g.NodeIDs) == 0 {
		g.NodeIDs = nil
	}
	if len(w.NodeIDs) == 0 {
		w.NodeIDs = nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("schedule\n got %+v\nwant %+v", g, w)
	}
}

func scheduleNames(list []store.Schedule) []string {
	var out []string
	for _, sc := range list {
		out = append(out, sc.Name)
	}
	return out
}
