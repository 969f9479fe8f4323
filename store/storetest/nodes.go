package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The nodes aggregate.

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
