package tasklog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// millionLines returns a task output that makes exactly n lines, ending
// without '\n', with CRLF, invalid UTF-8, other scripts, ANSI colours,
// empty lines and one 200 KiB line that becomes four lines.
func millionLines(n int) []byte {
	var b bytes.Buffer
	for i := 0; i < n-3; i++ {
		switch {
		case i == n/2:
			b.WriteString(strings.Repeat("L", 200<<10))
		case i%97 == 0:
			fmt.Fprintf(&b, "crlf line %d\r", i)
		case i%101 == 0:
			fmt.Fprintf(&b, "bad \xff\xfe utf-8 \xe2\x82 %d", i)
		case i%103 == 0:
			fmt.Fprintf(&b, "日本語のログ %d é", i)
		case i%107 == 0:
		default:
			fmt.Fprintf(&b, "\x1b[32mINFO\x1b[0m crawled https://example.com/p/%d status=200", i)
		}
		if i < n-4 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func TestMillionLines(t *testing.T) {
	const n = 1_000_000
	in := millionLines(n)
	want := refLines(in, defaultMaxLine)
	if len(want) != n {
		t.Fatalf("test input makes %d lines, want %d", len(want), n)
	}
	big := slices.IndexFunc(want, func(l string) bool { return len(l) > 1000 })
	for i, size := range []int{64 << 10, 64 << 10, 64 << 10, 8 << 10} {
		if len(want[big+i]) != size {
			t.Fatalf("the 200 KiB line's piece %d has %d bytes, want %d", i, len(want[big+i]), size)
		}
	}

	st := newMemLogs()
	var pub batches
	var logs logBuf
	path := filepath.Join(t.TempDir(), "task.log")
	w, err := Open(Config{TaskID: taskID, Path: path, Store: st, Publish: pub.publish, SaveEvery: 100 * time.Millisecond, Log: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, in, 1)

	// Before Close the final line has no '\n' yet: it is not a line yet.
	if got := w.Lines(); got != n-1 {
		t.Fatalf("Lines before Close = %d, want %d", got, n-1)
	}
	for _, r := range []struct {
		from  int64
		limit int
		want  []string
	}{
		{0, 10, want[:10]},
		{0, 1, want[:1]},
		{int64(big) - 2, 7, want[big-2 : big+5]},
		{500_123, 1000, want[500_123:501_123]},
		{1023, 3, want[1023:1026]}, // across an index mark
		{n - 6, 10, want[n-6 : n-1]},
		{n - 1, 10, nil},
		{1 << 40, 10, nil},
		{5, 0, nil},
	} {
		got, err := w.Read(r.from, r.limit)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", r.from, r.limit, err)
		}
		equalLines(t, fmt.Sprintf("Read(%d, %d)", r.from, r.limit), got, r.want)
	}
	if _, err := w.Read(-1, 5); err == nil {
		t.Fatal("Read(-1) did not fail")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	total, err := w.Close(ctx)
	if err != nil || total != n {
		t.Fatalf("Close = %d, %v; want %d", total, err, n)
	}

	equalLines(t, "file", fileLines(t, path), want)
	equalLines(t, "store", st.lines(taskID), want)
	bs := pub.get()
	equalLines(t, "batches", checkBatches(t, bs, defaultBatchBytes, false), want)
	if len(bs) > n/100 {
		t.Fatalf("%d batches for %d lines: batching does not batch", len(bs), n)
	}
	if st.maxLines > saveChunkLines || st.maxBytes > saveChunkBytes {
		t.Fatalf("a store call got %d lines, %d bytes: over the chunk limits", st.maxLines, st.maxBytes)
	}
	if strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("unexpected warnings:\n%s", logs.String())
	}
	t.Logf("%d lines, %d batches, %d store calls", n, len(bs), st.calls)
}

// TestReadWhileWriting: Read is safe and right while Write runs.
func TestReadWhileWriting(t *testing.T) {
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.log"), Store: newMemLogs()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	const n = 100_000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	stop := make(chan struct{})
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 3))
			for {
				select {
				case <-stop:
					return
				default:
				}
				have := w.Lines()
				from := rng.Int64N(have + 10)
				got, err := w.Read(from, 1+rng.IntN(300))
				if err != nil {
					errc <- err
					return
				}
				if from >= have && len(got) > 0 && from >= w.Lines() {
					errc <- fmt.Errorf("Read(%d) past the end returned %d lines", from, len(got))
					return
				}
				for i, l := range got {
					k := from + int64(i)
					if want := fmt.Sprintf("line %d %s", k, strings.Repeat("x", int(k%50))); l != want {
						errc <- fmt.Errorf("Read(%d): line %d = %q, want %q", from, k, l, want)
						return
					}
				}
			}
		}()
	}
	writeChunks(t, w, in.Bytes(), 3)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
}

func TestResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "task.log")
	st := newMemLogs()
	open := func(resume bool) *Writer {
		t.Helper()
		w, err := Open(Config{TaskID: taskID, Path: path, Store: st, Resume: resume})
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := open(false)
	fmt.Fprint(w, "a\nb\n")
	if total, err := w.Close(context.Background()); err != nil || total != 2 {
		t.Fatalf("Close = %d, %v", total, err)
	}
	// A torn last line, as a crash mid-write would leave.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("c torn")
	f.Close()

	w = open(true)
	if got := w.Lines(); got != 3 {
		t.Fatalf("Lines after resume = %d, want 3", got)
	}
	fmt.Fprint(w, "d\ne")
	if got, err := w.Read(1, 10); err != nil || !slices.Equal(got, []string{"b", "c torn", "d"}) {
		t.Fatalf("Read = %q, %v", got, err)
	}
	if total, err := w.Close(context.Background()); err != nil || total != 5 {
		t.Fatalf("Close = %d, %v", total, err)
	}
	want := []string{"a", "b", "c torn", "d", "e"}
	equalLines(t, "file", fileLines(t, path), want)
	equalLines(t, "store", st.lines(taskID), want)

	// Without Resume, the file starts over.
	w = open(false)
	if got := w.Lines(); got != 0 {
		t.Fatalf("Lines of a new log = %d", got)
	}
	w.Close(context.Background())
}

func TestOpenConfig(t *testing.T) {
	dir := t.TempDir()
	ok := Config{TaskID: taskID, Path: filepath.Join(dir, "sub", "task.log"), Store: newMemLogs()}
	for _, tc := range []struct {
		name string
		edit func(*Config)
		bad  bool
	}{
		{"defaults", func(*Config) {}, false},
		{"no task id", func(c *Config) { c.TaskID = "" }, true},
		{"no path", func(c *Config) { c.Path = "" }, true},
		{"no store", func(c *Config) { c.Store = nil }, true},
		{"negative delay", func(c *Config) { c.BatchDelay = -1 }, true},
		{"tiny max line", func(c *Config) { c.MaxLine = 3 }, true},
		{"negative max bytes", func(c *Config) { c.MaxBytes = -1 }, true},
		{"save every 5s", func(c *Config) { c.SaveEvery = 5 * time.Second }, true},
		{"save every 4.9s", func(c *Config) { c.SaveEvery = 4900 * time.Millisecond }, false},
		{"directory is a file", func(c *Config) { c.Path = filepath.Join(dir, "sub", "task.log", "x") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			w, err := Open(cfg)
			if (err != nil) != tc.bad {
				t.Fatalf("Open: %v, want error: %v", err, tc.bad)
			}
			if w != nil {
				w.Close(context.Background())
			}
		})
	}
}

// countLogs is a store.Logs that keeps only the length, so a benchmark
// measures the Writer rather than a fake store's memory.
type countLogs struct {
	mu sync.Mutex
	n  int64
}

func (c *countLogs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if from > c.n {
		return store.ErrLogGap
	}
	c.n = max(c.n, from+int64(len(lines)))
	return nil
}

func (c *countLogs) ReadLog(context.Context, string, int64, int) ([]string, error) { return nil, nil }

func (c *countLogs) LogLen(context.Context, string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, nil
}

func (c *countLogs) DeleteLog(context.Context, string) error { return nil }

// BenchmarkWriter measures Write through Close: 100-byte lines arriving in
// 32 KiB reads (as os/exec delivers them), published and saved.
func BenchmarkWriter(b *testing.B) {
	line := fmt.Sprintf("\x1b[32mINFO\x1b[0m %-86s\n", "crawled https://example.com/some/page status=200 items=12")
	chunk := []byte(strings.Repeat(line, (32<<10)/len(line)))
	perChunk := (32 << 10) / len(line)
	st := &countLogs{}
	var published, live int
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(b.TempDir(), "task.log"), Store: st,
		Publish: func(ctx context.Context, x wire.LogBatch) error { published++; live += len(x.Lines); return nil },
		Log:     slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	for i := 0; i < b.N; i += perChunk {
		n := min(perChunk, b.N-i)
		if _, err := w.Write(chunk[:n*len(line)]); err != nil {
			b.Fatal(err)
		}
	}
	total, err := w.Close(context.Background())
	b.StopTimer()
	if err != nil || total != int64(b.N) {
		b.Fatalf("Close = %d, %v; want %d", total, err, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(published), "batches")
	// Below 1 when the publisher fell too far behind and skipped ahead.
	b.ReportMetric(float64(live)/float64(b.N), "live-fraction")
}
