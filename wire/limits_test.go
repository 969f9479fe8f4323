package wire_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/wire"
)

// A get_items reply stays within MaxReadBytes whatever the items' size,
// and does not read hundreds of large items to send four.
func TestReadItemsBounded(t *testing.T) {
	for _, tc := range []struct {
		size, limit, want int
	}{
		{100, 1000, 1000},
		{1 << 20, 100, 4},
		{(1 << 20) + 10, 100, 3},
		{8 << 20, 100, 1}, // one item always goes, whatever its size
		{100, 0, 0},
	} {
		item := json.RawMessage(`{"x":"` + strings.Repeat("a", tc.size-8) + `"}`)
		asked := 0
		got, err := wire.ReadItems(5, tc.limit, func(from int64, n int) ([]json.RawMessage, error) {
			asked += n
			out := make([]json.RawMessage, n)
			for i := range out {
				out[i] = item
			}
			return out, nil
		})
		if err != nil || len(got) != tc.want {
			t.Errorf("items of %d bytes, limit %d: %d items, %v; want %d", tc.size, tc.limit, len(got), err, tc.want)
		}
		if tc.size >= 1<<20 && asked > 16 {
			t.Errorf("items of %d bytes: read %d to send %d", tc.size, asked, len(got))
		}
	}
}

// A get_log reply, encoded, stays within MaxReadBytes: long lines, and
// lines that JSON escapes, make a shorter page; short lines fill it to
// the line limit.
func TestReadLinesBounded(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want int // lines, or -1: fewer than the limit
	}{
		{"short", "GET /page/25 200", wire.MaxReadEntries},
		{"64 KiB", strings.Repeat("x", 64<<10), -1},
		{"HTML", strings.Repeat("<a>", 20<<10), -1}, // \u003c: six bytes for one
		{"larger than the budget", strings.Repeat("y", wire.MaxReadBytes+1), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := 0
			next := int64(7)
			got, err := wire.ReadLines(7, wire.MaxReadEntries, func(from int64, n int) ([]string, error) {
				if from != next {
					t.Fatalf("read from %d, want %d (the line after the last read)", from, next)
				}
				out := make([]string, n)
				for i := range out {
					out[i] = tc.line
				}
				next += int64(n)
				lines += n
				return out, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want >= 0 && len(got) != tc.want:
				t.Fatalf("%d lines, want %d", len(got), tc.want)
			case tc.want < 0 && (len(got) == 0 || len(got) >= wire.MaxReadEntries):
				t.Fatalf("%d lines: want a short page", len(got))
			}
			b, _ := json.Marshal(wire.LogBatch{Lines: got})
			if len(got) > 1 && len(b) > wire.MaxReadBytes+200 {
				t.Errorf("the reply is %d bytes, over the %d budget", len(b), wire.MaxReadBytes)
			}
			if tc.want < 0 && len(b) < wire.MaxReadBytes/2 {
				t.Errorf("the reply is %d bytes: a page of long lines should come near the %d budget", len(b), wire.MaxReadBytes)
			}
			if lines > len(got)+2048 {
				t.Errorf("read %d lines to send %d", lines, len(got))
			}
		})
	}
}

// A read shorter than asked is the end of what there is: no more reads.
func TestReadLinesStopsAtTheEnd(t *testing.T) {
	calls := 0
	got, err := wire.ReadLines(0, 5000, func(from int64, n int) ([]string, error) {
		calls++
		return make([]string, min(n, 300-int(from))), nil
	})
	if err != nil || len(got) != 300 || calls != 2 {
		t.Fatalf("%d lines in %d reads, %v; want 300 in 2", len(got), calls, err)
	}
}
