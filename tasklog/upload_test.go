package tasklog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestRecover(t *testing.T) {
	var in bytes.Buffer
	for i := range 12_345 {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	in.WriteString("final line without newline")
	want := refLines(in.Bytes(), defaultMaxLine)

	for _, stored := range []int{0, 1, 7000, len(want) - 1, len(want)} {
		t.Run(fmt.Sprint(stored), func(t *testing.T) {
			// A crashed agent: the file has every line, the store some.
			path := filepath.Join(t.TempDir(), "task.log")
			if err := os.WriteFile(path, in.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			st := newMemLogs()
			if stored > 0 {
				if err := st.AppendLog(context.Background(), taskID, 0, want[:stored]); err != nil {
					t.Fatal(err)
				}
			}
			callsBefore := st.calls
			total, err := Recover(context.Background(), taskID, path, st)
			if err != nil || total != int64(len(want)) {
				t.Fatalf("Recover = %d, %v; want %d", total, err, len(want))
			}
			equalLines(t, "store", st.lines(taskID), want)
			for i, n := range st.sent {
				if n != 1 {
					t.Fatalf("line %d was sent %d times, want once", i, n)
				}
			}
			if stored == len(want) && st.calls != callsBefore {
				t.Fatalf("Recover sent lines the store already had")
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		st := newMemLogs()
		st.AppendLog(context.Background(), taskID, 0, []string{"a", "b"})
		total, err := Recover(context.Background(), taskID, filepath.Join(t.TempDir(), "nope"), st)
		if total != 2 || !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Recover = %d, %v; want 2 and ErrNotExist", total, err)
		}
	})
	t.Run("store ahead", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "task.log")
		os.WriteFile(path, []byte("a\n"), 0o644)
		st := newMemLogs()
		st.AppendLog(context.Background(), taskID, 0, []string{"a", "b", "c"})
		total, err := Recover(context.Background(), taskID, path, st)
		if total != 3 || !errors.Is(err, errStoreAhead) {
			t.Fatalf("Recover = %d, %v; want 3 and errStoreAhead", total, err)
		}
	})
	t.Run("store flaky", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "task.log")
		os.WriteFile(path, in.Bytes(), 0o644)
		st := newMemLogs()
		calls := 0
		st.setFail(func(int64, int) error {
			calls++
			if calls%2 == 1 {
				return errors.New("flaky")
			}
			return nil
		})
		total, err := Recover(context.Background(), taskID, path, st)
		if err != nil || total != int64(len(want)) {
			t.Fatalf("Recover = %d, %v", total, err)
		}
		equalLines(t, "store", st.lines(taskID), want)
	})
}
