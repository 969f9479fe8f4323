package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// burstSpider prints lines "line 0" … "line N-1" in bursts of 1,000 at full
// speed, with short pauses so subscribers can arrive mid-run.
func burstSpider(n int) string {
	return fmt.Sprintf(`sleep 0.3
i=0
while [ $i -lt %d ]; do
  seq $((i*1000)) $((i*1000+999)) | sed 's/^/line /'
  i=$((i+1))
  sleep 0.01
done
`, n/1000)
}

// burstItemsSpider saves items {"line": "line 0"} … {"line": "line N-1"}
// as a spider does (NDJSON POSTed to CRAWLHUB_ITEMS_URL), in bursts of
// 1,000 with short pauses, printing a log line after each burst.
func burstItemsSpider(n int) string {
	return fmt.Sprintf(`sleep 0.3
i=0
while [ $i -lt %d ]; do
  seq $((i*1000)) $((i*1000+999)) | awk '{printf "{\"line\":\"line %%d\"}\n", $1}' |
    curl -sf -o /dev/null --data-binary @- "$CRAWLHUB_ITEMS_URL" || exit 1
  echo "saved $(((i+1)*1000))"
  i=$((i+1))
  sleep 0.01
done
`, n/1000)
}

// follower is one client of a task's log (or its items) that checks every
// line (item) it gets.
type follower struct {
	items       bool               // follow the task's items, each {"line": text}
	want        func(int64) string // line n's text; nil: lineText
	since, next int64
	cuts, drops int
	lastDrop    error
	status      string
	err         error
}

// follow reads a task's log (or items) from since; after cutAt lines (if
// > 0) it drops the connection and resumes from the next line on a new
// one.
func (f *follower) follow(ctx context.Context, base, taskID string, cutAt int64) {
	f.next = f.since
	channel := wsapi.LogChannel(taskID)
	if f.items {
		channel = wsapi.ItemsChannel(taskID)
	}
	for {
		c, err := client.Dial(ctx, base, token)
		if err != nil {
			f.err = err
			return
		}
		err = c.Subscribe(ctx, channel, f.next)
		if err != nil {
			c.Close()
			f.err = err
			return
		}
		cut := false
		for p := range c.Publications() {
			d, err := f.decode(p.Data)
			if err != nil {
				f.err = err
				break
			}
			if d.End {
				f.status = d.Status
				if d.Total != f.next {
					f.err = fmt.Errorf("end says total %d, got up to %d", d.Total, f.next)
				}
				c.Close()
				return
			}
			if d.From != f.next {
				f.err = fmt.Errorf("got lines from %d, expected %d", d.From, f.next)
				break
			}
			text := f.want
			if text == nil {
				text = lineText
			}
			for i, l := range d.Lines {
				if want := text(d.From + int64(i)); l != want {
					f.err = fmt.Errorf("line %d = %q, want %q", d.From+int64(i), l, want)
					break
				}
			}
			f.next += int64(len(d.Lines))
			if cutAt > 0 && f.next-f.since >= cutAt && f.cuts == 0 {
				cut = true
				break
			}
		}
		c.Close()
		if f.err != nil {
			return
		}
		if !cut {
			// Dropped: too slow for a burst (4008), or starved long enough
			// for the server to give up on a write. Resume from the next
			// line, as the close reason says.
			f.drops++
			f.lastDrop = c.Err()
			if f.drops > 20 {
				f.err = fmt.Errorf("dropped %d times, last: %v", f.drops, c.Err())
				return
			}
			continue
		}
		f.cuts++
	}
}

// decode reads a notification as log lines: an items notification's
// items each give their "line".
func (f *follower) decode(data json.RawMessage) (wsapi.LogData, error) {
	var d wsapi.LogData
	if !f.items {
		err := json.Unmarshal(data, &d)
		return d, err
	}
	var id wsapi.ItemsData
	if err := json.Unmarshal(data, &id); err != nil {
		return d, err
	}
	d = wsapi.LogData{From: id.From, End: id.End, Status: id.Status, Total: id.Total, Lines: make([]string, len(id.Items))}
	for i, it := range id.Items {
		var v struct {
			Line string `json:"line"`
		}
		if err := json.Unmarshal(it, &v); err != nil {
			return d, fmt.Errorf("item %s: %w", it, err)
		}
		d.Lines[i] = v.Line
	}
	return d, nil
}

