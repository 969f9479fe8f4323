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

	"github.com/crawlhub/crawlhub/internal/simagent"
	"github.com/crawlhub/crawlhub/store"
)

// Scenario 14's calls: to nodes through the masters, and reading what
// each master lists and hears, and what each process uses.

// callWindow calls random nodes through every master at once, with
// scaleCallers callers each, for window: each master's rows by call, and
// the first error a call met.
func callWindow(ctx context.Context, hc *http.Client, masters []*Master, agents []*simagent.Agent, tasks []string, window time.Duration) ([]AgentsRPCRow, error) {
	nAgents := len(agents)
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
	var rows []AgentsRPCRow
	for mi := range masters {
		for k, op := range scaleOps {
			s := stats[mi][k]
			row := AgentsRPCRow{Master: mi + 1, Op: op, Calls: s.calls.Load(), Errors: s.errors.Load(), Wrong: s.wrong.Load(), Latency: s.hist.Summary()}
			row.PerS = float64(row.Calls) / window.Seconds()
			rows = append(rows, row)
		}
	}
	return rows, firstErr
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

// checkAgents records every master's view now, which should be n
// listed and heard. A view that is short is recorded as it is, and how
// long the master took to see all n again; it is an error only if it
// does not within scaleSettle.
func (r *run) checkAgents(ctx context.Context, hc *http.Client, res *AgentsResult, when string, masters []*Master, n int) error {
	t0 := time.Now()
	var errs []error
	for i, m := range masters {
		listed, heard, err := nodesSeen(ctx, hc, m)
		if err != nil {
			return err
		}
		c := AgentsCheck{When: when, Master: i + 1, Listed: listed, Heard: heard}
		if listed != n || heard != n {
			r.logf("scenario 14: %s, master %d lists %d and hears %d of %d agents", when, i+1, listed, heard, n)
			err := pollUntil(ctx, scaleSettle, func() (bool, error) {
				listed, heard, err := nodesSeen(ctx, hc, m)
				return err == nil && listed == n && heard == n, err
			})
			c.SettledS = time.Since(t0).Seconds()
			if err != nil {
				c.SettledS = -1
				errs = append(errs, fmt.Errorf("%s, master %d lists %d and hears %d of %d agents: %w", when, i+1, listed, heard, n, err))
			} else {
				r.logf("scenario 14: master %d lists and hears all %d again %.1f s later", i+1, n, c.SettledS)
			}
		}
		res.Checks = append(res.Checks, c)
	}
	return errors.Join(errs...)
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
