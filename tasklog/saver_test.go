package tasklog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSaveEvery: with a short SaveEvery, lines reach the store long before
// Close, also after a store outage; each store call stays within the chunk
// limits.
func TestSaveEvery(t *testing.T) {
	st := newMemLogs()
	var logs logBuf
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.log"), Store: st, SaveEvery: 20 * time.Millisecond, Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	line := 0
	write := func(n int) {
		for range n {
			fmt.Fprintf(w, "line %d\n", line)
			line++
		}
	}
	stored := func(n int) func() bool {
		return func() bool { return len(st.lines(taskID)) == n }
	}

	write(10)
	eventually(t, 5*time.Second, "10 lines in the store", stored(10))

	// The store goes down: lines wait in the file, then arrive.
	down := errors.New("store down")
	st.setFail(func(int64, int) error { return down })
	write(12_000)
	eventually(t, 5*time.Second, "saving retried", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.failures >= 3
	})
	st.setFail(nil)
	eventually(t, 5*time.Second, "all lines in the store after the outage", stored(12_010))
	if st.maxLines > saveChunkLines {
		t.Fatalf("a store call got %d lines", st.maxLines)
	}
	if !strings.Contains(logs.String(), "store down") {
		t.Fatalf("the store error was not logged:\n%s", logs.String())
	}

	// The store loses its copy: ErrLogGap makes the saver start over.
	if err := st.DeleteLog(context.Background(), taskID); err != nil {
		t.Fatal(err)
	}
	write(5)
	eventually(t, 5*time.Second, "the store refilled after losing the log", stored(12_015))
	got := st.lines(taskID)
	for i, l := range got {
		if want := fmt.Sprintf("line %d", i); l != want {
			t.Fatalf("stored line %d = %q, want %q", i, l, want)
		}
	}
}

// TestCloseSavesEverything: Close retries the store until it works; when its
// ctx ends first it says how far it got, and Recover finishes the job.
func TestCloseSavesEverything(t *testing.T) {
	t.Run("retries", func(t *testing.T) {
		st := newMemLogs()
		fails := 0
		st.setFail(func(int64, int) error {
			if fails < 3 {
				fails++
				return errors.New("transient")
			}
			return nil
		})
		w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.log"), Store: st, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(w, "a\nb\r\nlast line without newline")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		total, err := w.Close(ctx)
		if err != nil || total != 3 {
			t.Fatalf("Close = %d, %v", total, err)
		}
		equalLines(t, "store", st.lines(taskID), []string{"a", "b", "last line without newline"})
		// Close again: same answer; Write and Read: closed.
		if total, err := w.Close(ctx); err != nil || total != 3 {
			t.Fatalf("second Close = %d, %v", total, err)
		}
		if _, err := w.Write([]byte("x\n")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		if _, err := w.Read(0, 1); !errors.Is(err, ErrClosed) {
			t.Fatalf("Read after Close: %v", err)
		}
	})
	t.Run("store down", func(t *testing.T) {
		st := newMemLogs()
		st.setFail(func(int64, int) error { return errors.New("store down") })
		path := filepath.Join(t.TempDir(), "task.log")
		var pub batches
		w, err := Open(Config{TaskID: taskID, Path: path, Store: st, Publish: pub.publish, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			fmt.Fprintf(w, "line %d\n", i)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		total, err := w.Close(ctx)
		if err == nil || total != 1000 || !strings.Contains(err.Error(), "0 of 1000 lines saved") {
			t.Fatalf("Close = %d, %v; want 1000 and an error saying 0 of 1000 lines saved", total, err)
		}
		equalLines(t, "batches", checkBatches(t, pub.get(), defaultBatchBytes, false), fileLines(t, path))

		st.setFail(nil)
		total, err = Recover(context.Background(), taskID, path, st)
		if err != nil || total != 1000 {
			t.Fatalf("Recover = %d, %v", total, err)
		}
		equalLines(t, "store", st.lines(taskID), fileLines(t, path))
	})
}
