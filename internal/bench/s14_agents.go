package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/simagent"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
)

// Scenario 14 (issue 14): many agents on several masters. The agents are
// simulated (internal/simagent: the real protocol, one bus connection
// each, many in the harness process); the masters are `crawlhub server`
// processes on one Redis and the FerretDB test server, with a cluster
// secret, as a production cluster runs.
const (
	ScaleAgents  = 200
	ScaleMasters = 3
	// scaleCallers call each master at once during the RPC window.
	scaleCallers = 8
	// scaleTasks are fake running tasks whose logs only their node has.
	scaleTasks    = 50
	scaleLogLines = 1000
	scaleSecret   = "bench-scale-cluster-secret-0123456789abcdef"
)

// AgentsResult is scenario 14.
type AgentsResult struct {
	Agents     int     `json:"agents"`
	Masters    int     `json:"masters"`
	Signed     bool    `json:"signed"`
	HeartbeatS float64 `json:"heartbeat_s"`
	// OnlineS is from the first agent's start (they start spread over one
	// heartbeat) to every master listing and hearing every one.
	OnlineS float64 `json:"online_s"`
	// Checks are the node-list checks of every master: after the start,
	// after the idle window and after the RPC window.
	Checks []AgentsCheck `json:"checks"`
	// WindowS is the length of the idle and the RPC windows.
	WindowS float64           `json:"window_s"`
	RPC     []AgentsRPCRow    `json:"rpc"`
	Procs   []AgentsMasterRow `json:"masters_cpu"`
	// OfflineS is, for each master, the time from one agent stopping
	// without a goodbye to that master listing it offline and no longer
	// hearing it (a node is offline after 3 missed beats: 15 s).
	OfflineS []float64 `json:"offline_s"`
	// Others are the other processes' CPU in the same windows, to read
	// the latencies by: the store, Redis, and the harness (the agents and
	// the callers).
	Others []AgentsOtherRow `json:"others_cpu,omitempty"`
}

// AgentsOtherRow is one other process's CPU (% of one core) in the idle
// and the RPC windows.
type AgentsOtherRow struct {
	Process string  `json:"process"`
	IdleCPU float64 `json:"idle_cpu_pct"`
	RPCCPU  float64 `json:"rpc_cpu_pct"`
}

// AgentsCheck is one master's view at one moment: online nodes in its
// GET /api/nodes (the store) and in its crawlhub_nodes_online (the
// heartbeats it hears itself).
type AgentsCheck struct {
	When   string `json:"when"`
	Master int    `json:"master"`
	Listed int    `json:"listed_online"`
	Heard  int    `json:"heard"`
}

// AgentsRPCRow is one master's calls of one kind during the RPC window.
type AgentsRPCRow struct {
	Master  int     `json:"master"`
	Op      string  `json:"op"`
	Calls   int64   `json:"calls"`
	PerS    float64 `json:"calls_per_s"`
	Errors  int64   `json:"errors"`
	Wrong   int64   `json:"wrong"` // answered, but not what the node holds
	Latency Latency `json:"latency"`
}

// AgentsMasterRow is one master's CPU (% of one core, from /proc) in each
// window and its resident memory at the end of it.
type AgentsMasterRow struct {
	Master     int     `json:"master"`
	IdleCPU    float64 `json:"idle_cpu_pct"`
	IdleRSSMiB float64 `json:"idle_rss_mib"`
	RPCCPU     float64 `json:"rpc_cpu_pct"`
	RPCRSSMiB  float64 `json:"rpc_rss_mib"`
}

// The calls of the RPC window, each through a master's REST API as the
// dashboard and scripts make them.
const (
	scaleOpSysinfo = "get_sysinfo" // GET /api/nodes/:id/sysinfo → get_sysinfo to the node
	scaleOpLog     = "get_log"     // GET /api/tasks/:id/log of a running task → get_log to its node
	scaleOpList    = "nodes list"  // GET /api/nodes: the store's list, all online
)