// The gap-free promise, end to end, for a task's log and for its items:
// clients joining at random moments from a random since, some cut off and
// resuming, each gets exactly its lines (items), then the end.
func TestLogNoGap(t *testing.T) { testNoGap(t, allInOne(t), burstSpider(200_000), 200_000, 50, false) }

func TestItemsNoGap(t *testing.T) {
	testNoGap(t, allInOne(t), burstItemsSpider(50_000), 50_000, 30, true)
}

// TestLogNoGapRedisCluster is the gap-free promise on Redis Cluster, the
// task's log channel on sharded PubSub, clients spread over two masters.
func TestLogNoGapRedisCluster(t *testing.T) {
	testNoGap(t, redisCluster(t, 2, "A"), burstSpider(50_000), 50_000, 20, false)
}

// testNoGap runs the task on e and has clients follow it, client i on
// master i mod the number of masters.
func testNoGap(t *testing.T, e *env, script string, total int64, clients int, items bool) {
	sp := e.spider("burst", script)
	task := e.run(0, map[string]any{"spider_id": sp.ID})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	rng := rand.New(rand.NewPCG(1, 2))
	fs := make([]*follower, clients)
	var wg sync.WaitGroup
	for i := range fs {
		f := &follower{items: items, since: rng.Int64N(total + 1)}
		if i%10 == 0 {
			f.since = 0
		}
		fs[i] = f
		delay := time.Duration(rng.Int64N(int64(5 * time.Second)))
		cutAt := int64(0)
		if i%2 == 1 {
			cutAt = 1 + rng.Int64N(max(1, (total-f.since)/2))
		}
		wg.Go(func() {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			f.follow(ctx, e.base(i%len(e.masters)), task.ID, cutAt)
		})
	}
	wg.Wait()
	for i, f := range fs {
		if f.err != nil {
			t.Errorf("client %d (since %d): %v", i, f.since, f.err)
			continue
		}
		if f.next != total || f.status != store.TaskFinished {
			t.Errorf("client %d (since %d): ended at %d with %q", i, f.since, f.next, f.status)
		}
	}
	// Some subscribed after the end, some before the first line: the
	// random moments span the whole run.
	var ended store.Task
	e.get(0, "/api/tasks/"+task.ID, &ended)
	if n := map[bool]int64{false: ended.LogLines, true: ended.ItemCount}[items]; n != total {
		t.Fatalf("task has %d lines, %d items; want %d", ended.LogLines, ended.ItemCount, total)
	}
	// Upstream references are released when clients leave.
	for i, m := range e.masters {
		deadline := time.Now().Add(10 * time.Second)
		for m.Hub().Clients() > 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // the server notices closes on its own time
		}
		for _, ch := range []string{wire.LogChannel(task.ID), wire.ItemsChannel(task.ID)} {
			if n := m.Hub().UpstreamRefs(ch); n != 0 {
				t.Errorf("master %d: %d upstream references to %s left", i, n, ch)
			}
		}
	}
}

func TestTwoMastersThreeAgents(t *testing.T) {
	for _, b := range []struct {
		name  string
		start func(t *testing.T, masters int, agents ...string) *env
	}{{"redis", cluster}, {"redis-cluster", redisCluster}} {
		t.Run(b.name, func(t *testing.T) { twoMastersThreeAgents(t, b.start(t, 2, "A", "B", "C")) })
	}
}

