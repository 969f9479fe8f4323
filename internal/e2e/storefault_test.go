package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
)

// pausingScript prints n lines ("line 0" …), one every pause seconds, and
// saves the item {"i": i} after every line i that is a multiple of every,
// with Python's standard library only.
func pausingScript(n, every int, pause float64) string {
	return fmt.Sprintf(`import json, os, time, urllib.request
url = os.environ["CRAWLHUB_ITEMS_URL"]
for i in range(%d):
    print("line %%d" %% i, flush=True)
    if i %% %d == 0:
        req = urllib.request.Request(url, data=(json.dumps({"i": i}) + "\n").encode(), method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200, r.status
    time.sleep(%g)
`, n, every, pause)
}

// TestStorePausedMidTask: the store freezes (FerretDB stopped with SIGSTOP,
// so its connections hang rather than fail) while a task runs and through
// its end. Meanwhile a client following the task's log keeps receiving its
// lines, one that starts following then gets them once the store is back,
// and REST answers 503 store_unavailable within 2 s; the agent keeps
// the task running, its log, its items and its end. Once the store is back
// the task is finished in the store with every line and every item, each
// once.
func TestStorePausedMidTask(t *testing.T) {
	ferret := testenv.StartFerret(t)
	r := testenv.StartRedis(t)
	e := newEnv(t)
	db := testenv.UniqueDB(t)
	open := func() store.Store {
		st, err := mongo.Open(context.Background(), ferret.URI, db)
		if err != nil {
			t.Fatal(err)
		}
		e.stores = append(e.stores, st)
		return st
	}
	connect := func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(context.Background(), r.URL, h, testLog(t)) }
	e.startMaster(open(), connect)
	e.startAgent("a1", open(), connect)
	e.waitNodes(0, 1)
	t.Cleanup(ferret.Resume) // a failure while paused must not leave the cleanup hanging

	const n, every = 150, 10
	sp := e.spiderFiles("pausing", "/usr/bin/python3 run.py", map[string]string{"run.py": pausingScript(n, every, 0.03)})
	task := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "any"})[0]

	// Follow the log as the CLI does; each line's number goes to got.
	got := make(chan int64, n+1)
	var status string
	var followErr error
	var wg sync.WaitGroup
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wg.Go(func() {
		status, followErr = client.Follow(fctx, e.base(0), token, task.ID, 0, func(i int64, text string) error {
			if text != lineText(i) {
				return fmt.Errorf("line %d is %q", i, text)
			}
			got <- i
			return nil
		})
		close(got)
	})
	waitLine := func(want int64, what string) {
		t.Helper()
		timeout := time.After(time.Minute)
		for {
			select {
			case i, ok := <-got:
				if !ok {
					t.Fatalf("%s: the follower stopped (%v) before line %d", what, followErr, want)
				}
				if i == want {
					return
				}
			case <-timeout:
				t.Fatalf("%s: line %d not received", what, want)
			}
		}
	}
	waitLine(20, "before the pause")

	ferret.Pause()
	// A second client starts following meanwhile: its subscription needs
	// the store (the task's record) and is refused with -32011 until the
	// store is back; the client tries again, and gets the whole log.
	var late struct {
		status string
		lines  int
		err    error
	}
	wg.Go(func() {
		late.status, late.err = client.Follow(fctx, e.base(0), token, task.ID, 0, func(i int64, text string) error {
			if i != int64(late.lines) || text != lineText(i) {
				return fmt.Errorf("late follower: line %d is %q, want line %d", i, text, late.lines)
			}
			late.lines++
			return nil
		})
	})
	// The rest of the log arrives live, though the store cannot save it.
	waitLine(n-1, "with the store frozen")
	start := time.Now()
	req, _ := http.NewRequest(http.MethodGet, e.base(0)+"/api/tasks/"+task.ID, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Code string `json:"code"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || body.Code != "store_unavailable" || took > 2500*time.Millisecond {
		t.Errorf("GET /api/tasks/:id with the store frozen: %d %q after %v, want 503 store_unavailable within 2 s", resp.StatusCode, body.Code, took)
	}
	// The task's process ends meanwhile (its last line is out); its end
	// waits for the store. Keep the store away a while longer.
	time.Sleep(3 * time.Second) // the outage itself
	ferret.Resume()

	wg.Wait()
	if followErr != nil || status != store.TaskFinished {
		t.Fatalf("follow: %q, %v; want finished", status, followErr)
	}
	if late.err != nil || late.status != store.TaskFinished || late.lines != n {
		t.Errorf("follow started with the store frozen: %q with %d lines, %v; want finished with %d", late.status, late.lines, late.err, n)
	}
	done := e.waitTask(task.ID, time.Minute)
	if done.Status != store.TaskFinished || done.LogLines != n || done.ItemCount != n/every {
		t.Errorf("task %s with %d lines and %d items (%s), want finished with %d lines and %d items",
			done.Status, done.LogLines, done.ItemCount, done.Reason, n, n/every)
	}
	ctx := context.Background()
	st := e.stores[0]
	if total, err := st.Logs().LogLen(ctx, task.ID); err != nil || total != n {
		t.Errorf("stored log: %d lines (%v), want %d", total, err, n)
	}
	lines, err := st.Logs().ReadLog(ctx, task.ID, 0, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range lines {
		if l != lineText(int64(i)) {
			t.Fatalf("stored line %d is %q, want %q", i, l, lineText(int64(i)))
		}
	}
	items, err := st.Items().ReadItems(ctx, sp.ID, task.ID, 0, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != n/every {
		t.Errorf("%d items stored, want %d", len(items), n/every)
	}
	for k, it := range items {
		var v struct{ I int }
		json.Unmarshal(it.Data, &v)
		if v.I != k*every {
			t.Errorf("stored item %d is %s, want {\"i\": %d}", k, it.Data, k*every)
		}
	}
}
