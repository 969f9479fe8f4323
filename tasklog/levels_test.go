package tasklog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/loglevel"
)

// The Writer counts levels as lines are written, whatever the Writes'
// sizes, and Scan reads any part of the running log in order.
func TestWriterLevelsAndScan(t *testing.T) {
	var b strings.Builder
	const n = 50_000
	for i := range n {
		switch {
		case i%1000 == 7:
			fmt.Fprintf(&b, "2026-12-03 22:42:07 [spider] ERROR: line %d failed\n", i)
		case i%500 == 3:
			fmt.Fprintf(&b, "2026-12-03 22:42:07 [spider] WARNING: line %d slow\n", i)
		default:
			fmt.Fprintf(&b, "2026-12-03 22:42:07 [spider] INFO: GET https://example.com/error/%d\n", i)
		}
	}
	var levels loglevel.Counter
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.log"), Store: newMemLogs(), Levels: &levels})
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, []byte(b.String()), 3)
	if got := levels.Levels(); got.Error != n/1000 || got.Warning != n/500 {
		t.Errorf("levels while running = %+v, want %d errors and %d warnings", got, n/1000, n/500)
	}
	var seen []int64
	total, err := w.Scan(40_000, func(k int64, line string) bool {
		if !strings.Contains(line, fmt.Sprintf("line %d ", k)) && !strings.HasSuffix(line, fmt.Sprintf("/%d", k)) {
			t.Fatalf("scan: line %d is %q", k, line)
		}
		seen = append(seen, k)
		return k < 45_000
	})
	if err != nil || total != n {
		t.Fatalf("Scan = %d, %v; want %d lines", total, err, n)
	}
	if len(seen) != 5001 || seen[0] != 40_000 || seen[5000] != 45_000 {
		t.Errorf("scan saw %d lines from %d, want 40000..45000 then stop", len(seen), seen[0])
	}
	if total, err := w.Scan(n, func(int64, string) bool { t.Fatal("a line past the end"); return false }); err != nil || total != n {
		t.Errorf("Scan past the end = %d, %v", total, err)
	}
	if _, err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Scan(0, func(int64, string) bool { return true }); err != ErrClosed {
		t.Errorf("Scan after Close: %v, want ErrClosed", err)
	}
}

// CountLevels counts a log file's lines as the Writer did: a line longer
// than its buffer, and a last line without '\n', count too.
func TestCountLevels(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.log")
	long := "2026-12-03 22:42:07 [spider] ERROR: " + strings.Repeat("x", 200_000)
	text := "2026-12-03 22:42:07 [spider] WARNING: slow\n" + long + "\n" +
		"INFO: GET https://example.com/error/1\n" + "ERROR:root:the last line, cut short"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var c loglevel.Counter
	if err := CountLevels(path, &c); err != nil {
		t.Fatal(err)
	}
	if got := c.Levels(); got.Error != 2 || got.Warning != 1 {
		t.Errorf("levels %+v, want 2 errors and 1 warning", got)
	}
	if err := CountLevels(path+".missing", &c); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}
