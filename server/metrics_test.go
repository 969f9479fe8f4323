package server_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
)

// scrape reads /metrics as Prometheus would, with the token, into
// series → value ("name{label="value",…}" as the text format prints it).
func (e *env) scrape() map[string]float64 {
	e.t.Helper()
	return e.scrapeAt(e.base)
}

// scrapeAt scrapes the master at base (http://host:port).
func (e *env) scrapeAt(base string) map[string]float64 {
	e.t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		e.t.Fatalf("GET /metrics: Content-Type %q, want the Prometheus text format", ct)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			e.t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// metricBecomes waits until series has value want: the master counts a
// bus event on its own goroutine, a moment after the test's tap hears it.
func (e *env) metricBecomes(series string, want float64) {
	e.t.Helper()
	e.metricBecomesAt(e.base, series, want)
}

func (e *env) metricBecomesAt(base, series string, want float64) {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got, ok := e.scrapeAt(base)[series]
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s = %v (present: %v), want %v", series, got, ok, want)
		}
		<-tick.C
	}
}

func TestMetricsNeedACredential(t *testing.T) {
	e := newEnv(t)
	status, _, body := e.request("GET", "/metrics", "", nil, map[string]string{"Authorization": ""})
	if status != 401 {
		t.Fatalf("scrape without a token: %d %s", status, body)
	}
	if strings.Contains(body, "crawlhub_") {
		t.Errorf("an unauthenticated scrape got metrics:\n%s", body)
	}
}