var scaleOps = []string{scaleOpSysinfo, scaleOpLog, scaleOpList}

func (r *run) scenarioAgents(ctx context.Context, c *cluster) {
	res, err := r.agents(ctx, c)
	if res != nil {
		r.res.Agents = res
	}
	if err != nil {
		r.fail("scenario 14", err)
	}
}

func (r *run) agents(ctx context.Context, c *cluster) (*AgentsResult, error) {
	nAgents, window := ScaleAgents, 15*time.Second
	if r.cfg.Quick {
		nAgents, window = 50, 5*time.Second
	}
	const db = "bench_agents"
	const beat = 5 * time.Second // the default of masters and agents
	res := &AgentsResult{Agents: nAgents, Masters: ScaleMasters, Signed: true, HeartbeatS: beat.Seconds(), WindowS: window.Seconds()}
	var masters []*Master
	for range ScaleMasters {
		m, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: c.mongo + db, ClusterSecret: scaleSecret})
		if err != nil {
			return nil, err
		}
		defer m.Stop(15 * time.Second)
		masters = append(masters, m)
	}
	st, err := mongo.Open(ctx, c.mongo+db, db)
	if err != nil {
		return nil, err
	}
	defer st.Close(context.Background())

	// The agents: each its own bus connection, as real agents; one store
	// connection and one machine between them, as they share this process.
	actx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopAgents(); wg.Wait() }()
	machine := simagent.NewMachine("bench")
	connect := func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(ctx, c.redis.URL, h, quietLog) }
	agents := make([]*simagent.Agent, nAgents)
	start := time.Now()
	for i := range agents {
		a, err := simagent.New(simagent.Config{Name: fmt.Sprintf("sim-%03d", i), Heartbeat: beat, ClusterSecret: scaleSecret, Machine: machine, Log: quietLog}, st, connect)
		if err != nil {
			return nil, err
		}
		agents[i] = a
		wg.Go(func() { _ = a.Run(actx) })
		// Spread over one heartbeat, as agents started at different times
		// beat at different moments.
		time.Sleep(beat / time.Duration(nAgents))
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * scaleCallers}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	if err := r.waitAgents(ctx, hc, masters, nAgents, 60*time.Second); err != nil {
		return res, err
	}
	res.OnlineS = time.Since(start).Seconds()
	r.logf("scenario 14: %d simulated agents online on %d masters %.1f s after the first started", nAgents, ScaleMasters, res.OnlineS)
	if err := r.checkAgents(ctx, hc, res, "after the start", masters, nAgents); err != nil {
		return res, err
	}

	// Fake running tasks on random nodes: their logs come from the node.
	rnd := rand.New(rand.NewPCG(14, 14))
	tasks := make([]string, scaleTasks)
	for i := range tasks {
		id, a := store.NewID(), agents[rnd.IntN(nAgents)]
		a.Fake(id, scaleLogLines)
		now := store.Now()
		if err := st.Tasks().Create(ctx, &store.Task{ID: id, NodeID: a.NodeID(), Mode: "node", Status: store.TaskRunning, Command: "true", Created: now, Started: now}); err != nil {
			return res, err
		}
		tasks[i] = id
	}

	// The first get_sysinfo probes the machine's executables (python,
	// node, …: half a second), kept for a minute; made here, it is not
	// counted in the window below, as it would not be in a cluster that
	// has been running.
	if _, err := scaleCall(ctx, hc, masters[0], scaleOpSysinfo, agents, tasks, nAgents, rnd); err != nil {
		return res, err
	}

	// Heartbeats alone.
	res.Procs = make([]AgentsMasterRow, ScaleMasters)
	others := r.procs.otherPIDs()
	cpu, ocpu := cpuWindow(masters), cpuWindowPIDs(others.pids)
	sleepCtx(ctx, window)
	for i, pct := range ocpu() {
		res.Others = append(res.Others, AgentsOtherRow{Process: others.names[i], IdleCPU: pct})
	}
	for i, pct := range cpu() {
		rss, _ := masters[i].RSS()
		res.Procs[i] = AgentsMasterRow{Master: i + 1, IdleCPU: pct, IdleRSSMiB: float64(rss) / (1 << 20)}
	}
	if err := r.checkAgents(ctx, hc, res, "after the idle window", masters, nAgents); err != nil {
		return res, err
	}

	// Calls to random nodes through every master at once.
	type counts struct {
		hist                 Hist
		calls, errors, wrong atomic.Int64
	}
	stats := make([][]*counts, ScaleMasters)
	for i := range stats {
		for range scaleOps {
			stats[i] = append(stats[i], &counts{})
		}
	}
	var errMu sync.Mutex
	var firstErr error
	cpu, ocpu = cpuWindow(masters), cpuWindowPIDs(others.pids)
	wctx, cancel := context.WithTimeout(ctx, window)
	var callers sync.WaitGroup
	for mi, m := range masters {
		for ci := range scaleCallers {
			callers.Go(func() {
				rnd := rand.New(rand.NewPCG(uint64(mi), uint64(ci)))
				for wctx.Err() == nil {
					op := rnd.IntN(10)
					k := 0 // 45 % sysinfo, 45 % log, 10 % the list
					switch {
					case op >= 9:
						k = 2
					case op >= 4:
						k = 1
					}
					t0 := time.Now()
					ok, err := scaleCall(wctx, hc, m, scaleOps[k], agents, tasks, nAgents, rnd)
					if wctx.Err() != nil {
						return // cut by the window's end: not counted
					}
					s := stats[mi][k]
					s.calls.Add(1)
					switch {
					case err != nil:
						s.errors.Add(1)
						errMu.Lock()
						if firstErr == nil {
							firstErr = fmt.Errorf("master %d, %s: %w", mi+1, scaleOps[k], err)
						}
						errMu.Unlock()
					case !ok:
						s.wrong.Add(1)
					default:
						s.hist.Record(time.Since(t0))
					}
				}
			})
		}
	}
	callers.Wait()
	cancel()
	for i, pct := range ocpu() {
		res.Others[i].RPCCPU = pct
	}
	for i, pct := range cpu() {
		rss, _ := masters[i].RSS()
		res.Procs[i].RPCCPU, res.Procs[i].RPCRSSMiB = pct, float64(rss)/(1<<20)
	}
	for mi := range masters {
		for k, op := range scaleOps {
			s := stats[mi][k]
			row := AgentsRPCRow{Master: mi + 1, Op: op, Calls: s.calls.Load(), Errors: s.errors.Load(), Wrong: s.wrong.Load(), Latency: s.hist.Summary()}
			row.PerS = float64(row.Calls) / window.Seconds()
			res.RPC = append(res.RPC, row)
			r.logf("scenario 14: master %d, %s: %d calls (%.0f/s), %d errors, %d wrong; p50 %.2f ms, p99 %.2f ms",
				row.Master, op, row.Calls, row.PerS, row.Errors, row.Wrong, row.Latency.P50ms, row.Latency.P99ms)
		}
		p := res.Procs[mi]
		r.logf("scenario 14: master %d: CPU %.1f %% of a core hearing %d agents, %.1f %% while called; RSS %.1f / %.1f MiB",
			mi+1, p.IdleCPU, nAgents, p.RPCCPU, p.IdleRSSMiB, p.RPCRSSMiB)
	}
	if firstErr != nil {
		r.logf("scenario 14: first call error: %v", firstErr)
	}
	if err := r.checkAgents(ctx, hc, res, "after the RPC window", masters, nAgents); err != nil {
		return res, err
	}

	// One agent stops without a goodbye: every master must find it silent.
	gone := agents[nAgents-1]
	gone.Crash()
	t0 := time.Now()
	res.OfflineS = make([]float64, ScaleMasters)
	var offline sync.WaitGroup
	errs := make([]error, ScaleMasters)
	for i, m := range masters {
		offline.Go(func() {
			errs[i] = pollUntil(ctx, 40*time.Second, func() (bool, error) {
				listed, heard, err := nodesSeen(ctx, hc, m)
				return err == nil && listed == nAgents-1 && heard == nAgents-1, err
			})
			res.OfflineS[i] = time.Since(t0).Seconds()
		})
	}
	offline.Wait()
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("a silent agent: %w", err)
	}
	r.logf("scenario 14: a silent agent offline on every master after %.1f / %.1f / %.1f s", res.OfflineS[0], res.OfflineS[1], res.OfflineS[2])
	return res, nil
}

