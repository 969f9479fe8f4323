package tasklog

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

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
