// Package bench is crawlhub's benchmark harness (issue 5): it measures the
// master's WebSocket hub and the node RPC on loopback, against the
// machine's own limits (redis-benchmark, a bare gorilla/websocket server)
// and against Centrifugo, and writes bench/results.json and
// BENCHMARKS.md. Every process it starts is its own child, on loopback,
// stopped when the run ends; every load loop is bounded in time.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// Config configures a run.
type Config struct {
	// OutDir receives results.json and profiles (bench/).
	OutDir string
	// Markdown is where BENCHMARKS.md goes; empty means none.
	Markdown string
	// WorkDir holds the processes' data and logs; removed at the end
	// unless Keep.
	WorkDir string
	Keep    bool
	// Binaries. CentrifugoBin empty means Centrifugo is not available, for
	// the reason in CentrifugoMissing.
	CrawlhubBin       string
	FerretBin         string
	CentrifugoBin     string
	CentrifugoMissing string
	HarnessBin        string
	// Only runs the named scenarios ("1".."9", "10", "11", "12", "13", "14", "profiles"); empty means all.
	Only []string
	// Quick shortens every measurement, for trying the harness out; its
	// figures are not the benchmark's.
	Quick bool
	Log   io.Writer
}

type run struct {
	cfg   Config
	procs *Procs
	res   *Results
	mu    sync.Mutex
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *run) fail(what string, err error) {
	r.mu.Lock()
	r.res.Errors = append(r.res.Errors, what+": "+err.Error())
	r.mu.Unlock()
	r.logf("ERROR %s: %v", what, err)
}

// d scales a duration down in quick mode.
func (r *run) d(d time.Duration) time.Duration {
	if r.cfg.Quick {
		return d / 3
	}
	return d
}

func (r *run) want(s string) bool { return len(r.cfg.Only) == 0 || slices.Contains(r.cfg.Only, s) }

// Run runs the benchmarks and writes the results.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	// Profiles are this run's: none of an earlier run's is left to mislead.
	if len(cfg.Only) == 0 || slices.Contains(cfg.Only, "profiles") {
		os.RemoveAll(filepath.Join(cfg.OutDir, "profiles"))
	}
	r := &run{cfg: cfg, procs: &Procs{Dir: cfg.WorkDir}, res: &Results{Started: time.Now().UTC(), Quick: cfg.Quick}}
	defer func() {
		r.procs.StopAll()
		if !cfg.Keep {
			os.RemoveAll(cfg.WorkDir)
		}
	}()
	nofile := raiseNoFile()
	r.res.Machine = machineFacts(cfg, nofile)
	r.logf("machine: %s, %d cores, %.1f GiB, kernel %s, %s, redis %s, centrifugo %s; RLIMIT_NOFILE %d",
		r.res.Machine.CPU, r.res.Machine.Cores, r.res.Machine.MemoryGiB, r.res.Machine.Kernel, r.res.Machine.Go,
		r.res.Machine.Redis, r.res.Machine.Centrifugo, nofile)

	if b := r.res.Machine.BusyBefore; b > 0.2 {
		r.logf("WARNING: the CPUs were %.0f %% busy before the run started: something else is using this machine, and the figures will show it", b*100)
	}
	r.all(ctx)
	r.res.Machine.LoadAfter = loadAverage()

	r.res.DurationS = time.Since(r.res.Started).Seconds()
	r.res.Targets = evaluate(r.res, cfg.CentrifugoBin != "")
	if r.want("profiles") {
		r.profileMisses(ctx)
	}
	r.res.DurationS = time.Since(r.res.Started).Seconds()
	if err := r.write(); err != nil {
		return r.res, err
	}
	return r.res, nil
}

