package tasklog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestLocalFile: appended lines are numbered in order and read back by
// number from any depth (across index marks), located by byte offset, and
// numbering goes on after a resume that ends a torn last line.
func TestLocalFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "task.log")
	lf, err := openLocalFile(taskID, path, false)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for chunk := range 50 {
		var lines []string
		for i := range 100 {
			lines = append(lines, fmt.Sprintf("line %d.%d", chunk, i))
		}
		out, ends := lineBytes(lines...)
		first, err := lf.append(out, ends)
		if err != nil || first != int64(len(want)) {
			t.Fatalf("append = %d, %v; want %d", first, err, len(want))
		}
		want = append(want, lines...)
	}
	lines, size := lf.extent()
	if fi, err := os.Stat(path); err != nil || lines != int64(len(want)) || size != fi.Size() {
		t.Fatalf("extent = %d lines, %d bytes; want %d lines and the file's size", lines, size, len(want))
	}
	for _, r := range []struct {
		from  int64
		limit int
		want  []string
	}{
		{0, 3, want[:3]},
		{1020, 10, want[1020:1030]}, // across the first index mark
		{4990, 100, want[4990:]},
		{5000, 10, nil},
	} {
		got, err := lf.read(r.from, r.limit)
		if err != nil {
			t.Fatal(err)
		}
		equalLines(t, fmt.Sprintf("read(%d, %d)", r.from, r.limit), got, r.want)
	}
	lr := lf.reader()
	off, err := lf.locate(&lr, 3210)
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := lr.read(off, size, 1, 100, false); err != nil || len(got) != 1 || got[0] != want[3210] {
		t.Fatalf("the line at locate(3210) = %q, %v; want %q", got, err, want[3210])
	}
	if s, m := lf.tail(size); s != size || m.line != 0 {
		t.Fatalf("tail(size) = %d, %+v; want %d and the first mark", s, m, size)
	}
	if _, m := lf.tail(0); m.line != -1 {
		t.Fatalf("tail(0) = %+v; want no mark", m)
	}
	if err := lf.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lf.read(0, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}

	// A crash mid-write leaves a torn line with invalid UTF-8.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("torn \xe2\x82")
	f.Close()
	lf, err = openLocalFile(taskID, path, true)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.close()
	out, ends := lineBytes("after")
	if first, err := lf.append(out, ends); err != nil || first != 5001 {
		t.Fatalf("append after resume = %d, %v; want line 5001", first, err)
	}
	got, err := lf.read(4999, 10)
	if err != nil {
		t.Fatal(err)
	}
	equalLines(t, "read after resume", got, []string{want[4999], "torn \uFFFD", "after"})
}