func TestMetricsCountTasks(t *testing.T) {
	e := newEnv(t)
	m := e.scrape()
	for _, series := range []string{
		`crawlhub_tasks_ended_total{status="finished"}`, `crawlhub_tasks_ended_total{status="error"}`,
		`crawlhub_task_duration_seconds_count{status="finished"}`, `crawlhub_task_queue_wait_seconds_count`,
		`crawlhub_tasks_created_total`, `crawlhub_tasks_started_total`, `crawlhub_task_log_lines_total`,
	} {
		if v, ok := m[series]; !ok || v != 0 {
			t.Errorf("before any task: %s = %v (present: %v), want 0", series, v, ok)
		}
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes", "crawlhub_nodes_online"} {
		if _, ok := m[series]; !ok {
			t.Errorf("%s is missing", series)
		}
	}

	e.endedTask() // prints two lines
	e.run(e.spider("failing", "echo oops\nexit 3\n"), store.TaskError)
	e.metricBecomes(`crawlhub_tasks_ended_total{status="finished"}`, 1)
	e.metricBecomes(`crawlhub_tasks_ended_total{status="error"}`, 1)
	m = e.scrape()
	for series, want := range map[string]float64{
		`crawlhub_task_duration_seconds_count{status="finished"}`: 1,
		`crawlhub_task_duration_seconds_count{status="error"}`:    1,
		`crawlhub_task_queue_wait_seconds_count`:                  2,
		`crawlhub_tasks_created_total`:                            2,
		`crawlhub_tasks_started_total`:                            2,
		`crawlhub_task_log_lines_total`:                           3,
		`crawlhub_tasks_ended_total{status="cancelled"}`:          0,
		`crawlhub_nodes_online`:                                   1,
	} {
		if got := m[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// The tasks were created, read and updated through the timed store.
	if m[`crawlhub_store_call_duration_seconds_count{aggregate="tasks",method="CreateMany"}`] != 2 {
		t.Errorf("store calls not timed: CreateMany count %v, want 2",
			m[`crawlhub_store_call_duration_seconds_count{aggregate="tasks",method="CreateMany"}`])
	}
}

func TestMetricsTimeNodeCalls(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/api/nodes/"+e.agent.NodeID()+"/sysinfo", nil, nil)
	e.do("GET", "/api/nodes/"+e.agent.NodeID()+"/sysinfo", nil, nil)
	// node.sysinfo asks the node without looking it up first.
	if r := e.dial().call("node.sysinfo", `{"node_id":"`+store.NewID()+`"}`); !strings.Contains(r, "no node has id") {
		t.Fatalf("sysinfo of a node that does not exist: %s", r)
	}
	// A call is observed before it returns: no wait.
	m := e.scrape()
	for series, want := range map[string]float64{
		`crawlhub_node_rpc_duration_seconds_count{op="get_sysinfo",outcome="ok"}`:           2,
		`crawlhub_node_rpc_duration_seconds_count{op="get_sysinfo",outcome="unknown_node"}`: 1,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", series, got, ok, want)
		}
	}
	// Series exist for what was used, not for every op and outcome.
	if _, ok := m[`crawlhub_node_rpc_duration_seconds_count{op="get_log",outcome="ok"}`]; ok {
		t.Error("a series of get_log calls, though none was made")
	}
	if m[`crawlhub_node_rpc_duration_seconds_bucket{op="get_sysinfo",outcome="ok",le="+Inf"}`] != 2 {
		t.Error("the RPC histogram has no +Inf bucket of 2 calls")
	}
}

func TestMetricsCountWebSockets(t *testing.T) {
	e := newEnv(t)
	c := e.dial()
	// A reply means the hub has the client.
	c.call("nodes.list", "")
	c.call("no.such.method", "")
	m := e.scrape()
	for series, want := range map[string]float64{
		`crawlhub_ws_clients`: 1,
		`crawlhub_jsonrpc_call_duration_seconds_count{method="nodes.list",outcome="ok"}`:       1,
		`crawlhub_jsonrpc_call_duration_seconds_count{method="unknown",outcome="bad_request"}`: 1,
		`crawlhub_ws_slow_disconnects_total`:                                                   0,
	} {
		if got, ok := m[series]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", series, got, ok, want)
		}
	}
	// A call the role does not allow is counted as forbidden.
	_, viewer := e.member("watcher", auth.Viewer)
	vc, _ := e.dialAs(viewer)
	if r := vc.call("task.run", `{"spider_id":"`+store.NewID()+`"}`); !strings.Contains(r, "needs the operator role") {
		t.Fatalf("task.run as a viewer: %s", r)
	}
	if got := e.scrape()[`crawlhub_jsonrpc_call_duration_seconds_count{method="task.run",outcome="forbidden"}`]; got != 1 {
		t.Errorf("forbidden calls counted: %v, want 1", got)
	}
	vc.conn.Close()
	<-vc.done
	c.subscribe("tasks")
	if got := e.scrape()[`crawlhub_jsonrpc_call_duration_seconds_count{method="subscribe",outcome="ok"}`]; got != 1 {
		t.Errorf("subscribe calls counted: %v, want 1", got)
	}
	c.conn.Close()
	<-c.done
	e.metricBecomes(`crawlhub_ws_clients`, 0)
}

// Each master has its own registry: two in one process both serve their
// metrics, each its own WebSocket clients, and both count the cluster's
// tasks (every master hears every task event).
func TestMetricsOfTwoMasters(t *testing.T) {
	e := newEnv(t)
	second := e.secondMaster()
	base2 := "http://" + second.Addr()
	c, _ := dialServer(e, second, token)
	c.call("nodes.list", "")
	if got := e.scrapeAt(base2)["crawlhub_ws_clients"]; got != 1 {
		t.Errorf("the second master counts %v WebSocket clients, want 1", got)
	}
	if got := e.scrape()["crawlhub_ws_clients"]; got != 0 {
		t.Errorf("the first master counts the second's WebSocket client: %v", got)
	}
	e.endedTask()
	e.metricBecomes(`crawlhub_tasks_ended_total{status="finished"}`, 1)
	// The second master hears the same events.
	e.metricBecomesAt(base2, `crawlhub_tasks_ended_total{status="finished"}`, 1)
}
