package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// Items.

// itemsOf makes n small items of a task, numbered in their "i" field.
func itemsOf(prefix string, n int) []json.RawMessage {
	out := make([]json.RawMessage, n)
	for i := range out {
		out[i] = json.RawMessage(fmt.Sprintf(`{"url":"https://example.com/%s/%d","i":%d,"title":"item %d"}`, prefix, i, i, i))
	}
	return out
}

func raw(items ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(items))
	for i, it := range items {
		out[i] = json.RawMessage(it)
	}
	return out
}

// jsonEqual compares two JSON texts as values: a store may re-encode an
// item (MongoDB keeps it as a document), but not change it. Numbers are
// compared exactly, whatever their size.
func jsonEqual(a, b []byte) bool {
	x, errX := decodeJSON(a)
	y, errY := decodeJSON(b)
	return errX == nil && errY == nil && valueEqual(x, y)
}

func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	return v, dec.Decode(&v)
}

func valueEqual(x, y any) bool {
	switch x := x.(type) {
	case json.Number:
		y, ok := y.(json.Number)
		if !ok {
			return false
		}
		fx, _, errX := big.ParseFloat(string(x), 10, 200, big.ToNearestEven)
		fy, _, errY := big.ParseFloat(string(y), 10, 200, big.ToNearestEven)
		return errX == nil && errY == nil && fx.Cmp(fy) == 0
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !valueEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(x, y)
	}
}

// checkItems reads a task's items and compares their data with want, and
// their numbers with from, from+1, ….
func checkItems(t testing.TB, s store.Store, spiderID, taskID string, want []json.RawMessage) []store.Item {
	t.Helper()
	got, err := s.Items().ReadItems(t.Context(), spiderID, taskID, 0, len(want)+10)
	must(t, err)
	equalItems(t, got, 0, want)
	n, _, err := s.Items().ItemCount(t.Context(), spiderID, taskID)
	must(t, err)
	if n != int64(len(want)) {
		t.Fatalf("ItemCount = %d, want %d", n, len(want))
	}
	return got
}

func equalItems(t testing.TB, got []store.Item, from int64, want []json.RawMessage) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d items, want %d", len(got), len(want))
	}
	for i, it := range got {
		if it.N != from+int64(i) {
			t.Fatalf("item %d has number %d", from+int64(i), it.N)
		}
		if !jsonEqual(it.Data, want[i]) {
			t.Fatalf("item %d = %.200s, want %.200s", it.N, it.Data, want[i])
		}
	}
}

func itemCount(t testing.TB, s store.Store, spiderID, taskID string) (int64, store.ItemCounts) {
	t.Helper()
	n, c, err := s.Items().ItemCount(t.Context(), spiderID, taskID)
	must(t, err)
	return n, c
}

func testItemRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, task := store.NewID(), store.NewID()
	items := raw(
		`{"title":"ünïcödé 日本語 🙂","price":12.5,"n":-3,"ok":true,"none":null}`,
		`{"nested":{"a":[1,2,{"b":"c"}],"d":{"e":{"f":"deep"}}},"empty":{},"list":[]}`,
		`{}`,
		`{"quote":"she said \"hi\"\n\ttab","html":"<a href=\"x\">&amp;</a>","esc":"\u0001"}`,
		`{"big":9007199254740991,"small":-0.000125,"exp":1.5e+300}`,
		`{"z":1,"a":2,"m":3}`,
		// What MongoDB cannot keep as a field as it is, every store keeps.
		`{"a.b":1,"$x":2,"":3,"ok":"kept","k\u0000":4}`,
		`{"n":{"$y":1,"c.d":[{"$z":1}],"fine":true},"m":[1,{"x.y":2}]}`,
		`{"big":12345678901234567890123,"huge":1e400,"tiny":-1e-400,"int64":-9223372036854775808}`,
		strings.Repeat(`{"d":`, 150)+`"deep"`+strings.Repeat(`}`, 150),
	)
	before := store.Now()
	c, err := s.Items().AppendItems(ctx, sp, task, 0, items, store.Dedup{})
	must(t, err)
	if c != (store.ItemCounts{New: int64(len(items))}) {
		t.Errorf("AppendItems counts %+v, want all %d new", c, len(items))
	}
	got := checkItems(t, s, sp, task, items)
	for _, it := range got {
		saved := it.Saved
		utc(t, "Saved", &saved)
		if it.TaskID != task || it.Outcome != store.ItemNew || !it.Current ||
			saved.Before(before) || saved.After(store.Now()) || !saved.Equal(it.Saved) {
			t.Errorf("item %d: %+v, want task %s, new, current, saved at about %v", it.N, it, task, before)
		}
	}
	// Key order is the item's own.
	if keys := topKeys(t, got[5].Data); !slices.Equal(keys, []string{"z", "a", "m"}) {
		t.Errorf("keys of item 5 come back as %q, want z, a, m", keys)
	}
	for _, tc := range []struct {
		name        string
		from        int64
		limit, want int
	}{
		{"middle", 2, 3, 3}, {"end, short", int64(len(items) - 2), 10, 2}, {"at the end", int64(len(items)), 5, 0},
		{"past the end", 50, 5, 0}, {"zero limit", 0, 0, 0}, {"negative limit", 0, -1, 0},
	} {
		page, err := s.Items().ReadItems(ctx, sp, task, tc.from, tc.limit)
		must(t, err)
		var want []json.RawMessage
		if tc.want > 0 {
			want = items[tc.from : tc.from+int64(tc.want)]
		}
		t.Run(tc.name, func(t *testing.T) { equalItems(t, page, tc.from, want) })
	}
	if _, err := s.Items().ReadItems(ctx, sp, task, -1, 10); err == nil {
		t.Error("ReadItems from -1 succeeded")
	}
}

// topKeys are the top-level keys of a JSON object, in order.
func topKeys(t testing.TB, data []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	var keys []string
	_, err := dec.Token() // {
	for err == nil && dec.More() {
		var tok json.Token
		if tok, err = dec.Token(); err == nil {
			keys = append(keys, fmt.Sprint(tok))
			var skip json.RawMessage
			err = dec.Decode(&skip)
		}
	}
	must(t, err)
	return keys
}

