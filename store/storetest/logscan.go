package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// ScanLog streams a stored log in order from any line, stops when told,
// and sees nothing of other tasks' logs.
func testLogScan(t *testing.T, s store.Store) {
	ctx := t.Context()
	l := s.Logs()
	id, other := store.NewID(), store.NewID()
	// Appended in pieces of different sizes, as a saver does, with a few
	// long lines among them.
	const n = 25_000
	lines := numbered("scan", n)
	for i := 0; i < n; i += 500 {
		lines[i] = strings.Repeat("x", 20_000) + fmt.Sprint(i)
	}
	for from, size := 0, 1; from < n; from, size = from+size, size*3 {
		must(t, l.AppendLog(ctx, id, int64(from), lines[from:min(from+size, n)]))
	}
	must(t, l.AppendLog(ctx, other, 0, []string{"other"}))

	scan := func(from int64, stop int) ([]int64, []string) {
		t.Helper()
		var ns []int64
		var got []string
		must(t, l.ScanLog(ctx, id, from, func(k int64, line string) bool {
			ns = append(ns, k)
			got = append(got, line)
			return stop <= 0 || len(ns) < stop
		}))
		return ns, got
	}
	for _, from := range []int64{0, 1, 4_999, 24_999} {
		ns, got := scan(from, 0)
		if int64(len(ns)) != n-from {
			t.Fatalf("ScanLog from %d saw %d lines, want %d", from, len(ns), n-from)
		}
		for i, k := range ns {
			if k != from+int64(i) {
				t.Fatalf("ScanLog from %d: line %d numbered %d", from, from+int64(i), k)
			}
		}
		equalLines(t, got, lines[from:])
	}
	if ns, _ := scan(10, 3); len(ns) != 3 || ns[2] != 12 {
		t.Errorf("ScanLog stopped after 3 saw %v", ns)
	}
	for _, task := range []struct {
		id   string
		from int64
	}{{id, n}, {id, n + 100}, {store.NewID(), 0}} {
		must(t, l.ScanLog(ctx, task.id, task.from, func(k int64, line string) bool {
			t.Fatalf("ScanLog of %s from %d saw line %d", task.id, task.from, k)
			return false
		}))
	}
	if err := l.ScanLog(ctx, id, -1, func(int64, string) bool { return true }); err == nil {
		t.Error("ScanLog from -1: no error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := l.ScanLog(cctx, id, 0, func(int64, string) bool { return true }); !errors.Is(err, context.Canceled) {
		t.Errorf("ScanLog with a cancelled context: %v, want context.Canceled", err)
	}
}
