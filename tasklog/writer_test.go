package tasklog

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/store"
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

// TestSlowPublisher: a publisher that is stuck, failing or slow never
// blocks Write (it finishes while Publish is stuck) and costs the file and
// the store nothing. A slow one costs live viewers nothing either: the
// publisher catches up from the file. One far behind skips ahead.
func TestSlowPublisher(t *testing.T) {
	for _, tc := range []struct {
		name       string
		batchBytes int
		stuck      bool          // Publish blocks, ignoring its ctx, until released
		delay      time.Duration // Publish takes this long
		err        error         // then returns this
		lossy      bool          // live viewers may miss lines
		warning    string
	}{
		{name: "stuck then failing", batchBytes: 4 << 10, stuck: true, err: errors.New("redis: i/o timeout"), lossy: true, warning: "i/o timeout"},
		{name: "failing", batchBytes: 4 << 10, err: errors.New("redis: connection refused"), lossy: true, warning: "connection refused"},
		{name: "slow", delay: 2 * time.Millisecond},
		{name: "far behind", batchBytes: 256, stuck: true, lossy: true, warning: "too far behind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemLogs()
			release := make(chan struct{})
			var mu sync.Mutex
			var tried []wire.LogBatch
			publish := func(ctx context.Context, b wire.LogBatch) error {
				mu.Lock()
				tried = append(tried, b)
				mu.Unlock()
				if tc.stuck {
					<-release
				}
				time.Sleep(tc.delay)
				return tc.err
			}
			var logs logBuf
			path := filepath.Join(t.TempDir(), "task.log")
			w, err := Open(Config{TaskID: taskID, Path: path, Store: st, Publish: publish, BatchBytes: tc.batchBytes,
				PublishTimeout: 20 * time.Millisecond, SaveEvery: 50 * time.Millisecond, Log: logs.logger()})
			if err != nil {
				t.Fatal(err)
			}
			var in bytes.Buffer
			for i := range 200_000 {
				fmt.Fprintf(&in, "line %d\n", i)
				if i%10_000 == 0 && tc.batchBytes == 0 {
					// Longer than a batch: alone in its batch, also when the
					// publisher reads it back from the file.
					fmt.Fprintf(&in, "long %s\n", strings.Repeat("z", 40<<10))
				}
			}
			want := refLines(in.Bytes(), defaultMaxLine)
			done := make(chan struct{})
			go func() {
				defer close(done)
				writeChunks(t, w, in.Bytes(), 2)
			}()
			select {
			case <-done:
			case <-time.After(time.Minute):
				t.Fatal("Write is blocked by the publisher")
			}
			// Lines reach the store while publishing is stuck.
			eventually(t, 10*time.Second, "lines saved while the publisher is stuck", func() bool {
				return len(st.lines(taskID)) == len(want)
			})
			close(release)
			total, err := w.Close(context.Background())
			if err != nil || total != int64(len(want)) {
				t.Fatalf("Close = %d, %v", total, err)
			}
			equalLines(t, "file", fileLines(t, path), want)
			equalLines(t, "store", st.lines(taskID), want)
			mu.Lock()
			defer mu.Unlock()
			bb := cmp.Or(tc.batchBytes, defaultBatchBytes)
			for i := 1; i < len(tried); i++ {
				if tried[i].From < tried[i-1].From+int64(len(tried[i-1].Lines)) {
					for j := max(0, i-5); j < min(len(tried), i+5); j++ {
						t.Logf("batch %d: from %d, %d lines, first %q", j, tried[j].From, len(tried[j].Lines), tried[j].Lines[0])
					}
					break
				}
			}
			got := checkBatches(t, tried, bb, tc.lossy)
			if !tc.lossy {
				equalLines(t, "batches", got, want)
			}
			if last := tried[len(tried)-1]; tc.err == nil && last.From+int64(len(last.Lines)) != total {
				t.Fatalf("the last batch ends at line %d, want %d", last.From+int64(len(last.Lines)), total)
			}
			if tc.warning != "" && !strings.Contains(logs.String(), tc.warning) {
				t.Fatalf("no warning about %q:\n%s", tc.warning, logs.String())
			}
			if tc.warning == "" && strings.Contains(logs.String(), "level=WARN") {
				t.Fatalf("unexpected warnings:\n%s", logs.String())
			}
			t.Logf("%d batches tried for %d lines", len(tried), total)
		})
	}
}

// TestBatchDelay: a lone line is published without waiting for more lines
// or for Close.
func TestBatchDelay(t *testing.T) {
	var pub batches
	w, err := Open(Config{TaskID: taskID, Path: filepath.Join(t.TempDir(), "task.log"), Store: newMemLogs(), Publish: pub.publish})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	for i, line := range []string{"first", "second"} {
		fmt.Fprintf(w, "%s\n", line)
		eventually(t, 5*time.Second, "the batch is published after BatchDelay", func() bool { return len(pub.get()) == i+1 })
		if b := pub.get()[i]; b.From != int64(i) || !slices.Equal(b.Lines, []string{line}) {
			t.Fatalf("batch %d = %+v", i, b)
		}
	}
}

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

func TestBatchJSON(t *testing.T) {
	b, err := json.Marshal(wire.LogBatch{TaskID: "t", From: 7, Lines: []string{"\x1b[31mred\x1b[0m"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"task_id":"t","from":7,"lines":["\u001b[31mred\u001b[0m"]}`; string(b) != want {
		t.Fatalf("JSON %s, want %s", b, want)
	}
}

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
