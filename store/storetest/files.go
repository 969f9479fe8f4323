package storetest

import (
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// The files aggregate.

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