// scaleCall makes one call of kind op through m and says whether its
// answer is what the node (or the store) holds.
func scaleCall(ctx context.Context, hc *http.Client, m *Master, op string, agents []*simagent.Agent, tasks []string, nAgents int, rnd *rand.Rand) (bool, error) {
	switch op {
	case scaleOpSysinfo:
		a := agents[rnd.IntN(nAgents-1)] // the last one is stopped later
		var si struct {
			NodeID string `json:"node_id"`
			CPUs   int    `json:"cpus"`
		}
		if err := getJSON(ctx, hc, m, "/api/nodes/"+a.NodeID()+"/sysinfo", &si); err != nil {
			return false, err
		}
		return si.NodeID == a.NodeID() && si.CPUs > 0, nil
	case scaleOpLog:
		id := tasks[rnd.IntN(len(tasks))]
		from := rnd.Int64N(scaleLogLines - 100)
		var lb struct {
			From  int64    `json:"from"`
			Lines []string `json:"lines"`
		}
		if err := getJSON(ctx, hc, m, "/api/tasks/"+id+"/log?from="+strconv.FormatInt(from, 10)+"&limit=100", &lb); err != nil {
			return false, err
		}
		return lb.From == from && len(lb.Lines) == 100 && lb.Lines[99] == simagent.FakeLine(id, from+99), nil
	default:
		n, err := listedOnline(ctx, hc, m)
		return n == nAgents, err
	}
}