func twoMastersThreeAgents(t *testing.T, e *env) {
	var nodes struct {
		Items []store.Node `json:"items"`
	}
	e.get(1, "/api/nodes", &nodes)
	ids := map[string]string{}
	for _, n := range nodes.Items {
		ids[n.Name] = n.ID
	}
	sp := e.spider("burst", burstSpider(20_000))
	cb := e.dial(1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cb.Subscribe(ctx, "tasks", 0); err != nil {
		t.Fatal(err)
	}
	// Created through master A's API, followed on master B, run on agent C.
	task := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "nodes", "node_ids": []string{ids["C"]}})[0]
	f := &follower{}
	done := make(chan struct{})
	go func() { defer close(done); f.follow(ctx, e.base(1), task.ID, 0) }()

	var si wire.SysInfo
	if err := cb.Call(ctx, "node.sysinfo", map[string]string{"node_id": ids["A"]}, &si); err != nil {
		t.Fatal(err)
	}
	if si.NodeID != ids["A"] || si.Name != "A" {
		t.Fatalf("sysinfo answered by %s", si.Name)
	}
	<-done
	if f.err != nil || f.next != 20_000 || f.status != store.TaskFinished {
		t.Fatalf("follow on master B: %v, %d lines, %q", f.err, f.next, f.status)
	}
	// Master B's client saw the task go pending, running and finished.
	seen := map[string]bool{}
	for !seen[store.TaskFinished] {
		select {
		case p := <-cb.Publications():
			var ts wire.TaskStatus
			json.Unmarshal(p.Data, &ts)
			if ts.TaskID == task.ID {
				seen[ts.Status] = true
				if ts.Status == store.TaskRunning && ts.NodeID != ids["C"] {
					t.Errorf("ran on %s, want C", ts.NodeID)
				}
			}
		case <-ctx.Done():
			t.Fatalf("task events seen on master B: %v", seen)
		}
	}
	if !seen[store.TaskPending] || !seen[store.TaskRunning] {
		t.Errorf("task events seen on master B: %v", seen)
	}
}

func TestSlowClientDropped(t *testing.T) {
	e := allInOne(t)
	// 20 MB in bursts of 100 kB: more than a stalled client's send queue
	// (8 MiB) and socket buffers hold.
	const total = 200_000
	pad := strings.Repeat("x", 90)
	text := func(n int64) string { return fmt.Sprintf("line %d %s", n, pad) }
	sp := e.spider("fast", fmt.Sprintf(`sleep 0.5
exec perl -e '$| = 1; for my $i (0..%d) { print "line $i %s\n"; select(undef, undef, undef, 0.005) if $i %% 1000 == 999 }'`, total-1, pad))
	task := e.run(0, map[string]any{"spider_id": sp.ID})[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The slow one subscribes, then stops reading, with a smallish receive
	// buffer so the kernel does not read megabytes for it. (Not tiny: with
	// a receive window under one segment, TCP crawls on persist probes.)
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			c.(*net.TCPConn).SetReadBuffer(256 << 10)
		}
		return c, err
	}}
	slow, _, err := d.Dial(strings.Replace(e.base(0), "http", "ws", 1)+"/ws", http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	sub := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":%q}}`, wsapi.LogChannel(task.ID))
	if err := slow.WriteMessage(websocket.TextMessage, []byte(sub)); err != nil {
		t.Fatal(err)
	}
	fs := make([]*follower, 10)
	var wg sync.WaitGroup
	for i := range fs {
		fs[i] = &follower{want: text}
		wg.Go(func() { fs[i].follow(ctx, e.base(0), task.ID, 0) })
	}
	var peak uint64
	sample := time.NewTicker(50 * time.Millisecond)
	defer sample.Stop()
	h := e.masters[0].Hub()
	dropped := time.Time{}
	for h.Stats().SlowDisconnects == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("the stalled client was never dropped")
		case <-sample.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	dropped = time.Now()
	// Read what it was sent: its data, then close 4008, within the write
	// deadline the server gives a stuck write.
	slow.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		if _, _, err = slow.ReadMessage(); err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != wsapi.CloseSlowClient {
		t.Fatalf("slow client ended with %v, want close %d", err, wsapi.CloseSlowClient)
	}
	t.Logf("slow client closed %v after the drop: %d %q; peak heap in use %d MiB", time.Since(dropped).Round(time.Millisecond), ce.Code, ce.Text, peak>>20)
	wg.Wait()
	drops := 0
	for i, f := range fs {
		if f.err != nil || f.next != total {
			t.Errorf("follower %d: %v at %d", i, f.err, f.next)
		}
		drops += f.drops
	}
	t.Logf("followers dropped as too slow and resumed: %d times", drops)
	if peak > 512<<20 {
		t.Errorf("heap grew to %d MiB while a client stalled", peak>>20)
	}
}
