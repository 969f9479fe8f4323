package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The spider's deduplication, as it is when the task starts, decides what
// the task's items count as; one the store does not know fails the task
// before it runs, instead of leaving its items unsaved.
func TestItemsDedup(t *testing.T) {
	n := startNode(t, config{})
	sp := n.spider("dups", `python3 - <<'PY'
import os, urllib.request
body = "".join('{"url": "u%d", "v": %d}\n' % (i % 3, i) for i in range(5))
urllib.request.urlopen(urllib.request.Request(os.environ["CRAWLHUB_ITEMS_URL"], data=body.encode(), method="POST")).read()
PY
`)
	sp.DedupKeys, sp.Dedup = []string{"url"}, store.DedupOverwrite
	if err := n.st.Spiders().Update(n.ctx, &sp); err != nil {
		t.Fatal(err)
	}
	task := n.run(sp)
	if ts := n.taskStatus(task.ID, store.TaskFinished); ts.ItemCount != 5 {
		t.Errorf("task_status: %d items, want 5", ts.ItemCount)
	}
	rec, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ItemCount != 5 || rec.ItemStats != (store.ItemCounts{New: 3, Overwritten: 2}) {
		t.Errorf("task record: %d items, %+v; want 5: 3 new, 2 overwritten", rec.ItemCount, rec.ItemStats)
	}

	sp.Dedup = "newest"
	if err := n.st.Spiders().Update(n.ctx, &sp); err != nil {
		t.Skipf("the store refuses an unknown dedup policy itself: %v", err)
	}
	task = n.run(sp)
	ts := n.taskStatus(task.ID, store.TaskError)
	if !strings.Contains(ts.Reason, `unknown dedup policy "newest"`) || ts.ItemCount != 0 {
		t.Errorf("unknown policy: %+v", ts)
	}
	n.checkItemBatches(task.ID, store.TaskError, nil)
}

// flakyEnds refuses to record a task's end while down, as a store that
// cannot be reached does.
type flakyEnds struct {
	store.Tasks
	mu       sync.Mutex
	down     bool
	failures int
	refused  chan struct{} // closed at the second refusal
}

func (f *flakyEnds) UpdateIf(ctx context.Context, t *store.Task, status string) error {
	f.mu.Lock()
	if f.down && store.TaskEnded(t.Status) {
		f.failures++
		if f.failures == 2 {
			close(f.refused)
		}
		f.mu.Unlock()
		return errors.New("the store is unreachable")
	}
	f.mu.Unlock()
	return f.Tasks.UpdateIf(ctx, t, status)
}

type flakyTasksStore struct {
	store.Store
	tasks *flakyEnds
}

func (s flakyTasksStore) Tasks() store.Tasks { return s.tasks }

