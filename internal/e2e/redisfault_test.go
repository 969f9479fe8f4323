package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wsapi"
)

// outageBeat is the heartbeat of the outage test's master and agent: a
// node is offline after 3 missed beats (6 s), well inside the outage.
const outageBeat = 2 * time.Second

// outage is how long Redis is away: 10 s is already past every timeout
// and retry on the way (the probe's 1 s + 1 s, go-redis's dial (2 s) and
// read (3 s) timeouts, the RPC deadline (5 s), the resubscribe backoff
// (250 ms), three missed heartbeats (3 × 2 s)). CRAWLHUB_TEST_REDIS_OUTAGE
// (a duration, e.g. 60s) makes it longer.
func outage(t *testing.T) time.Duration {
	s := os.Getenv("CRAWLHUB_TEST_REDIS_OUTAGE")
	if s == "" {
		return 10 * time.Second
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 10*time.Second {
		t.Fatalf("CRAWLHUB_TEST_REDIS_OUTAGE=%q: want a duration of 10s or more", s)
	}
	return d
}

// TestRedisOutage: Redis goes away for 10 s (see outage) while two tasks run, killed
// (then restarted on the same port) or hung (SIGSTOP, then SIGCONT). One
// task ends during the outage, the other after it. Meanwhile the agent
// keeps running them, calls that need the bus fail at once with
// bus_unavailable (REST 503, JSON-RPC -32012, under 2 s), the system
// channel says the bus is down, and the node is never reported offline.
// When Redis is back, the followers of both logs and of the items get
// every line and item exactly once and in order, then the end; the tasks
// channel gets each status change exactly once.
func TestRedisOutage(t *testing.T) {
	for _, kind := range []string{"killed", "stopped"} {
		t.Run(kind, func(t *testing.T) { testRedisOutage(t, kind) })
	}
}

// outageSpider prints "line 0", "line 1", … every 20 ms until the file
// stop exists; with items, it saves {"line": "line K"} every 10th line.
func outageSpider(stop string, items bool) string {
	save := ""
	if items {
		save = `if [ $((i % 10)) -eq 9 ]; then
    printf '{"line":"line %d"}\n' $((i / 10)) | curl -sf -o /dev/null --data-binary @- "$CRAWLHUB_ITEMS_URL" || exit 1
  fi`
	}
	return fmt.Sprintf(`i=0
while [ ! -e %q ]; do
  echo "line $i"
  %s
  i=$((i+1))
  sleep 0.02
done
`, stop, save)
}

func testRedisOutage(t *testing.T, kind string) {
	e := newEnv(t)
	r := testenv.StartRedis(t)
	st, err := sqlite.Open(context.Background(), e.tempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.stores = append(e.stores, st)
	connect := func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(context.Background(), r.URL, h, testLog(t)) }
	m, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Log: testLog(t), Heartbeat: outageBeat}, st, connect)
	if err != nil {
		t.Fatal(err)
	}
	e.masters = append(e.masters, m)
	e.wg.Go(func() { m.Run(e.ctx) })
	a, err := agent.New(agent.Config{Name: "steady", DataDir: e.tempDir(), Heartbeat: outageBeat,
		PollInterval: time.Second, CancelGrace: time.Second, Concurrency: 4, Log: testLog(t)}, st, connect)
	if err != nil {
		t.Fatal(err)
	}
	e.agents = append(e.agents, a)
	e.wg.Go(func() { a.Run(e.ctx) })
	e.waitNodes(0, 1)

	// Events as a dashboard gets them.
	ev := newEventLog(t, e.dial(0), wsapi.ChannelSystem, wsapi.ChannelTasks, wsapi.ChannelNodes)
	ev.wait(t, "system up at first", 0, 5*time.Second, func(p client.Publication) bool {
		return p.Channel == wsapi.ChannelSystem && strings.Contains(string(p.Data), `"bus":"up"`)
	})

	dir := t.TempDir()
	stopEarly, stopLate := filepath.Join(dir, "early"), filepath.Join(dir, "late")
	early := e.run(0, map[string]any{"spider_id": e.spiderFiles("early", "sh run.sh", map[string]string{"run.sh": outageSpider(stopEarly, true)}).ID})[0]
	late := e.run(0, map[string]any{"spider_id": e.spiderFiles("late", "sh run.sh", map[string]string{"run.sh": outageSpider(stopLate, false)}).ID})[0]

	// Followers of both logs and of the early task's items, from the start.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	followers := []*follower{{}, {}, {items: true}}
	var fw sync.WaitGroup
	for i, id := range []string{early.ID, late.ID, early.ID} {
		fw.Go(func() { followers[i].follow(ctx, e.base(0), id, 0) })
	}
	for _, id := range []string{early.ID, late.ID} {
		e.waitLines(id, 20, 30*time.Second)
	}

	// Redis goes away.
	down := time.Now()
	if kind == "killed" {
		r.Stop()
	} else {
		r.Pause()
	}
	downAt := ev.wait(t, "system down", 0, 3*time.Second, func(p client.Publication) bool {
		return p.Channel == wsapi.ChannelSystem && strings.Contains(string(p.Data), `"bus":"down"`)
	})
	t.Logf("%s: the master said the bus was down after %v", kind, time.Since(down).Round(time.Millisecond))

	// Calls fail at once, with the clear error.
	var n store.Node
	var nodes struct{ Items []store.Node }
	e.get(0, "/api/nodes", &nodes)
	n = nodes.Items[0]
	for _, call := range []struct{ method, path, body string }{
		{"GET", "/api/nodes/" + n.ID + "/sysinfo", ""},
		{"POST", "/api/tasks", `{"spider_id":"` + early.SpiderID + `"}`},
		{"POST", "/api/tasks/" + late.ID + "/cancel", ""},
	} {
		start := time.Now()
		status, body := e.raw(call.method, call.path, call.body)
		took := time.Since(start)
		if status != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"bus_unavailable"`) {
			t.Errorf("%s %s during the outage: %d %s, want 503 bus_unavailable", call.method, call.path, status, body)
		}
		if took > 2*time.Second {
			t.Errorf("%s %s during the outage took %v, want under 2 s", call.method, call.path, took)
		}
	}
	rpc := e.dial(0)
	start := time.Now()
	err = rpc.Call(ctx, wsapi.MethodNodeSysinfo, map[string]string{"node_id": n.ID}, nil)
	var werr *wsapi.Error
	if !errors.As(err, &werr) || werr.Code != wsapi.CodeBusUnavailable {
		t.Errorf("node.sysinfo during the outage: %v, want code %d", err, wsapi.CodeBusUnavailable)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("node.sysinfo during the outage took %v, want under 2 s", took)
	}
	var sys server.SystemStatus
	e.get(0, "/api/system", &sys)
	if sys.Bus != "down" {
		t.Errorf("GET /api/system during the outage: %+v", sys)
	}

	// The agent goes on: the early task ends during the outage, recorded
	// in the store (which is not on the bus).
	if err := os.WriteFile(stopEarly, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.waitTask(early.ID, outage(t)); got.Status != store.TaskFinished {
		t.Fatalf("early task ended %s (%s) during the outage, want finished", got.Status, got.Reason)
	}
	if wait := outage(t) - time.Since(down); wait > 0 {
		time.Sleep(wait) // the outage itself: its length is what is being tested
	}

	// Redis is back.
	if kind == "killed" {
		r.Start()
	} else {
		r.Resume()
	}
	back := time.Now()
	t.Logf("%s: Redis away for %v", kind, back.Sub(down).Round(time.Millisecond))
	ev.wait(t, "system up again", downAt+1, 10*time.Second, func(p client.Publication) bool {
		return p.Channel == wsapi.ChannelSystem && strings.Contains(string(p.Data), `"bus":"up"`)
	})
	t.Logf("%s: the master said the bus was up %v after Redis came back", kind, time.Since(back).Round(time.Millisecond))
	ev.wait(t, "the early task's end, after the outage", downAt+1, 15*time.Second, statusOf(early.ID, store.TaskFinished))
	e.waitLines(late.ID, e.lines(late.ID)+20, 30*time.Second) // still running, still heard
	if err := os.WriteFile(stopLate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.waitTask(late.ID, 30*time.Second); got.Status != store.TaskFinished {
		t.Fatalf("late task ended %s (%s), want finished", got.Status, got.Reason)
	}
	ev.wait(t, "the late task's end", downAt+1, 15*time.Second, statusOf(late.ID, store.TaskFinished))
	fw.Wait()

	// Every line and item once, in order, then the end: the follower
	// checks each as it comes.
	for i, f := range followers {
		if f.err != nil || f.status != store.TaskFinished {
			t.Errorf("follower %d: status %q, err %v", i, f.status, f.err)
		}
	}
	for i, id := range []string{early.ID, late.ID, early.ID} {
		var got store.Task
		e.get(0, "/api/tasks/"+id, &got)
		want := got.LogLines
		if followers[i].items {
			want = got.ItemCount
		}
		if followers[i].next != want || want == 0 {
			t.Errorf("follower %d got %d entries, the task has %d", i, followers[i].next, want)
		}
	}
	// Each status change once: running then finished, per task.
	for _, id := range []string{early.ID, late.ID} {
		if got := ev.statuses(id); strings.Join(got, ",") != "pending,running,finished" {
			t.Errorf("task %s: status events %v, want pending, running, finished once each", id, got)
		}
	}
	if ev.seen(`"status":"offline"`) {
		t.Errorf("the node was reported offline during the outage")
	}
}

// raw makes a request and returns its status and body, whatever they are.
func (e *env) raw(method, path, body string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.base(0)+path, bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lines is how many lines a running task has printed, as the master reads
// them (from the agent, or the store while the bus is down).
func (e *env) lines(id string) int64 {
	e.t.Helper()
	var l struct {
		Total int64 `json:"total"`
	}
	status, body := e.raw("GET", "/api/tasks/"+id+"/log?from=0&limit=1", "")
	if status == http.StatusOK {
		_ = json.Unmarshal([]byte(body), &l)
	}
	return l.Total
}

// waitLines waits until task id has printed n lines.
func (e *env) waitLines(id string, n int64, within time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for e.lines(id) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("task %s has %d lines after %v, want %d", id, e.lines(id), within, n)
		}
		time.Sleep(50 * time.Millisecond) // another component's state, seen through the API
	}
}

// eventLog is what one client heard on its channels.
type eventLog struct {
	mu   sync.Mutex
	got  []client.Publication
	wake chan struct{}
}

func newEventLog(t *testing.T, c *client.Conn, channels ...string) *eventLog {
	t.Helper()
	l := &eventLog{wake: make(chan struct{}, 1)}
	for _, ch := range channels {
		if err := c.Subscribe(context.Background(), ch, 0); err != nil {
			t.Fatal(err)
		}
	}
	go func() {
		for p := range c.Publications() {
			l.mu.Lock()
			l.got = append(l.got, p)
			l.mu.Unlock()
			select {
			case l.wake <- struct{}{}:
			default:
			}
		}
	}()
	return l
}

// wait waits for a publication that matches, from the from-th one heard
// on, and returns the position of the first.
func (l *eventLog) wait(t *testing.T, what string, from int, within time.Duration, match func(client.Publication) bool) int {
	t.Helper()
	deadline := time.After(within)
	for {
		l.mu.Lock()
		got := l.got[:len(l.got):len(l.got)]
		l.mu.Unlock()
		for i := from; i < len(got); i++ {
			if match(got[i]) {
				return i
			}
		}
		select {
		case <-l.wake:
		case <-deadline:
			t.Fatalf("%s: not heard within %v", what, within)
		}
	}
}

// seen reports whether any publication holds fragment.
func (l *eventLog) seen(fragment string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.got {
		if strings.Contains(string(p.Data), fragment) {
			return true
		}
	}
	return false
}

// statuses are the status changes heard for task id, in order; a running
// task's repeated "running" (its log level counts) counts once.
func (l *eventLog) statuses(id string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, p := range l.got {
		var ev struct {
			TaskID string `json:"task_id"`
			Status string `json:"status"`
		}
		if p.Channel != wsapi.ChannelTasks || json.Unmarshal(p.Data, &ev) != nil || ev.TaskID != id {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == ev.Status && ev.Status == store.TaskRunning {
			continue
		}
		out = append(out, ev.Status)
	}
	return out
}

func statusOf(id, status string) func(client.Publication) bool {
	return func(p client.Publication) bool {
		var ev struct {
			TaskID string `json:"task_id"`
			Status string `json:"status"`
		}
		return p.Channel == wsapi.ChannelTasks && json.Unmarshal(p.Data, &ev) == nil && ev.TaskID == id && ev.Status == status
	}
}
