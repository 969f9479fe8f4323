package tasklog

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

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

// TestBatchJSON: what Publish gets encodes as the bus's log batch, with no
// end, status or total (those are the agent's final message), and the
// lines as the task printed them.
func TestBatchJSON(t *testing.T) {
	b := newBatcher(defaultBatchBytes, time.Hour, 7)
	go b.run()
	out := []byte("\x1b[31mred\x1b[0m\n")
	b.add(7, out, []int{len(out)})
	b.close()
	p := <-b.queue
	got, err := json.Marshal(p.batch("t"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"task_id":"t","from":7,"lines":["\u001b[31mred\u001b[0m"]}`; string(got) != want {
		t.Fatalf("JSON %s, want %s", got, want)
	}
}

// lineBytes returns lines in the file's format, as the splitter emits them:
// each followed by '\n', with the offsets just past each '\n'.
func lineBytes(lines ...string) ([]byte, []int) {
	var out []byte
	var ends []int
	for _, l := range lines {
		out = append(out, l...)
		out = append(out, '\n')
		ends = append(ends, len(out))
	}
	return out, ends
}

// sealed drains the batches queued so far.
func sealed(b *batcher) []wire.LogBatch {
	var bs []wire.LogBatch
	for {
		select {
		case p, ok := <-b.queue:
			if !ok {
				return bs
			}
			bs = append(bs, p.batch(taskID))
			b.recycle(p)
		default:
			return bs
		}
	}
}

// TestBatcherSize: batches are cut by size, in line order, each line once,
// none over the limit unless one line alone is; close seals the last.
func TestBatcherSize(t *testing.T) {
	const maxBytes = 64
	b := newBatcher(maxBytes, time.Hour, 100) // numbering goes on from a resumed file
	go b.run()
	var want []string
	for i := range 20 {
		var lines []string
		for j := range i % 4 {
			lines = append(lines, fmt.Sprintf("line %d.%d %s", i, j, strings.Repeat("x", (i*7)%30)))
		}
		if i == 9 {
			lines = append(lines, strings.Repeat("L", 3*maxBytes)) // alone in its batch
		}
		out, ends := lineBytes(lines...)
		b.add(100+int64(len(want)), out, ends)
		want = append(want, lines...)
	}
	b.close()
	bs := sealed(b)
	next := int64(100)
	var got []string
	for i, x := range bs {
		if x.From != next || len(x.Lines) == 0 {
			t.Fatalf("batch %d: from %d with %d lines, want from %d", i, x.From, len(x.Lines), next)
		}
		size := 0
		for _, l := range x.Lines {
			size += len(l) + 1
		}
		if size > maxBytes && len(x.Lines) > 1 {
			t.Fatalf("batch %d holds %d bytes in %d lines, over %d", i, size, len(x.Lines), maxBytes)
		}
		got = append(got, x.Lines...)
		next += int64(len(x.Lines))
	}
	equalLines(t, "batches", got, want)
	if len(bs) >= len(want) {
		t.Fatalf("%d batches for %d lines: batching does not batch", len(bs), len(want))
	}
}

// TestBatcherBacklog: when the queue is full, add does not wait and drops
// nothing: the lines it cannot queue are reported as the backlog, to be
// read from the file, and once that is dealt with, batches queue again.
func TestBatcherBacklog(t *testing.T) {
	b := newBatcher(10, time.Hour, 0) // "line NN\n" is 8 bytes: one line a batch
	go b.run()
	add := func(from, to int) {
		for i := from; i < to; i++ {
			out, ends := lineBytes(fmt.Sprintf("line %02d", i))
			b.add(int64(i), out, ends)
		}
	}
	add(0, 40) // lines 0-31 fill the queue, 32-38 are sealed behind it, 39 is being built
	if _, _, ok := b.backlog(); ok {
		t.Fatal("a backlog reported while batches are still queued: they are older and go first")
	}
	bs := sealed(b)
	if len(bs) != liveQueue || bs[0].From != 0 || bs[len(bs)-1].From != liveQueue-1 {
		t.Fatalf("queued %d batches, want lines 0-%d one a batch", len(bs), liveQueue-1)
	}
	from, to, ok := b.backlog()
	if !ok || from != liveQueue || to != 39 {
		t.Fatalf("backlog = [%d, %d) %v, want [%d, 39): up to the batch being built", from, to, ok, liveQueue)
	}
	b.caughtUp(35)
	if from, to, ok := b.backlog(); !ok || from != 35 || to != 39 {
		t.Fatalf("backlog after catching up to 35 = [%d, %d) %v, want [35, 39)", from, to, ok)
	}
	b.caughtUp(39)
	if _, _, ok := b.backlog(); ok {
		t.Fatal("a backlog reported after catching up")
	}
	add(40, 41) // seals line 39: queued again
	b.close()   // seals line 40
	bs = sealed(b)
	if len(bs) != 2 || bs[0].From != 39 || bs[1].From != 40 {
		t.Fatalf("after catching up, queued %+v; want lines 39 and 40", bs)
	}
	if !b.closing.Load() {
		t.Fatal("close did not mark the batcher closing")
	}
}
