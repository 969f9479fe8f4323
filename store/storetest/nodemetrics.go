package storetest

import (
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Node history: the first point written to a slot stands (two masters
// recording one heartbeat store it once), Range reads one resolution's window, Expire
// keeps each resolution for its own time, and RecordNodePoint rolls the
// finest tier up into the coarser ones identically however many masters
// record it.

var (
	res10s = store.NodeResolutions[0].Step
	res1m  = store.NodeResolutions[1].Step
	res10m = store.NodeResolutions[2].Step
)

func point(at time.Time, cpu float64) store.NodePoint {
	return store.NodePoint{At: at, CPU: cpu, MemUsed: 1 << 30, MemTotal: 4 << 30, DiskUsed: 10 << 30, DiskTotal: 100 << 30,
		NetRx: 1500.5, NetTx: 300.25, Load1: 0.75}
}

func testNodeMetricsAdd(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := s.NodeMetrics()
	id, other := store.NewID(), store.NewID()
	slot := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	p := point(slot.Add(3*time.Second+250*time.Millisecond), 40)
	// The same heartbeat recorded by two masters, then a later one of the
	// same slot: one point, the first one's values, at the slot's start.
	must(t, m.Add(ctx, id, res10s, p))
	must(t, m.Add(ctx, id, res10s, p))
	must(t, m.Add(ctx, id, res10s, point(slot.Add(8*time.Second), 60)))
	// Other nodes and resolutions are other slots.
	must(t, m.Add(ctx, other, res10s, point(slot, 99)))
	must(t, m.Add(ctx, id, res1m, point(slot, 10)))

	got, err := m.Range(ctx, id, res10s, slot.Add(-time.Hour), slot.Add(time.Hour))
	must(t, err)
	want := p
	want.At = slot
	if len(got) != 1 || got[0] != want {
		t.Fatalf("10s points = %+v, want only %+v", got, want)
	}
	got, err = m.Range(ctx, id, res1m, slot.Add(-time.Hour), slot.Add(time.Hour))
	must(t, err)
	if len(got) != 1 || got[0].CPU != 10 || !got[0].At.Equal(slot) {
		t.Errorf("1m points = %+v, want the one at %v with CPU 10", got, slot)
	}

	if err := m.Add(ctx, id, 30*time.Second, p); err == nil {
		t.Error("Add at a resolution that is not a tier succeeded")
	}
	if err := m.Add(ctx, "nope", res10s, p); err == nil {
		t.Error("Add for an invalid node id succeeded")
	}
	if _, err := m.Range(ctx, id, time.Hour, slot, slot.Add(time.Hour)); err == nil {
		t.Error("Range at a resolution that is not a tier succeeded")
	}
}

func testNodeMetricsRange(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := s.NodeMetrics()
	id := store.NewID()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Written newest first: Range sorts.
	for i := 29; i >= 0; i-- {
		must(t, m.Add(ctx, id, res10s, point(start.Add(time.Duration(i)*res10s), float64(i))))
		must(t, m.Add(ctx, id, res10m, point(start.Add(time.Duration(i)*res10m), float64(100+i))))
	}
	// [from, to): the point at from is in, the one at to is out.
	got, err := m.Range(ctx, id, res10s, start.Add(50*time.Second), start.Add(100*time.Second))
	must(t, err)
	if len(got) != 5 {
		t.Fatalf("10s points in [50s, 100s) = %d, want 5: %+v", len(got), got)
	}
	for i, p := range got {
		if want := start.Add(time.Duration(5+i) * res10s); !p.At.Equal(want) || p.CPU != float64(5+i) {
			t.Errorf("point %d = %v cpu %v, want %v cpu %d", i, p.At, p.CPU, want, 5+i)
		}
	}
	got, err = m.Range(ctx, id, res10m, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 6 || got[0].CPU != 100 || got[5].CPU != 105 {
		t.Errorf("10m points in the first hour = %+v, want 6 from CPU 100 to 105", got)
	}
	got, err = m.Range(ctx, id, res1m, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 0 {
		t.Errorf("1m points = %+v, want none (none written)", got)
	}
	got, err = m.Range(ctx, store.NewID(), res10s, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 0 {
		t.Errorf("points of a node never heard = %+v, want none", got)
	}
}

func testNodeMetricsExpire(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := s.NodeMetrics()
	id := store.NewID()
	now := store.Now().Truncate(res10m)
	type aged struct {
		res  time.Duration
		age  time.Duration
		kept bool
	}
	cases := []aged{
		{res10s, 50 * time.Minute, true}, {res10s, 2 * time.Hour, false},
		{res1m, 2 * time.Hour, true}, {res1m, 23 * time.Hour, true}, {res1m, 25 * time.Hour, false},
		{res10m, 25 * time.Hour, true}, {res10m, 29 * 24 * time.Hour, true}, {res10m, 31 * 24 * time.Hour, false},
	}
	for _, c := range cases {
		must(t, m.Add(ctx, id, c.res, point(now.Add(-c.age), c.age.Hours())))
	}
	must(t, m.Expire(ctx, now))
	must(t, m.Expire(ctx, now)) // every master runs it
	if e, ok := m.(interface{ ExpiresItself() bool }); ok && e.ExpiresItself() {
		// The database removes expired points itself (a TTL index), in its
		// own time: Expire leaves them to it.
		t.Skip("the database expires points itself")
	}
	for _, c := range cases {
		got, err := m.Range(ctx, id, c.res, now.Add(-c.age), now.Add(-c.age).Add(c.res))
		must(t, err)
		if kept := len(got) == 1; kept != c.kept {
			t.Errorf("%v point %v old: kept = %v, want %v", c.res, c.age, kept, c.kept)
		}
	}
}

// testNodeMetricsRecord feeds 12 minutes of heartbeats every 5 s to two
// masters' recorders from the start and to a third that starts at minute
// 3, and checks every tier; then a master that starts anew closes the
// slot it did not hear from the start from what is stored.
func testNodeMetricsRecord(t *testing.T, s store.Store) {
	ctx := t.Context()
	m := s.NodeMetrics()
	id := store.NewID()
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	masters := []*store.NodeRecorder{store.NewNodeRecorder(m), store.NewNodeRecorder(m)}
	late := store.NewNodeRecorder(m)
	for i := range 12 * 12 {
		at := start.Add(time.Duration(i)*5*time.Second + 300*time.Millisecond)
		// Minute k's points all have CPU k, except that each 10 s slot's
		// second heartbeat (which the store ignores: the first stands)
		// has CPU 1000.
		p := point(at, float64(i/12))
		p.MemUsed = uint64(i/12) << 20
		if i%2 == 1 {
			p.CPU = 1000
		}
		for _, r := range masters {
			must(t, r.Record(ctx, id, p))
		}
		if at.Sub(start) >= 3*time.Minute {
			must(t, late.Record(ctx, id, p))
		}
	}
	got, err := m.Range(ctx, id, res10s, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 72 {
		t.Errorf("10s points = %d, want 72 (two heartbeats a slot)", len(got))
	}
	// Minutes 0–10 are closed (the heartbeats reached minute 11); minute 11
	// is open.
	got, err = m.Range(ctx, id, res1m, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 11 {
		t.Fatalf("1m points = %d, want 11: %+v", len(got), got)
	}
	for k, p := range got {
		if !p.At.Equal(start.Add(time.Duration(k)*time.Minute)) || p.CPU != float64(k) || p.MemUsed != uint64(k)<<20 || p.MemTotal != 4<<30 {
			t.Errorf("minute %d = %+v, want CPU %d and memory %d MiB", k, p, k, k)
		}
	}
	// The first 10 minutes are closed: their average is of minutes 0–9,
	// whoever wrote it last (the late master read minutes 0–2 from the
	// store).
	got, err = m.Range(ctx, id, res10m, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 1 || !got[0].At.Equal(start) || got[0].CPU != 4.5 || got[0].NetRx != 1500.5 {
		t.Errorf("10m points = %+v, want one at %v with CPU 4.5", got, start)
	}

	// A master that starts anew closes the slot before its first point
	// from the store: another master (or its predecessor) wrote it.
	fresh := store.NewID()
	must(t, m.Add(ctx, fresh, res10s, point(start.Add(50*time.Second), 30)))
	restarted := store.NewNodeRecorder(m)
	must(t, restarted.Record(ctx, fresh, point(start.Add(time.Minute+2*time.Second), 70)))
	must(t, restarted.Record(ctx, fresh, point(start.Add(2*time.Minute+2*time.Second), 90)))
	got, err = m.Range(ctx, fresh, res1m, start, start.Add(time.Hour))
	must(t, err)
	if len(got) != 2 || got[0].CPU != 30 || got[1].CPU != 70 {
		t.Errorf("after a restart, 1m points = %+v, want minutes 0 and 1 closed with CPU 30 and 70", got)
	}
	// A late heartbeat only fills its own slot.
	must(t, restarted.Record(ctx, fresh, point(start.Add(20*time.Second), 10)))
	got, err = m.Range(ctx, fresh, res1m, start, start.Add(time.Minute))
	must(t, err)
	if len(got) != 1 || got[0].CPU != 30 {
		t.Errorf("after a late heartbeat, minute 0 = %+v, want it left at CPU 30", got)
	}
}
