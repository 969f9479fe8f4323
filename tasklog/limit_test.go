package tasklog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMaxBytes: the first MaxBytes bytes of output are the log, however the
// output was cut into Writes; then one note where the limit cut it and one
// at the end saying how much was not kept, in the file, the store and the
// live batches alike.
func TestMaxBytes(t *testing.T) {
	flood := bytes.Repeat([]byte("GET https://example.com/page 200\n"), 10<<20/33)
	for _, tc := range []struct {
		name     string
		in       string
		max      int64
		cutNote  string // "" when nothing is cut
		limitMsg string
	}{
		{name: "under", in: "a\nb\nc", max: 10},
		{name: "exactly", in: "a\nb\nc\n", max: 6},
		{name: "mid-line", in: "aaa\nbbbbbb\ncc", max: 7, limitMsg: "7 B",
			cutNote: "[crawlhub] 2 more lines (6 B) of output were not kept: the log's limit is 7 B"},
		{name: "at a line's end", in: "aaa\nbbb\ncc\n", max: 4, limitMsg: "4 B",
			cutNote: "[crawlhub] 2 more lines (7 B) of output were not kept: the log's limit is 4 B"},
		{name: "binary", in: "\x00\xff\xfe\x00" + strings.Repeat("\xc3", 100), max: 3, limitMsg: "3 B",
			cutNote: "[crawlhub] 1 more line (101 B) of output were not kept: the log's limit is 3 B"},
		{name: "flood", in: string(flood), max: 1 << 20, limitMsg: "1 MiB",
			cutNote: fmt.Sprintf("[crawlhub] %d more lines (9 MiB) of output were not kept: the log's limit is 1 MiB", (len(flood)-1<<20)/33+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in)
			want := refLines(in[:min(int64(len(in)), tc.max)], defaultMaxLine)
			if tc.cutNote != "" {
				want = append(want, "[crawlhub] the log reached its limit of "+tc.limitMsg+": the rest of the output is counted, not kept", tc.cutNote)
			}
			for seed := range uint64(3) {
				st := newMemLogs()
				var pub batches
				path := filepath.Join(t.TempDir(), "task.log")
				w, err := Open(Config{TaskID: taskID, Path: path, Store: st, Publish: pub.publish, MaxBytes: tc.max})
				if err != nil {
					t.Fatal(err)
				}
				if seed == 0 {
					if n, err := w.Write(in); n != len(in) || err != nil {
						t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(in))
					}
				} else {
					writeChunks(t, w, in, seed)
				}
				total, err := w.Close(context.Background())
				if err != nil || total != int64(len(want)) {
					t.Fatalf("Close = %d, %v; want %d lines", total, err, len(want))
				}
				equalLines(t, "file", fileLines(t, path), want)
				equalLines(t, "store", st.lines(taskID), want)
				equalLines(t, "batches", checkBatches(t, pub.get(), defaultBatchBytes, false), want)
			}
		})
	}
}

// TestWriteFailsOnFullDisk: a log file that cannot be written fails Write
// with the system's reason, and every Write after it, so that no later line
// is numbered as if the lost ones had never been; Close saves what the file
// has and leaves the failure to WriteErr. /dev/full answers every write
// with ENOSPC, as a full disk does.
func TestWriteFailsOnFullDisk(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full:", err)
	}
	st := newMemLogs()
	w, err := Open(Config{TaskID: taskID, Path: "/dev/full", Store: st, Publish: (&batches{}).publish})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write([]byte("first line\n"))
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("Write on a full disk: %v, want ENOSPC", err)
	}
	if _, again := w.Write([]byte("second line\n")); !errors.Is(again, syscall.ENOSPC) {
		t.Fatalf("Write after a failed one: %v, want the same error", again)
	}
	if !errors.Is(w.WriteErr(), syscall.ENOSPC) {
		t.Fatalf("WriteErr = %v", w.WriteErr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if total, err := w.Close(ctx); total != 0 || err != nil {
		t.Fatalf("Close = %d, %v; want 0 lines and no error (the store has all the file has)", total, err)
	}
	if got := st.lines(taskID); len(got) != 0 {
		t.Fatalf("store has %q", got)
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB",
		64 << 20: "64 MiB", 10<<20 + 1: "10 MiB", 1 << 30: "1 GiB", 5 << 40: "5 TiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
