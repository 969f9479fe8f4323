package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The spiders aggregate.

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
	upd.DedupKeys, upd.Dedup = []string{"url", "ünï code"}, store.DedupIgnore
	must(t, s.Spiders().Update(ctx, &upd))
	got, err = s.Spiders().Get(ctx, sp.ID)
	must(t, err)
	equalSpider(t, got, &upd)
	upd.DedupKeys, upd.Dedup = []string{"id"}, store.DedupOverwrite
	must(t, s.Spiders().Update(ctx, &upd))
	got, err = s.Spiders().GetByName(ctx, upd.Name)
	must(t, err)
	equalSpider(t, got, &upd)
	_, err = s.Spiders().GetByName(ctx, "quotes")
	isErr(t, err, store.ErrNotFound, "GetByName of the old name")

	// Env and deduplication cleared.
	upd.Env, upd.DedupKeys, upd.Dedup = nil, nil, store.DedupNone
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