func getJSON(ctx context.Context, hc *http.Client, m *Master, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d: %s", path, resp.StatusCode, b)
	}
	return json.Unmarshal(b, out)
}

func listedOnline(ctx context.Context, hc *http.Client, m *Master) (int, error) {
	var l struct {
		Items []struct {
			Status string `json:"status"`
		} `json:"items"`
	}
	if err := getJSON(ctx, hc, m, "/api/nodes", &l); err != nil {
		return 0, err
	}
	n := 0
	for _, it := range l.Items {
		if it.Status == store.NodeOnline {
			n++
		}
	}
	return n, nil
}

// heardOnline reads the master's crawlhub_nodes_online: the nodes whose
// heartbeats it hears itself.
func heardOnline(ctx context.Context, hc *http.Client, m *Master) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "crawlhub_nodes_online "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	return 0, fmt.Errorf("no crawlhub_nodes_online in /metrics (HTTP %d)", resp.StatusCode)
}

func nodesSeen(ctx context.Context, hc *http.Client, m *Master) (listed, heard int, err error) {
	if listed, err = listedOnline(ctx, hc, m); err != nil {
		return 0, 0, err
	}
	heard, err = heardOnline(ctx, hc, m)
	return listed, heard, err
}

// waitAgents waits until every master lists and hears n nodes online.
func (r *run) waitAgents(ctx context.Context, hc *http.Client, masters []*Master, n int, timeout time.Duration) error {
	for i, m := range masters {
		var listed, heard int
		err := pollUntil(ctx, timeout, func() (bool, error) {
			var err error
			listed, heard, err = nodesSeen(ctx, hc, m)
			return err == nil && listed == n && heard == n, nil
		})
		if err != nil {
			return fmt.Errorf("master %d lists %d and hears %d of %d agents: %w", i+1, listed, heard, n, err)
		}
	}
	return nil
}