// A task's end that the store refuses is retried until it is stored: the
// store never keeps a finished task as running, and the end is announced
// once it is stored.
func TestTaskEndWaitsForTheStore(t *testing.T) {
	flaky := &flakyEnds{down: true, refused: make(chan struct{})}
	n := startNode(t, config{wrap: func(st store.Store) store.Store {
		flaky.Tasks = st.Tasks()
		return flakyTasksStore{Store: st, tasks: flaky}
	}})
	task := n.run(n.spider("short", "echo one\necho two\n"))
	select {
	case <-flaky.refused:
	case <-time.After(wait):
		t.Fatal("the task's end was tried once and dropped")
	}
	if ts := n.statusSoFar(task.ID); ts != store.TaskRunning {
		t.Fatalf("task status %q announced while its end was not stored, want running", ts)
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	n.taskStatus(task.ID, store.TaskFinished)
	got, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil || got.Status != store.TaskFinished || got.LogLines != 2 {
		t.Fatalf("stored task: %+v, %v; want finished with 2 lines", got, err)
	}
}

// startFailsAfterWrite stores a task's start and then says it failed, as a
// store does that answers too late or fails on what it writes after.
type startFailsAfterWrite struct {
	store.Tasks
}

func (f startFailsAfterWrite) UpdateIf(ctx context.Context, t *store.Task, status string) error {
	err := f.Tasks.UpdateIf(ctx, t, status)
	if err == nil && t.Status == store.TaskRunning {
		return errors.New("the store answered too late")
	}
	return err
}

type startFailsStore struct {
	store.Store
	tasks startFailsAfterWrite
}

func (s startFailsStore) Tasks() store.Tasks { return s.tasks }

// A start the store took although the write reported an error is run:
// left unrun, the task would stay running in the store for good.
func TestStartRecordedDespiteError(t *testing.T) {
	n := startNode(t, config{wrap: func(st store.Store) store.Store {
		return startFailsStore{Store: st, tasks: startFailsAfterWrite{Tasks: st.Tasks()}}
	}})
	task := n.run(n.spider("short", "echo one\necho two\n"))
	n.taskStatus(task.ID, store.TaskFinished)
	got, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil || got.Status != store.TaskFinished || got.LogLines != 2 {
		t.Fatalf("stored task: %+v, %v; want finished with 2 lines", got, err)
	}
}

// flakyItems fails every AppendItems while the store is down.
type flakyItems struct {
	store.Items
	mu       sync.Mutex
	down     bool
	failures int
	refused  chan struct{} // closed at the third failure
}

func (f *flakyItems) AppendItems(ctx context.Context, spiderID, taskID string, from int64, items []json.RawMessage, dedup store.Dedup) (store.ItemCounts, error) {
	f.mu.Lock()
	if f.down {
		f.failures++
		if f.failures == 3 {
			close(f.refused)
		}
		f.mu.Unlock()
		return store.ItemCounts{}, errors.New("the store is unreachable")
	}
	f.mu.Unlock()
	return f.Items.AppendItems(ctx, spiderID, taskID, from, items, dedup)
}

type flakyStore struct {
	store.Store
	items *flakyItems
}

func (s flakyStore) Items() store.Items { return s.items }

// While the store is away, the items wait in the agent's spool file and
// the task's end waits for them; once it is back every item is saved,
// once and in order, and only then is the end announced.
func TestItemsWhileStoreIsDown(t *testing.T) {
	flaky := &flakyItems{down: true, refused: make(chan struct{})}
	n := startNode(t, config{wrap: func(st store.Store) store.Store {
		flaky.Items = st.Items()
		return flakyStore{Store: st, items: flaky}
	}})
	task := n.run(n.spider("saver", pySaver))
	select {
	case <-flaky.refused:
	case <-n.ctx.Done():
	}
	if got := n.storedItems(task); len(got) != 0 {
		t.Fatalf("%d items stored while the store was down", len(got))
	}
	if ts := n.statusSoFar(task.ID); ts != store.TaskRunning {
		t.Fatalf("task status %q while its items could not be saved, want running", ts)
	}
	flaky.mu.Lock()
	flaky.down = false
	flaky.mu.Unlock()
	if ts := n.taskStatus(task.ID, store.TaskFinished); ts.ItemCount != 500 {
		t.Errorf("task_status: %d items", ts.ItemCount)
	}
	equalItems(t, "items in the store", n.storedItems(task), pySaverItems())
	n.checkItemBatches(task.ID, store.TaskFinished, pySaverItems())
}

// spoolBlocker makes the path of its task's items spool a directory, so
// the agent cannot open the spool, then tries to save an item and prints
// the answer.
const spoolBlocker = `mkdir "$SPOOL_DIR/$CRAWLHUB_TASK_ID.items"
python3 - <<'PY'
import os, urllib.request, urllib.error
req = urllib.request.Request(os.environ["CRAWLHUB_ITEMS_URL"], data=b'{"n":1}\n', method="POST")
try:
    urllib.request.urlopen(req)
    print("accepted")
except urllib.error.HTTPError as e:
    print("refused", e.code, e.read().decode().strip())
PY
`

// A spool the agent cannot open refuses the spider's items with a 500
// that says why, and the task ends in error instead of finished: its
// items are not there.
func TestItemsSpoolCannotBeOpened(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, config{dataDir: data})
	sp := n.spider("blocked", "export SPOOL_DIR="+filepath.Join(data, "logs")+"\n"+spoolBlocker)
	task := n.run(sp)
	ts := n.taskStatus(task.ID, store.TaskError)
	if !strings.HasPrefix(ts.Reason, "items not written: ") || !strings.Contains(ts.Reason, "0 items") {
		t.Errorf("reason %q: want it to say the items were not written, and none kept", ts.Reason)
	}
	var lines []string
	for _, b := range n.logBatchesOf(task.ID) {
		lines = append(lines, b.Lines...)
	}
	if got := strings.Join(lines, "\n"); !strings.HasPrefix(got, "refused 500 ") || !strings.Contains(got, "could not write the items to its disk") {
		t.Errorf("the spider was told:\n%s\nwant a 500 saying the agent could not write the items", got)
	}
	if got := n.storedItems(task); len(got) != 0 {
		t.Errorf("store: %d items, want none", len(got))
	}
}