func (r *run) write() error {
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(r.cfg.OutDir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if r.cfg.Markdown != "" {
		return os.WriteFile(r.cfg.Markdown, []byte(renderMarkdown(r.res, r.cfg)), 0o644)
	}
	return nil
}

// cluster is one Redis, the FerretDB store, one master and one agent.
type cluster struct {
	redis    *Redis
	mongo    string // base URI of FerretDB
	master   *Master
	agent    *Agent
	spiderID string // the emitting spider
}

func (r *run) all(ctx context.Context) {
	redis, err := r.procs.StartRedis(ctx)
	if err != nil {
		r.fail("redis-server", err)
		return
	}
	if r.want("6") {
		r.scenarioRedisBench(ctx, redis)
	}
	_, ferretURI, err := r.procs.StartFerret(ctx, r.cfg.FerretBin)
	if err != nil {
		r.fail("ferretdb", err)
		return
	}
	c := &cluster{redis: redis, mongo: ferretURI}
	if (r.want("3") || r.want("4")) && r.cfg.CentrifugoBin != "" {
		r.res.Setup = append(r.res.Setup, "Centrifugo: "+r.res.Machine.Centrifugo+" as a subprocess, Redis engine on the same redis-server, "+
			"anonymous connections (no JWT), JSON protocol over WebSocket, publishing through its HTTP API (/api/publish).")
	}
	if r.want("1") || r.want("2") || r.want("3") || r.want("5") {
		if err := r.startCluster(ctx, c, "bench_main", "agent1", ""); err != nil {
			r.fail("cluster", err)
			return
		}
		r.res.Setup = append(r.res.Setup,
			"crawlhub: `crawlhub server` and `crawlhub agent` as subprocesses (built from this tree), on a redis-server "+redis.Version()+
				" of their own and the FerretDB test server (tools/ferretdb, MongoDB wire protocol on SQLite) as the store; the WebSocket clients, "+
				"the publishers and the RPC callers run in the harness process.")
		if r.want("1") {
			r.scenarioRPC(ctx, c)
		}
		if r.want("5") {
			r.scenarioBacklog(ctx, c)
		}
		if r.want("2") {
			r.scenarioLogs(ctx, c)
		}
		if r.want("3") {
			r.fanoutAll(ctx, c)
		}
		c.agent.Stop(15 * time.Second)
		c.master.Stop(15 * time.Second)
	}
	if r.want("5") {
		r.scenarioBacklogAllInOne(ctx)
	}
	if r.want("4") {
		r.scenarioIdleCrawlhub(ctx, c)
	}
	if r.want("4") {
		r.bareScenarios(ctx, c.redis)
		r.centrifugoScenarios(ctx, c.redis)
	}
	if r.want("7") {
		r.scenarioSchedules(ctx)
	}
	if r.want("8") {
		r.scenarioItems(ctx)
	}
	if r.want("9") {
		r.scenarioSigned(ctx, c)
	}
	if r.want("10") {
		r.scenarioStats(ctx, c)
	}
	if r.want("11") {
		r.scenarioLogSearch(ctx, c.mongo)
	}
	if r.want("12") {
		r.scenarioNodeHistory(ctx, c)
	}
	if r.want("13") {
		r.scenarioDispatch(ctx, c)
	}
	if r.want("14") {
		r.scenarioAgents(ctx, c)
	}
}

// fanoutAll runs scenario 3 on crawlhub (c's master), the bare server and
// Centrifugo, all running at once on the same Redis and taking turns.
func (r *run) fanoutAll(ctx context.Context, c *cluster) {
	systems := []*fanSystem{{kind: KindCrawlhub, sub: Sub{Kind: KindCrawlhub, URL: wsURL(c.master.Base), Channel: "tasks"}, pf: r.crawlhubPublisher(c.redis)}}
	bare, url, err := r.startBare(ctx, c.redis)
	if err != nil {
		r.fail("bare server", err)
	} else {
		defer bare.Stop(10 * time.Second)
		pf, closer := redisPublisher(c.redis, bareChannel)
		defer closer()
		systems = append(systems, &fanSystem{kind: KindBare, sub: Sub{Kind: KindBare, URL: url, Channel: bareChannel}, pf: pf})
	}
	floor, furl, err := r.startFloor(ctx, c.redis)
	if err != nil {
		r.fail("write floor", err)
	} else {
		defer floor.Stop(10 * time.Second)
		pf, closer := redisPublisher(c.redis, floorChannel)
		defer closer()
		systems = append(systems, &fanSystem{kind: KindFloor, sub: Sub{Kind: KindBare, URL: furl, Channel: floorChannel}, pf: pf})
	}
	if r.cfg.CentrifugoBin != "" {
		p, port, err := r.startCentrifugo(ctx, c.redis)
		if err != nil {
			r.fail("centrifugo", err)
		} else {
			defer p.Stop(10 * time.Second)
			base := "127.0.0.1:" + strconv.Itoa(port)
			systems = append(systems, &fanSystem{kind: KindCentrifugo, sub: Sub{Kind: KindCentrifugo, URL: "ws://" + base + "/connection/websocket", Channel: "bench"},
				pf: centrifugoPublisher("http://"+base+"/api/publish", "bench")})
		}
	}
	r.scenarioFanout(ctx, systems)
}

// startCluster starts a master (the real binary, or the harness's pprof
// master when pprof is set) and an agent on database db, and the spider
// that emits log lines.
func (r *run) startCluster(ctx context.Context, c *cluster, db, agentName string, harness string) error {
	return r.startClusterSigned(ctx, c, db, agentName, harness, "")
}

// startClusterSigned is startCluster with the master and the agent given
// secret as their cluster secret ("": the insecure bus).
func (r *run) startClusterSigned(ctx context.Context, c *cluster, db, agentName, harness, secret string) error {
	uri := c.mongo + db
	m, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, HarnessBin: harness, RedisURL: c.redis.URL, MongoURI: uri, ClusterSecret: secret})
	if err != nil {
		return err
	}
	a, err := r.procs.StartAgent(ctx, r.cfg.CrawlhubBin, c.redis.URL, uri, agentName, secret, m)
	if err != nil {
		return err
	}
	c.master, c.agent = m, a
	c.spiderID, err = m.CreateSpider(ctx, "emit-"+agentName, "exec '"+r.cfg.HarnessBin+"' emit")
	return err
}

func wsURL(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/ws" }

// raiseNoFile lifts RLIMIT_NOFILE as high as it goes (10,000 clients here
// and 10,000 server sockets in the server's process, which inherits it).
func raiseNoFile() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	// Root may raise the hard limit too.
	for _, want := range []uint64{1 << 20, 262144, 65536} {
		if want <= lim.Max {
			break
		}
		l := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l) == nil {
			lim = l
			break
		}
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
