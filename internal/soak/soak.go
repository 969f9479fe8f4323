// Package soak is `make soak`: a cluster of real crawlhub processes (two
// masters, three agents, Redis, the FerretDB test server, all on loopback
// with private ports and directories) under a mixed load for a while —
// short and long tasks, cancels, browsers following logs and reconnecting,
// JSON-RPC calls, spider uploads — sampling every process's memory,
// goroutines and open files and Redis's memory. A run fails when a sampled
// value grows without bound (the rule is in growth.go) or when a task or a
// log line is lost. docs/soak.md has the report of a real run and says how
// to run it.
//
// It starts its processes with internal/bench's helpers.
package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/internal/bench"
)

// Config says what to run and for how long.
type Config struct {
	CrawlhubBin string // the crawlhub binary under test
	FerretBin   string // the FerretDB test server (tools/ferretdb)
	HarnessBin  string // this harness's binary: its "emit" command is the spiders' command

	Duration time.Duration // how long the load runs (the drain comes after)
	Browsers int           // log followers; zero means 200
	WorkDir  string        // processes' data and logs; empty: a temporary directory, removed unless Keep
	Keep     bool

	// Report is the Markdown file whose generated section (between
	// reportBegin and reportEnd) gets the run's report; empty: none.
	Report string
	// Chart is where the SVG chart of the samples goes; empty: none.
	Chart string
	// Samples is where the run's samples and findings go as JSON, from
	// which Render makes the chart and the report again; empty: none.
	Samples string

	Log io.Writer // progress; nil: os.Stderr
}

// Result is what a run found.
type Result struct {
	Started  time.Time
	Duration time.Duration // of the load
	Drain    time.Duration // from the load's end until every task had ended
	Interval time.Duration // between samples
	LoadAvg  string        // the machine's load average (1, 5, 15 min) at the end of the run, from /proc/loadavg
	Series   []*Series
	Verdicts []Verdict
	Load     LoadStats
	Losses   []string // every lost task or line, and every follower's gap, in words
	Problems []string // other failures (a process that died, RPC errors over the bound)
}

// Failed reports whether the run failed, and why.
func (r *Result) Failed() error {
	var errs []error
	for _, v := range r.Verdicts {
		if v.Grew {
			errs = append(errs, fmt.Errorf("%s %s grew: %s", v.Proc, v.Metric, v.Why()))
		}
	}
	for _, l := range r.Losses {
		errs = append(errs, errors.New(l))
	}
	for _, p := range r.Problems {
		errs = append(errs, errors.New(p))
	}
	return errors.Join(errs...)
}

const (
	clusterSecret = "soak-cluster-secret-0123456789abcdef"
	masters       = 2
	agents        = 3
	// agentConcurrency is each agent's task slots: enough for the long
	// tasks, the cancelled ones and the short ones at once.
	agentConcurrency = 4
)

// cluster is what Run started.
type cluster struct {
	procs   *bench.Procs
	redis   *bench.Redis
	ferret  *bench.Proc
	masters []*bench.Master
	agents  []*agentProc
	nodeIDs []string
}

type agentProc struct {
	*bench.Agent
	Metrics string // http://127.0.0.1:PORT/metrics
}

// Run starts the cluster, runs the load for cfg.Duration, drains it,
// checks what was stored and stops everything. The error is for a run
// that could not be made (a process that did not start); a run that was
// made and found a leak or a loss returns its Result with Failed set.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Browsers == 0 {
		cfg.Browsers = 200
	}
	if cfg.Log == nil {
		cfg.Log = os.Stderr
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(cfg.Log, "soak: "+format+"\n", a...)
	}
	work := cfg.WorkDir
	if work == "" {
		d, err := os.MkdirTemp("", "crawlhub-soak-")
		if err != nil {
			return nil, err
		}
		work = d
		if !cfg.Keep {
			defer os.RemoveAll(d)
		}
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	logf("work directory %s", work)

	c := &cluster{procs: &bench.Procs{Dir: work}}
	defer c.procs.StopAll()
	if err := c.start(ctx, cfg, logf); err != nil {
		return nil, err
	}

	res := &Result{Started: time.Now(), Duration: cfg.Duration}
	res.Interval = sampleInterval(cfg.Duration)
	smp := newSampler(c, res.Interval)
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.Duration)
	defer stopLoad()
	logf("load for %v with %d browsers; a sample every %v", cfg.Duration, cfg.Browsers, res.Interval)

	sampled := make(chan struct{})
	go func() { defer close(sampled); smp.run(loadCtx) }()
	ld := newLoad(c, cfg, logf)
	ld.run(loadCtx, ctx)
	<-sampled
	end := time.Now()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			res.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Drain = end.Sub(res.Started) - cfg.Duration
	res.Series = smp.series()
	res.Verdicts = judgeAll(res.Series, cfg.Duration)
	logf("load done; drained in %v; checking every task and its stored log", res.Drain.Round(time.Second))
	res.Losses = append(res.Losses, ld.followerLosses()...)
	res.Losses = append(res.Losses, ld.verifyStore(ctx)...)
	res.Problems = append(res.Problems, ld.problems()...)
	res.Load = ld.stats()
	for _, p := range c.allProcs() {
		if p.Exited() {
			res.Problems = append(res.Problems, fmt.Sprintf("%s exited during the run: %s", p.Name, p.Tail()))
		}
	}
	return res, Write(res, cfg)
}

