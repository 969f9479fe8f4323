package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// Task logs.

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
