package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Concurrency and cancelled contexts.

// testConcurrent has several goroutines use one store at once, as the
// master's handlers and an agent do. Run it with -race.
func testConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers = 8
	shared := store.NewID()
	sharedLines := numbered("shared", 3000)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			errs <- concurrentWorker(ctx, s, w, shared, sharedLines)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	checkLog(t, s, shared, sharedLines)
	got := readFile(t, s, "contended")
	if len(got) < 1000 || !bytes.Equal(got, bytes.Repeat(got[:1], len(got))) || len(got) != 1000+int(got[0]) {
		t.Errorf("contended file is torn (%d bytes)", len(got))
	}
	spiders, err := s.Spiders().List(ctx)
	must(t, err)
	if c := countName(spiders, "contended"); c != 1 {
		t.Errorf("%d spiders named %q after concurrent Creates, want 1", c, "contended")
	}
	nodes, err := s.Nodes().List(ctx)
	must(t, err)
	if len(nodes) != workers {
		t.Errorf("%d nodes after %d workers registered one each", len(nodes), workers)
	}
	_, total, err := s.Tasks().List(ctx, store.TaskFilter{})
	must(t, err)
	if total != workers*5 {
		t.Errorf("%d tasks after %d workers created 5 each", total, workers)
	}
}

func concurrentWorker(ctx context.Context, s store.Store, w int, shared string, sharedLines []string) error {
	n := node(fmt.Sprintf("worker-%d", w))
	if err := s.Nodes().Register(ctx, n); err != nil {
		return err
	}
	sp := newSpider(fmt.Sprintf("spider-%d", w))
	if err := s.Spiders().Create(ctx, sp); err != nil {
		return err
	}
	// Everyone races for one name: exactly one may win, which the caller
	// cannot check from here, so only the error kind is checked.
	if err := s.Spiders().Create(ctx, newSpider("contended")); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("worker %d: contended Create: %w", w, err)
	}
	for i := range 5 {
		task := newTask(sp, n.ID, store.Now())
		if err := s.Tasks().Create(ctx, task); err != nil {
			return err
		}
		lines := numbered(fmt.Sprintf("w%d-t%d", w, i), 300)
		for from := 0; from < len(lines); from += 70 {
			if err := s.Logs().AppendLog(ctx, task.ID, int64(from), lines[from:min(from+70, len(lines))]); err != nil {
				return err
			}
		}
		task.Status, task.LogLines = store.TaskFinished, int64(len(lines))
		if err := s.Tasks().Update(ctx, task); err != nil {
			return err
		}
		got, err := s.Logs().ReadLog(ctx, task.ID, 0, 1000)
		if err != nil {
			return err
		}
		if !slices.Equal(got, lines) {
			return fmt.Errorf("worker %d: task %d log read back wrong", w, i)
		}
		if err := s.Nodes().Touch(ctx, n.ID, store.Now()); err != nil {
			return err
		}
		if _, err := s.Nodes().MarkStale(ctx, store.Now().Add(-time.Hour)); err != nil {
			return err
		}
		if _, err := s.Tasks().Pending(ctx, n.ID, 10); err != nil {
			return err
		}
	}
	// Every worker appends the same shared log, from wherever it finds the
	// end, overlapping the others: the result must still be exact.
	for from := 0; from < len(sharedLines); {
		end := min(from+97+w*13, len(sharedLines))
		if err := s.Logs().AppendLog(ctx, shared, int64(from), sharedLines[from:end]); err != nil {
			return fmt.Errorf("worker %d: shared AppendLog: %w", w, err)
		}
		from = end
	}
	data := bytes.Repeat([]byte{byte(w)}, 1000+w)
	name := fmt.Sprintf("w/%d", w)
	if _, _, err := s.Files().Put(ctx, name, bytes.NewReader(data)); err != nil {
		return err
	}
	// Everyone replaces one blob; the caller checks that whoever won left it
	// whole.
	if _, _, err := s.Files().Put(ctx, "contended", bytes.NewReader(data)); err != nil {
		return err
	}
	rc, err := s.Files().Open(ctx, name)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		return fmt.Errorf("worker %d: read back %d bytes of %s: %v", w, len(got), name, err)
	}
	return nil
}

// testCancelledContext checks that every method gives up on a cancelled
// context instead of doing the work.
func testCancelledContext(t *testing.T, s store.Store) {
	n := node("ctx")
	must(t, s.Nodes().Register(t.Context(), n))
	sp := newSpider("ctx")
	task := newTask(sp, "", store.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	id := store.NewID()
	calls := map[string]func() error{
		"Ping":             func() error { return s.Ping(ctx) },
		"Nodes.Register":   func() error { return s.Nodes().Register(ctx, node("x")) },
		"Nodes.Get":        func() error { _, err := s.Nodes().Get(ctx, n.ID); return err },
		"Nodes.List":       func() error { _, err := s.Nodes().List(ctx); return err },
		"Nodes.Touch":      func() error { return s.Nodes().Touch(ctx, n.ID, store.Now()) },
		"Nodes.SetOffline": func() error { return s.Nodes().SetOffline(ctx, n.ID) },
		"Nodes.MarkStale":  func() error { _, err := s.Nodes().MarkStale(ctx, store.Now()); return err },
		"Spiders.Create":   func() error { return s.Spiders().Create(ctx, sp) },
		"Spiders.Get":      func() error { _, err := s.Spiders().Get(ctx, id); return err },
		"Spiders.GetByName": func() error {
			_, err := s.Spiders().GetByName(ctx, "ctx")
			return err
		},
		"Spiders.List":   func() error { _, err := s.Spiders().List(ctx); return err },
		"Spiders.Update": func() error { return s.Spiders().Update(ctx, sp) },
		"Spiders.Delete": func() error { return s.Spiders().Delete(ctx, id) },
		"Tasks.Create":   func() error { return s.Tasks().Create(ctx, task) },
		"Tasks.Get":      func() error { _, err := s.Tasks().Get(ctx, id); return err },
		"Tasks.List": func() error {
			_, _, err := s.Tasks().List(ctx, store.TaskFilter{})
			return err
		},
		"Tasks.Pending": func() error { _, err := s.Tasks().Pending(ctx, id, 10); return err },
		"Tasks.Update":  func() error { return s.Tasks().Update(ctx, task) },
		"Tasks.Delete":  func() error { return s.Tasks().Delete(ctx, id) },
		"Files.Put": func() error {
			_, _, err := s.Files().Put(ctx, "f", strings.NewReader("x"))
			return err
		},
		"Files.Open":     func() error { _, err := s.Files().Open(ctx, "f"); return err },
		"Files.Delete":   func() error { return s.Files().Delete(ctx, "f") },
		"Logs.AppendLog": func() error { return s.Logs().AppendLog(ctx, id, 0, []string{"x"}) },
		"Logs.ReadLog":   func() error { _, err := s.Logs().ReadLog(ctx, id, 0, 10); return err },
		"Logs.LogLen":    func() error { _, err := s.Logs().LogLen(ctx, id); return err },
		"Logs.DeleteLog": func() error { return s.Logs().DeleteLog(ctx, id) },
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range calls {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := calls[name](); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
		}
	}
	// Nothing happened.
	got, err := s.Nodes().Get(t.Context(), n.ID)
	must(t, err)
	equalNode(t, got, n)
	_, err = s.Spiders().Get(t.Context(), sp.ID)
	isErr(t, err, store.ErrNotFound, "spider created with a cancelled context")
}