// Write writes a run's samples (Config.Samples), its chart and its
// report, as Config says.
func Write(res *Result, cfg Config) error {
	if cfg.Samples != "" {
		b, err := json.MarshalIndent(res, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.Samples, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if cfg.Chart != "" {
		if err := os.WriteFile(cfg.Chart, []byte(chartSVG(res)), 0o644); err != nil {
			return err
		}
	}
	if cfg.Report != "" {
		chart := ""
		if cfg.Chart != "" {
			rel, err := filepath.Rel(filepath.Dir(cfg.Report), cfg.Chart)
			if err != nil {
				rel = cfg.Chart
			}
			chart = filepath.ToSlash(rel)
		}
		return writeReport(cfg.Report, res, chart)
	}
	return nil
}

// Render writes the chart and the report again from a run's samples
// (Config.Samples), judging them by the rule as it is now.
func Render(cfg Config) (*Result, error) {
	b, err := os.ReadFile(cfg.Samples)
	if err != nil {
		return nil, err
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Samples, err)
	}
	res.Verdicts = judgeAll(res.Series, res.Duration)
	cfg.Samples = ""
	return &res, Write(&res, cfg)
}

// start starts Redis, FerretDB, the masters and the agents.
func (c *cluster) start(ctx context.Context, cfg Config, logf func(string, ...any)) error {
	var err error
	if c.redis, err = c.procs.StartRedis(ctx); err != nil {
		return err
	}
	var base string
	if c.ferret, base, err = c.procs.StartFerret(ctx, cfg.FerretBin); err != nil {
		return err
	}
	uri := base + "crawlhub_soak"
	for range masters {
		m, err := c.procs.StartMaster(ctx, bench.MasterSpec{CrawlhubBin: cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: uri, ClusterSecret: clusterSecret})
		if err != nil {
			return err
		}
		c.masters = append(c.masters, m)
	}
	for i := range agents {
		port, err := bench.FreePort()
		if err != nil {
			return err
		}
		listen := "127.0.0.1:" + strconv.Itoa(port)
		name := fmt.Sprintf("soak-%d", i+1)
		a, err := c.procs.StartAgent(ctx, cfg.CrawlhubBin, c.redis.URL, uri, name, clusterSecret, c.masters[i%len(c.masters)],
			"--concurrency", strconv.Itoa(agentConcurrency), "--metrics-listen", listen)
		if err != nil {
			return err
		}
		c.agents = append(c.agents, &agentProc{Agent: a, Metrics: "http://" + listen + "/metrics"})
		id, err := c.masters[0].NodeID(ctx, name)
		if err != nil {
			return err
		}
		c.nodeIDs = append(c.nodeIDs, id)
	}
	logf("started Redis, FerretDB, %d masters and %d agents", len(c.masters), len(c.agents))
	return nil
}

func (c *cluster) allProcs() []*bench.Proc {
	ps := []*bench.Proc{c.redis.Proc, c.ferret}
	for _, m := range c.masters {
		ps = append(ps, m.Proc)
	}
	for _, a := range c.agents {
		ps = append(ps, a.Proc)
	}
	return ps
}

// sampleInterval takes about 120 samples in a run, every 2 to 15 s.
func sampleInterval(d time.Duration) time.Duration {
	return min(15*time.Second, max(2*time.Second, (d/120).Round(time.Second)))
}