func testItemAppend(t *testing.T, s store.Store) {
	ctx := t.Context()
	it := s.Items()
	sp, task := store.NewID(), store.NewID()
	items := itemsOf("a", 10)

	c, err := it.AppendItems(ctx, sp, task, 0, nil, store.Dedup{})
	must(t, err)
	if c != (store.ItemCounts{}) {
		t.Errorf("AppendItems of nothing counted %+v", c)
	}
	_, err = it.AppendItems(ctx, sp, task, 1, items[1:3], store.Dedup{})
	isErr(t, err, store.ErrLogGap, "AppendItems past the end of no items")

	_, err = it.AppendItems(ctx, sp, task, 0, items[:4], store.Dedup{})
	must(t, err)
	// A retried batch is stored once, and counted once.
	c, err = it.AppendItems(ctx, sp, task, 0, items[:4], store.Dedup{})
	must(t, err)
	if c != (store.ItemCounts{}) {
		t.Errorf("a retried batch counted %+v, want nothing", c)
	}
	checkItems(t, s, sp, task, items[:4])

	// Overlapping: only the new tail is stored; the stored head wins.
	resent := slices.Clone(items[2:7])
	resent[0] = json.RawMessage(`{"changed":true}`)
	c, err = it.AppendItems(ctx, sp, task, 2, resent, store.Dedup{})
	must(t, err)
	if c != (store.ItemCounts{New: 3}) {
		t.Errorf("overlapping batch counted %+v, want 3 new", c)
	}
	checkItems(t, s, sp, task, items[:7])
	_, err = it.AppendItems(ctx, sp, task, 8, items[8:], store.Dedup{})
	isErr(t, err, store.ErrLogGap, "AppendItems one past the end")
	if _, err := it.AppendItems(ctx, sp, task, -1, items, store.Dedup{}); err == nil || errors.Is(err, store.ErrLogGap) {
		t.Errorf("AppendItems from -1: %v, want a plain error", err)
	}

	// Bad items are refused with the batch, and nothing of it is stored.
	for name, bad := range map[string]json.RawMessage{
		"not JSON":     json.RawMessage(`{"a":`),
		"an array":     json.RawMessage(`[1,2]`),
		"a string":     json.RawMessage(`"x"`),
		"null":         json.RawMessage(`null`),
		"reserved key": json.RawMessage(`{"_task_id":"x"}`),
		"too big":      json.RawMessage(`{"a":"` + strings.Repeat("x", store.MaxItemBytes) + `"}`),
	} {
		batch := []json.RawMessage{items[7], bad}
		if _, err := it.AppendItems(ctx, sp, task, 7, batch, store.Dedup{}); err == nil || !strings.Contains(err.Error(), "item 8") {
			t.Errorf("AppendItems with an item that is %s: %v, want an error naming item 8", name, err)
		}
	}
	_, err = it.AppendItems(ctx, sp, task, 7, items[7:], store.Dedup{Keys: []string{"url"}, Policy: "drop"})
	if err == nil {
		t.Error("AppendItems with an unknown dedup policy succeeded")
	}
	checkItems(t, s, sp, task, items[:7])

	// The largest item an item may be is taken.
	largest := json.RawMessage(`{"a":"` + strings.Repeat("é", (store.MaxItemBytes-8)/2) + `"}`)
	must2(t)(it.AppendItems(ctx, sp, task, 7, append(slices.Clone(items[7:]), largest), store.Dedup{}))
	checkItems(t, s, sp, task, append(slices.Clone(items), largest))

	for _, ids := range [][2]string{{"../x", task}, {sp, ""}, {"", task}} {
		if _, err := it.AppendItems(ctx, ids[0], ids[1], 0, items[:1], store.Dedup{}); err == nil {
			t.Errorf("AppendItems to spider %q, task %q succeeded", ids[0], ids[1])
		}
	}

	// Items are per task.
	other := store.NewID()
	must2(t)(it.AppendItems(ctx, sp, other, 0, items[:1], store.Dedup{}))
	checkItems(t, s, sp, other, items[:1])
}

// must2 checks the error of a call that returns a value too.
func must2(t testing.TB) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		must(t, err)
	}
}

func testItemConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp, task := store.NewID(), store.NewID()
	items := itemsOf("c", 1500)
	const workers = 6
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			// Each appends the whole sequence, from wherever its last
			// append ended, overlapping the others, as retries would.
			for from := 0; from < len(items); {
				end := min(from+50+w*17, len(items))
				if _, err := s.Items().AppendItems(ctx, sp, task, int64(from), items[from:end], store.Dedup{}); err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
					return
				}
				from = end
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkItems(t, s, sp, task, items)
	if _, c := itemCount(t, s, sp, task); c != (store.ItemCounts{New: int64(len(items))}) {
		t.Errorf("counts after concurrent appends %+v, want %d new", c, len(items))
	}
}

func testItemCancelledContext(t *testing.T, s store.Store) {
	sp, task := store.NewID(), store.NewID()
	must2(t)(s.Items().AppendItems(t.Context(), sp, task, 0, itemsOf("x", 3), store.Dedup{}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	it := s.Items()
	for name, call := range map[string]func() error{
		"AppendItems": func() error {
			_, err := it.AppendItems(ctx, sp, task, 3, itemsOf("y", 1), store.Dedup{})
			return err
		},
		"ReadItems":   func() error { _, err := it.ReadItems(ctx, sp, task, 0, 10); return err },
		"ItemCount":   func() error { _, _, err := it.ItemCount(ctx, sp, task); return err },
		"SpiderItems": func() error { _, _, err := it.SpiderItems(ctx, sp, 10, 0); return err },
		"EachItem":    func() error { return it.EachItem(ctx, sp, task, func(store.Item) error { return nil }) },
		"DeleteItems": func() error { return it.DeleteItems(ctx, sp, task) },
	} {
		if err := call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	// Nothing happened.
	checkItems(t, s, sp, task, itemsOf("x", 3))
}
