package tasklog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// memItems is a store.Items on top of memLogs (the same append semantics
// and failure injection), recording the spider and dedup it is given.
type memItems struct {
	*memLogs
	mu       sync.Mutex
	spiderID string
	dedup    store.Dedup
}

var _ store.Items = (*memItems)(nil)

func (m *memItems) AppendItems(ctx context.Context, spiderID, taskID string, from int64, items []json.RawMessage, dedup store.Dedup) (store.ItemCounts, error) {
	m.mu.Lock()
	m.spiderID, m.dedup = spiderID, dedup
	m.mu.Unlock()
	lines := make([]string, len(items))
	for i, it := range items {
		lines[i] = string(it)
	}
	err := m.AppendLog(ctx, taskID, from, lines)
	return store.ItemCounts{New: int64(len(items))}, err
}

func (m *memItems) ItemCount(ctx context.Context, spiderID, taskID string) (int64, store.ItemCounts, error) {
	n, err := m.LogLen(ctx, taskID)
	return n, store.ItemCounts{New: n}, err
}

func (m *memItems) ReadItems(context.Context, string, string, int64, int) ([]store.Item, error) {
	return nil, errors.New("memItems: not used")
}

func (m *memItems) SpiderItems(context.Context, string, int, int) ([]store.Item, int64, error) {
	return nil, 0, errors.New("memItems: not used")
}

func (m *memItems) EachItem(context.Context, string, string, func(store.Item) error) error {
	return errors.New("memItems: not used")
}

func (m *memItems) DeleteItems(context.Context, string, string) error { return nil }

// TestItems: a task's items, one compact JSON object per line, reach the
// store exactly once and in order, through a store outage, with the
// spider and its dedup; the largest item is never cut; live batches come
// in order and hold every item.
func TestItems(t *testing.T) {
	st := &memItems{memLogs: newMemLogs()}
	var down sync.Mutex // held while the store is down
	down.Lock()
	st.setFail(func(int64, int) error {
		if !down.TryLock() {
			return errors.New("store down")
		}
		down.Unlock()
		return nil
	})
	var want []string
	for i := range 20_000 {
		want = append(want, fmt.Sprintf(`{"n":%d,"url":"https://example.com/p/%d","title":"p\u00e9ge \"%d\""}`, i, i, i))
	}
	// The largest item allowed, with a multi-byte rune across Write's
	// chunks, in the middle of the others.
	room := ItemMaxLine - len(`{"body":""}`)
	big := `{"body":"` + strings.Repeat("é", room/2) + strings.Repeat("x", room%2) + `"}`
	if len(big) != ItemMaxLine {
		t.Fatalf("big item is %d bytes, want %d", len(big), ItemMaxLine)
	}
	want = append(want[:10_000], append([]string{big}, want[10_000:]...)...)

	var pub batches
	dedup := store.Dedup{Keys: []string{"url"}, Policy: store.DedupOverwrite}
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.items"), MaxLine: ItemMaxLine,
		Store: ItemStore{Items: st, SpiderID: "spider1", Dedup: dedup}, Publish: pub.publish, SaveEvery: 10 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	// Items arrive as request bodies do: many per Write.
	for i := 0; i < len(want); i += 700 {
		body := strings.Join(want[i:min(i+700, len(want))], "\n") + "\n"
		if _, err := w.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	// The store is down until it has refused a few rounds.
	eventually(t, 10*time.Second, "the store refused no save", func() bool {
		st.memLogs.mu.Lock()
		defer st.memLogs.mu.Unlock()
		return st.failures >= 3
	})
	down.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total, err := w.Close(ctx)
	if err != nil || total != int64(len(want)) {
		t.Fatalf("Close = %d, %v; want %d", total, err, len(want))
	}
	equalLines(t, "store", st.lines(taskID), want)
	for i, n := range st.sent {
		if n != 1 {
			t.Fatalf("item %d was stored %d times, want once", i, n)
		}
	}
	if st.spiderID != "spider1" || st.dedup.Policy != dedup.Policy || len(st.dedup.Keys) != 1 {
		t.Errorf("saved for spider %q with dedup %+v, want spider1 and %+v", st.spiderID, st.dedup, dedup)
	}
	equalLines(t, "batches", checkBatches(t, pub.get(), defaultBatchBytes, false), want)
}

// A task that saves no item (or prints no line) needs nothing from the
// store: its end does not wait for a store that is away.
func TestNothingToSave(t *testing.T) {
	st := &memItems{memLogs: newMemLogs()}
	st.setFail(func(int64, int) error { return errors.New("store down") })
	var pub batches
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.items"), MaxLine: ItemMaxLine,
		Store: ItemStore{Items: st, SpiderID: "spider1"}, Publish: pub.publish, SaveEvery: 10 * time.Millisecond,
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if total, err := w.Close(ctx); err != nil || total != 0 {
		t.Fatalf("Close = %d, %v; want 0 and no error", total, err)
	}
	if st.lenCalls != 0 || st.calls != 0 || len(pub.get()) != 0 {
		t.Errorf("%d length and %d append calls to the store, %d batches; want none", st.lenCalls, st.calls, len(pub.get()))
	}
}
