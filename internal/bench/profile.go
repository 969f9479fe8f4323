package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// profileSeconds is how long a CPU profile samples.
const profileSeconds = 5

// profileMisses re-runs, for each missed target, its scenario against the
// harness's pprof master (the same wiring as `crawlhub server`) and keeps
// a CPU profile (a heap profile for scenario 4) of it with its top
// functions.
func (r *run) profileMisses(ctx context.Context) {
	missed := map[string]bool{}
	for _, t := range r.res.Targets {
		if t.Verdict == "missed" {
			missed[t.Scenario] = true
		}
	}
	if len(missed) == 0 {
		return
	}
	dir := filepath.Join(r.cfg.OutDir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.fail("profiles", err)
		return
	}
	redis, err := r.procs.StartRedis(ctx)
	if err != nil {
		r.fail("profiles", err)
		return
	}
	_, ferretURI, err := r.procs.StartFerret(ctx, r.cfg.FerretBin)
	if err != nil {
		r.fail("profiles", err)
		return
	}
	c := &cluster{redis: redis, mongo: ferretURI}
	if err := r.startCluster(ctx, c, "bench_prof", "agentp", r.cfg.HarnessBin); err != nil {
		r.fail("profiles", err)
		return
	}
	defer func() {
		c.agent.Stop(15 * time.Second)
		c.master.Stop(15 * time.Second)
	}()
	r.logf("profiles: for the missed targets of scenarios %v, against the pprof master", keys(missed))

	// cpuDuring takes a CPU profile of the master while work runs.
	cpuDuring := func(scenario, name string, work func()) {
		path := filepath.Join(dir, name+".pprof")
		var wg sync.WaitGroup
		var perr error
		wg.Go(func() { perr = fetchProfile(ctx, c.master.Pprof, "profile", profileSeconds, path) })
		time.Sleep(200 * time.Millisecond)
		work()
		wg.Wait()
		r.addProfile(scenario, "cpu", path, perr)
	}

	if missed["1"] {
		// The caller's side runs in this process: profile it here.
		path := filepath.Join(dir, "s1-rpc-ping-c256-caller.pprof")
		rc, err := newRPCCaller(ctx, c.redis.URL, "")
		if err == nil {
			node, nerr := c.master.NodeID(ctx, c.agent.Name)
			f, ferr := os.Create(path)
			if nerr == nil && ferr == nil && pprof.StartCPUProfile(f) == nil {
				measureRPC(ctx, rc, node, wire.OpPing, 256, 0, profileSeconds*time.Second)
				pprof.StopCPUProfile()
				f.Close()
				r.addProfile("1", "cpu (the master's caller side, in the harness)", path, nil)
			} else {
				r.addProfile("1", "cpu", path, fmt.Errorf("node %v, file %v", nerr, ferr))
			}
			rc.Close()
		} else {
			r.addProfile("1", "cpu", path, err)
		}
	}
	if missed["2"] {
		cpuDuring("2", "s2-logs-n100-master", func() {
			if _, err := r.logFanout(ctx, c, 100, r.linesFor(100), 0); err != nil {
				r.fail("profile scenario 2", err)
			}
		})
	}
	if missed["3"] {
		// The pair furthest from its target.
		n, p, worst := 1000, 64, 0.0
		for _, row := range r.res.Fanout {
			z := findFanout(r.res.Fanout, KindCentrifugo, row.Clients, row.Publishers)
			if row.System != KindCrawlhub || z == nil || z.DeliveriesPerS == 0 {
				continue
			}
			if short := targetFanoutRatio - row.DeliveriesPerS/z.DeliveriesPerS; short > worst {
				n, p, worst = row.Clients, row.Publishers, short
			}
		}
		f := newFanout(n)
		sub := Sub{Kind: KindCrawlhub, URL: wsURL(c.master.Base), Channel: "tasks"}
		clients, _, err := DialMany(ctx, sub, n, 32, func(int) func([]byte) { return f.handle })
		if err != nil {
			r.fail("profile scenario 3", err)
		} else {
			cpuDuring("3", fmt.Sprintf("s3-fanout-n%d-p%d-master", n, p), func() {
				f.measure(ctx, r.crawlhubPublisher(c.redis), p, 0, (profileSeconds+1)*time.Second)
			})
			CloseAll(clients)
		}
	}
	if missed["5"] {
		lines := int64(BacklogLines)
		if r.cfg.Quick {
			lines /= 10
		}
		taskID, err := c.master.RunTask(ctx, c.spiderID, fmt.Sprintf("-n %d", lines))
		if err == nil {
			_, err = c.master.WaitTask(ctx, taskID, 5*time.Minute, "finished")
		}
		if err != nil {
			r.fail("profile scenario 5", err)
		} else {
			cpuDuring("5", "s5-backlog-master", func() {
				if _, err := r.backlogOnce(ctx, c, taskID, lines, "mongo (FerretDB), profiled"); err != nil {
					r.fail("profile scenario 5", err)
				}
			})
		}
	}
	if missed["4"] {
		n := IdleClients
		if r.cfg.Quick {
			n = 2000
		}
		clients, _, err := DialMany(ctx, Sub{Kind: KindCrawlhub, URL: wsURL(c.master.Base), Channel: "tasks"}, n, 64, nil)
		if err != nil {
			r.fail("profile scenario 4", err)
		} else {
			time.Sleep(2 * time.Second)
			path := filepath.Join(dir, "s4-idle-master-heap.pprof")
			r.addProfile("4", "heap (inuse_space)", path, fetchProfile(ctx, c.master.Pprof, "heap?gc=1", 0, path))
			path = filepath.Join(dir, "s4-idle-master-goroutine.pprof")
			r.addProfile("4", "goroutines", path, fetchProfile(ctx, c.master.Pprof, "goroutine", 0, path))
			path = filepath.Join(dir, "s4-idle-master-memstats.txt")
			if err := fetchProfile(ctx, c.master.Pprof, "heap?debug=1", 0, path); err != nil {
				r.fail("profile scenario 4", err)
			} else {
				r.addMemStats(path, n)
			}
			CloseAll(clients)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// addProfile records a profile with its top functions (go tool pprof).
func (r *run) addProfile(scenario, kind, path string, err error) {
	if err != nil {
		r.fail("profile for scenario "+scenario, err)
		return
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=20"}
	switch {
	case strings.HasPrefix(kind, "heap"):
		args = append(args, "-sample_index=inuse_space")
	case kind == "goroutines":
		args = append(args, "-nodecount=8")
	}
	out, err := exec.Command("go", append(args, path)...).CombinedOutput()
	top := []string{}
	if err != nil {
		top = append(top, "go tool pprof failed: "+err.Error())
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		top = append(top, line)
	}
	rel := path
	if wd, err := os.Getwd(); err == nil {
		if p, err := filepath.Rel(wd, path); err == nil {
			rel = p
		}
	}
	r.res.Profiles = append(r.res.Profiles, Profile{Scenario: scenario, Kind: kind, File: rel, Top: top})
	r.logf("profile for scenario %s (%s) in %s", scenario, kind, rel)
}

// addMemStats records the runtime's memory statistics of the idle master
// (the end of pprof's heap?debug=1), per connection.
func (r *run) addMemStats(path string, n int) {
	b, err := os.ReadFile(path)
	if err != nil {
		r.fail("memstats", err)
		return
	}
	var top []string
	for line := range strings.SplitSeq(string(b), "\n") {
		for _, k := range []string{"# HeapAlloc", "# HeapInuse", "# HeapIdle", "# HeapReleased", "# Stack ", "# MSpan", "# Sys ", "# NumGC"} {
			if strings.HasPrefix(line, k) {
				f := strings.Fields(line)
				var v int64
				fmt.Sscan(f[len(f)-1], &v)
				if v > 1<<20 {
					line += fmt.Sprintf("   (%.2f KiB per connection)", float64(v)/1024/float64(n))
				}
				top = append(top, strings.TrimPrefix(line, "# "))
			}
		}
	}
	r.res.Profiles = append(r.res.Profiles, Profile{Scenario: "4", Kind: "runtime memory statistics", File: path, Top: top})
}