// checkAgents records every master's view now; all must be n.
func (r *run) checkAgents(ctx context.Context, hc *http.Client, res *AgentsResult, when string, masters []*Master, n int) error {
	var bad []string
	for i, m := range masters {
		listed, heard, err := nodesSeen(ctx, hc, m)
		if err != nil {
			return err
		}
		res.Checks = append(res.Checks, AgentsCheck{When: when, Master: i + 1, Listed: listed, Heard: heard})
		if listed != n || heard != n {
			bad = append(bad, fmt.Sprintf("master %d lists %d and hears %d", i+1, listed, heard))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s, of %d agents: %s", when, n, strings.Join(bad, "; "))
	}
	return nil
}

// pollUntil calls f every 200 ms until it says done, its error aside, or
// timeout passes: another process's state, seen through its API.
func pollUntil(ctx context.Context, timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		done, err := f()
		if done {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v (last error: %v)", timeout, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// cpuWindow starts measuring the masters' CPU; the function it returns
// gives each one's use since, in % of one core.
func cpuWindow(masters []*Master) func() []float64 {
	pids := make([]int, len(masters))
	for i, m := range masters {
		pids[i] = m.PID()
	}
	return cpuWindowPIDs(pids)
}

func cpuWindowPIDs(pids []int) func() []float64 {
	t0 := time.Now()
	before := make([]float64, len(pids))
	for i, pid := range pids {
		before[i], _ = cpuSeconds(pid)
	}
	return func() []float64 {
		wall := time.Since(t0).Seconds()
		out := make([]float64, len(pids))
		for i, pid := range pids {
			after, _ := cpuSeconds(pid)
			out[i] = (after - before[i]) / wall * 100
		}
		return out
	}
}

// otherPIDs are the store's, Redis's and the harness's own process ids.
func (ps *Procs) otherPIDs() (o struct {
	names []string
	pids  []int
}) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, want := range []string{"ferretdb", "redis"} {
		for _, p := range ps.procs {
			if p.Name == want && !p.Exited() {
				o.names, o.pids = append(o.names, want), append(o.pids, p.PID())
				break
			}
		}
	}
	o.names, o.pids = append(o.names, "harness (agents and callers)"), append(o.pids, os.Getpid())
	return o
}

// renderAgents writes scenario 14's section of BENCHMARKS.md.
func renderAgents(w func(string, ...any), res *Results) {
	a := res.Agents
	if a == nil {
		return
	}
	w("## 14. %d agents on %d masters\n\n", a.Agents, a.Masters)
	w("%d `crawlhub server` processes on one redis-server and the FerretDB test server, with a cluster secret (every message signed). ", a.Masters)
	w("The agents are simulated (`internal/simagent`), all in the harness process: each registers in the store as `crawlhub agent` does, has its own Redis connection, ")
	w("heartbeats every %.0f s with the machine's load on the bus and in the store, and answers `get_sysinfo` and `get_log` through the real `wire.Responder`, signed. ", a.HeartbeatS)
	w("They run no spiders: they do not poll the store for tasks, which %d real agents would also do. ", a.Agents)
	w("They start spread over one heartbeat; every master listed and heard them all %.1f s after the first started.\n\n", a.OnlineS)
	w("Node lists: online nodes in each master's `GET /api/nodes` (the store) and its `crawlhub_nodes_online` (the heartbeats it hears itself):\n\n")
	w("| when | master | listed online | heard |\n|---|---|---|---|\n")
	for _, c := range a.Checks {
		w("| %s | %d | %d | %d |\n", c.When, c.Master, c.Listed, c.Heard)
	}
	w("\nCalls for %.0f s, %d callers on each master at once, to random nodes through the master's REST API: `GET /api/nodes/:id/sysinfo` (a `get_sysinfo` to the node), ", a.WindowS, scaleCallers)
	w("`GET /api/tasks/:id/log` of a running task (a `get_log` to its node, %d lines; the node's lines are checked), and `GET /api/nodes` (all %d online). ", 100, a.Agents)
	w("Wrong: answered, but not what the node holds. Latency is the caller's, through HTTP, the master, Redis and the agent and back.\n\n")
	w("| master | call | calls | calls/s | errors | wrong | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range a.RPC {
		w("| %d | %s | %s | %s | %d | %d | %s | %s | %s |\n", r.Master, r.Op, f0(float64(r.Calls)), f0(r.PerS), r.Errors, r.Wrong, ms(r.Latency.P50ms), ms(r.Latency.P99ms), ms(r.Latency.MaxMs))
	}
	w("\nEach master's CPU (user + system, from `/proc/<pid>/stat`, in %% of one core) over each %.0f s window, and its RSS at the window's end:\n\n", a.WindowS)
	w("| master | hearing %d agents: CPU %% | RSS MiB | while called: CPU %% | RSS MiB |\n|---|---|---|---|---|\n", a.Agents)
	for _, p := range a.Procs {
		w("| %d | %.1f | %.1f | %.1f | %.1f |\n", p.Master, p.IdleCPU, p.IdleRSSMiB, p.RPCCPU, p.RPCRSSMiB)
	}
	if len(a.Others) > 0 {
		w("\nThe other processes in the same windows (CPU %% of one core), on a machine of %d cores:\n\n| process | hearing | while called |\n|---|---|---|\n", res.Machine.Cores)
		for _, o := range a.Others {
			w("| %s | %.1f | %.1f |\n", o.Process, o.IdleCPU, o.RPCCPU)
		}
	}
	if len(a.OfflineS) > 0 {
		parts := make([]string, len(a.OfflineS))
		for i, s := range a.OfflineS {
			parts[i] = fmt.Sprintf("%.1f s", s)
		}
		w("\nOne agent stopped without a goodbye (as a killed process): every master listed it offline and stopped hearing it after %s (masters 1–%d): a node is offline %.0f s (3 beats) after its last heartbeat, which came up to %.0f s before it stopped.\n", strings.Join(parts, ", "), len(a.OfflineS), 3*a.HeartbeatS, a.HeartbeatS)
	}
	w("\n")
}

// evalAgents is scenario 14's target: correctness at scale, with each
// master's CPU reported.
func evalAgents(res *Results) TargetResult {
	t := "200 agents on 3 masters: every master lists and hears every agent online throughout, every call through every master answered by the right node; each master's CPU reported"
	a := res.Agents
	if a == nil || len(a.RPC) == 0 {
		return TargetResult{Scenario: "14", Target: t, Verdict: "not measured: the scenario failed"}
	}
	met := a.Agents >= ScaleAgents && a.Masters >= ScaleMasters && len(a.OfflineS) == a.Masters
	for _, c := range a.Checks {
		met = met && c.Listed == a.Agents && c.Heard == a.Agents
	}
	var calls, bad int64
	var p99 float64
	for _, r := range a.RPC {
		calls += r.Calls
		bad += r.Errors + r.Wrong
		if r.Op != scaleOpList {
			p99 = max(p99, r.Latency.P99ms)
		}
	}
	met = met && bad == 0 && calls > 0
	var cpu []string
	for _, p := range a.Procs {
		cpu = append(cpu, fmt.Sprintf("%.1f / %.1f %%", p.IdleCPU, p.RPCCPU))
	}
	m := fmt.Sprintf("%d agents, %d masters: %d calls, %d failed or wrong, node RPC p99 at most %.1f ms; CPU of a core (hearing / called): %s",
		a.Agents, a.Masters, calls, bad, p99, strings.Join(cpu, ", "))
	return TargetResult{Scenario: "14", Target: t, Measured: m, Met: met, Verdict: verdict(met)}
}
