package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The audit log.

func equalAudit(t testing.TB, got, want *store.AuditEntry) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Time", &g.Time)
	w.Time = w.Time.UTC().Truncate(time.Millisecond)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("audit entry\n got %+v\nwant %+v", g, w)
	}
}

func testAuditList(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, total, err := s.Audit().List(ctx, store.AuditFilter{})
	must(t, err)
	if total != 0 || len(got) != 0 {
		t.Fatalf("a new store has %d audit entries (total %d)", len(got), total)
	}
	alice, bob := store.NewID(), store.NewID()
	actions := []string{"task.run", "task.cancel", "auth.login", "user.create"}
	base := store.Now().Add(-time.Hour)
	var all []*store.AuditEntry
	for i := range 20 {
		user, actor := alice, "alice"
		if i%3 == 0 {
			user, actor = bob, "bob"
		}
		// Pairs share a time, so the id tie-break is exercised.
		e := &store.AuditEntry{
			ID: store.NewID(), Time: base.Add(time.Duration(i/2) * time.Second), Actor: actor, UserID: user,
			CredentialID: store.NewID(), Address: "192.0.2.7", Action: actions[i%len(actions)],
			Target: fmt.Sprintf("target-%d", i%5), Detail: fmt.Sprintf("entry %d", i),
		}
		all = append(all, e)
	}
	for _, i := range []int{7, 19, 0, 3, 12, 5, 16, 1, 9, 14, 2, 18, 6, 11, 4, 17, 8, 13, 10, 15} {
		must(t, s.Audit().Append(ctx, all[i]))
	}
	// A zero time is set to now, on the entry too.
	before := store.Now()
	latest := &store.AuditEntry{ID: store.NewID(), Actor: "system", Action: "credential.sweep"}
	must(t, s.Audit().Append(ctx, latest))
	if latest.Time.Before(before) || latest.Time.After(store.Now()) {
		t.Errorf("Append of a zero time set it to %v, want about %v", latest.Time, before)
	}
	all = append(all, latest)
	isErr(t, s.Audit().Append(ctx, latest), store.ErrConflict, "Append an existing entry")

	slices.SortFunc(all, func(a, b *store.AuditEntry) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
	}{
		{"all", store.AuditFilter{}},
		{"action", store.AuditFilter{Action: "task.cancel"}},
		{"user", store.AuditFilter{UserID: bob}},
		{"target", store.AuditFilter{Target: "target-2"}},
		{"all three", store.AuditFilter{Action: "task.run", UserID: alice, Target: "target-4"}},
		{"no such action", store.AuditFilter{Action: "spider.upload"}},
		{"first page", store.AuditFilter{Limit: 5}},
		{"second page", store.AuditFilter{Limit: 5, Offset: 5}},
		{"last page, short", store.AuditFilter{Limit: 5, Offset: 18}},
		{"offset only", store.AuditFilter{Offset: 15}},
		{"offset past the end", store.AuditFilter{Offset: 100}},
		{"page of a filter", store.AuditFilter{UserID: alice, Limit: 3, Offset: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			var matching []*store.AuditEntry
			for _, e := range all {
				if (f.Action == "" || e.Action == f.Action) && (f.UserID == "" || e.UserID == f.UserID) &&
					(f.Target == "" || e.Target == f.Target) {
					matching = append(matching, e)
				}
			}
			want := matching[min(f.Offset, len(matching)):]
			if f.Limit > 0 {
				want = want[:min(f.Limit, len(want))]
			}
			got, total, err := s.Audit().List(ctx, f)
			must(t, err)
			if total != len(matching) {
				t.Errorf("total %d, want %d", total, len(matching))
			}
			if len(got) != len(want) {
				t.Fatalf("got %d entries, want %d", len(got), len(want))
			}
			for i := range got {
				equalAudit(t, &got[i], want[i])
			}
		})
	}

	bad := &store.AuditEntry{ID: "", Action: "task.run"}
	if err := s.Audit().Append(ctx, bad); err == nil {
		t.Error("Append with no id succeeded")
	}
}

func testAuditDeleteBefore(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := store.Now()
	var kept []*store.AuditEntry
	for i, age := range []time.Duration{72 * time.Hour, 48 * time.Hour, 24 * time.Hour, time.Hour, 0} {
		e := &store.AuditEntry{ID: store.NewID(), Time: now.Add(-age), Actor: "a", Action: "task.run",
			Detail: fmt.Sprint(i)}
		must(t, s.Audit().Append(ctx, e))
		if age <= 24*time.Hour {
			kept = append([]*store.AuditEntry{e}, kept...)
		}
	}
	n, err := s.Audit().DeleteBefore(ctx, now.Add(-24*time.Hour))
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteBefore = %d, want 2", n)
	}
	got, total, err := s.Audit().List(ctx, store.AuditFilter{})
	must(t, err)
	if total != len(kept) || len(got) != len(kept) {
		t.Fatalf("after DeleteBefore: %d entries (total %d), want %d", len(got), total, len(kept))
	}
	for i := range got {
		equalAudit(t, &got[i], kept[i])
	}
}
