package tasklog

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const taskID = "64b7f0c2a1b2c3d4e5f60718"

// logBuf collects a Writer's log output.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// batches collects published batches.
type batches struct {
	mu  sync.Mutex
	all []wire.LogBatch
}

func (b *batches) publish(ctx context.Context, x wire.LogBatch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all = append(b.all, x)
	return nil
}

func (b *batches) get() []wire.LogBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.all)
}

// checkBatches checks that batches are in order, do not overlap, and are
// within the size limit, and returns their lines. With gaps allowed (a
// failing publisher), only order and non-overlap are required.
func checkBatches(t *testing.T, bs []wire.LogBatch, batchBytes int, gapsAllowed bool) []string {
	t.Helper()
	var lines []string
	next := int64(0)
	for i, b := range bs {
		if b.TaskID != taskID {
			t.Fatalf("batch %d: task id %q", i, b.TaskID)
		}
		if len(b.Lines) == 0 {
			t.Fatalf("batch %d is empty", i)
		}
		if b.From < next || (!gapsAllowed && b.From != next) {
			t.Fatalf("batch %d starts at line %d, want %d", i, b.From, next)
		}
		size := 0
		for _, l := range b.Lines {
			size += len(l) + 1
		}
		if size > batchBytes && len(b.Lines) > 1 {
			t.Fatalf("batch %d holds %d bytes in %d lines, over %d", i, size, len(b.Lines), batchBytes)
		}
		lines = append(lines, b.Lines...)
		next = b.From + int64(len(b.Lines))
	}
	return lines
}

// fileLines reads a log file written by a Writer.
func fileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		t.Fatalf("log file does not end with a newline")
	}
	return strings.Split(string(b[:len(b)-1]), "\n")
}

// equalLines reports the first difference between two line lists.
func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: line %d is %.80q, want %.80q", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d lines, want %d", what, len(got), len(want))
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeChunks writes in to w in random odd-sized pieces: some of a single
// byte, most a few KiB, so lines, runes and CRLFs are cut by Writes.
func writeChunks(t testing.TB, w *Writer, in []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for len(in) > 0 {
		var n int
		switch r := rng.IntN(10); {
		case r == 0:
			n = 1
		case r < 3:
			n = 1 + rng.IntN(17)
		default:
			n = 1 + rng.IntN(20011)
		}
		n = min(n, len(in))
		if m, err := w.Write(in[:n]); err != nil || m != n {
			t.Fatalf("Write: %d, %v", m, err)
		}
		in = in[n:]
	}
}
