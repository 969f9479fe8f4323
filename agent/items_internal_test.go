package agent

import (
	"encoding/json"
	"strings"
	"testing"
)

// A get_items reply stays near getItemsBytes whatever the items' size,
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
		got, err := readItems(5, tc.limit, func(from int64, n int) ([]json.RawMessage, error) {
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
		if tc.size >= 1<<20 && asked > getItemsFirst {
			t.Errorf("items of %d bytes: read %d to send %d", tc.size, asked, len(got))
		}
	}
}
