package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
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
	// SettledS, when the view was short, is how long it took to list and
	// hear every agent again (-1: not within scaleSettle).
	SettledS float64 `json:"settled_s,omitempty"`
}

// scaleSettle is how long a master whose view is short is given to
// list and hear every agent again before the scenario gives up.
const scaleSettle = 30 * time.Second

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
	cpu, ocpu = cpuWindow(masters), cpuWindowPIDs(others.pids)
	rows, firstErr := callWindow(ctx, hc, masters, agents, tasks, window)
	for i, pct := range ocpu() {
		res.Others[i].RPCCPU = pct
	}
	for i, pct := range cpu() {
		rss, _ := masters[i].RSS()
		res.Procs[i].RPCCPU, res.Procs[i].RPCRSSMiB = pct, float64(rss)/(1<<20)
	}
	res.RPC = rows
	for _, row := range rows {
		r.logf("scenario 14: master %d, %s: %d calls (%.0f/s), %d errors, %d wrong; p50 %.2f ms, p99 %.2f ms",
			row.Master, row.Op, row.Calls, row.PerS, row.Errors, row.Wrong, row.Latency.P50ms, row.Latency.P99ms)
	}
	for mi := range masters {
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
