package bench

import (
	"fmt"
	"strings"

	"github.com/crawlhub/crawlhub/wire"
)

// Targets of issue 5.
const (
	targetFanoutRatio  = 1.5     // × Centrifugo's deliveries/s, p99 no worse
	targetIdleKiB      = 16.0    // KiB of master RSS per idle connection
	targetIdleRatio    = 0.40    // of Centrifugo's
	targetLogLinesPerS = 2e6     // delivered in total to 100 clients
	targetLogP99ms     = 100.0   // ms
	targetPingPerS     = 25000.0 // at concurrency 256
	targetPingP99ms    = 2.0     // ms at concurrency 1
	targetBacklogS     = 2.0     // s for 1,000,000 lines
	targetFireLagP99ms = 1000.0  // ms from fire time to task, 10,000 schedules due at once
	targetItemsPerS    = 50000.0 // items/s from a spider into the all-in-one's store
	targetExportMiB    = 64.0    // MiB the master may grow by while exporting, whatever the count
	targetOverviewMs   = 200.0   // ms per overview (24 h by hour, 30 d by day) over 1,000,000 tasks
	targetSearchS      = 1.0     // s for a search of a 1,000,000-line log, wherever it runs
	targetClusterShare = 0.50    // of the all-in-one's tasks/s: the cluster on FerretDB (issue 14)
	targetAllInOneRaw  = 0.60    // of the machine's own rate of starting the command
	targetStartP99ms   = 50.0    // ms from creation to the process running, on an idle cluster
)

func findDispatch(rows []DispatchRow, system, phase string) *DispatchRow {
	for i := range rows {
		if rows[i].System == system && rows[i].Phase == phase {
			return &rows[i]
		}
	}
	return nil
}

func findFanout(rows []FanoutRow, system string, n, p int) *FanoutRow {
	for i := range rows {
		if rows[i].System == system && rows[i].Clients == n && rows[i].Publishers == p {
			return &rows[i]
		}
	}
	return nil
}

// findIdle finds system's row of IdleClients connections (not the larger
// run's).
func findIdle(rows []IdleRow, system string) *IdleRow {
	for i := range rows {
		if rows[i].System == system && rows[i].Wanted == 0 {
			return &rows[i]
		}
	}
	return nil
}

func findRPC(rows []RPCRow, op string, c int) *RPCRow {
	for i := range rows {
		if rows[i].Op == op && rows[i].Concurrency == c {
			return &rows[i]
		}
	}
	return nil
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "missed"
}

// evaluate says, target by target, whether the run met it.
func evaluate(res *Results, centrifugo bool) []TargetResult {
	var out []TargetResult
	notMeasured := func(scenario, target, why string) {
		out = append(out, TargetResult{Scenario: scenario, Target: target, Verdict: "not measured: " + why})
	}

	// Scenario 3.
	t3 := "deliveries/s ≥ 1.5 × Centrifugo's at every N and P, p99 no worse than Centrifugo's"
	if !centrifugo {
		notMeasured("3", t3, "Centrifugo is not available")
	} else {
		var parts []string
		met, any := true, false
		for _, n := range []int{100, 1000} {
			for _, p := range []int{1, 16, 64} {
				c, z := findFanout(res.Fanout, KindCrawlhub, n, p), findFanout(res.Fanout, KindCentrifugo, n, p)
				if c == nil || z == nil || z.DeliveriesPerS == 0 {
					continue
				}
				any = true
				ratio := c.DeliveriesPerS / z.DeliveriesPerS
				ok := ratio >= targetFanoutRatio && c.Latency.P99ms <= z.Latency.P99ms
				met = met && ok
				ceiling := ""
				if b := findFanout(res.Fanout, KindBare, n, p); !ok && b != nil && b.DeliveriesPerS > 0 {
					// Say how far the machine's own ceilings would let it go.
					ceiling = fmt.Sprintf("; %.2f× the bare gorilla server, which is %.2f× Centrifugo", c.DeliveriesPerS/b.DeliveriesPerS, b.DeliveriesPerS/z.DeliveriesPerS)
				}
				if fl := findFanout(res.Fanout, KindFloor, n, p); !ok && fl != nil && fl.DeliveriesPerS > 0 {
					ceiling += fmt.Sprintf("; %.2f× the write floor, which is %.2f× Centrifugo", c.DeliveriesPerS/fl.DeliveriesPerS, fl.DeliveriesPerS/z.DeliveriesPerS)
				}
				parts = append(parts, fmt.Sprintf("N=%d P=%d: %.2f× (p99 %.2f vs %.2f ms%s)%s", n, p, ratio, c.Latency.P99ms, z.Latency.P99ms, ceiling, mark(ok)))
			}
		}
		if !any {
			notMeasured("3", t3, "no pair of crawlhub and Centrifugo rows")
		} else {
			out = append(out, TargetResult{Scenario: "3", Target: t3, Measured: strings.Join(parts, "; "), Met: met, Verdict: verdict(met)})
		}
	}

	// Scenario 4.
	t4 := "≤ 16 KiB of master RSS per idle subscribed connection, and ≤ 40 % of Centrifugo's"
	if c := findIdle(res.Idle, KindCrawlhub); c == nil {
		notMeasured("4", t4, "the crawlhub run failed")
	} else {
		met := c.KiBPerConn <= targetIdleKiB
		m := fmt.Sprintf("%.1f KiB per connection", c.KiBPerConn)
		if z := findIdle(res.Idle, KindCentrifugo); z != nil && z.KiBPerConn > 0 {
			ratio := c.KiBPerConn / z.KiBPerConn
			met = met && ratio <= targetIdleRatio
			m += fmt.Sprintf(", %.0f %% of Centrifugo's %.1f KiB", ratio*100, z.KiBPerConn)
		} else {
			m += ", no Centrifugo figure to compare with"
			met = false
		}
		out = append(out, TargetResult{Scenario: "4", Target: t4, Measured: m, Met: met, Verdict: verdict(met)})
	}

	// Scenario 2. Throughput is read on the task writing as fast as it
	// can; the p99 on the task writing at the target's pace (2,000,000
	// lines/s delivered to 100 clients): with a task faster than the
	// fan-out, the latency only measures how long the burst takes to drain.
	t2 := "≥ 2,000,000 lines/s delivered in total to 100 clients, p99 < 100 ms, nothing lost (at any N)"
	var fast, paced *LogRow
	lost := int64(0)
	for i := range res.LogFanout {
		l := &res.LogFanout[i]
		lost += l.Lost + l.Duplicates
		if l.Clients == 100 && l.PacedLinesPerS == 0 {
			fast = l
		}
		if l.Clients == 100 && l.PacedLinesPerS > 0 {
			paced = l
		}
	}
	if fast == nil || paced == nil {
		notMeasured("2", t2, "an N=100 run failed")
	} else {
		kept := paced.LinesPerSec >= 0.95*targetLogLinesPerS
		met := fast.LinesPerSec >= targetLogLinesPerS && paced.Latency.P99ms < targetLogP99ms && kept && lost == 0
		out = append(out, TargetResult{Scenario: "2", Target: t2, Met: met, Verdict: verdict(met),
			Measured: fmt.Sprintf("task as fast as it can: %.0f lines/s delivered to 100 clients (p99 %.0f ms while its burst drains); "+
				"task paced for 2,000,000 lines/s: %.0f lines/s delivered, p99 %.1f ms; lost or repeated at any N: %d",
				fast.LinesPerSec, fast.Latency.P99ms, paced.LinesPerSec, paced.Latency.P99ms, lost)})
	}

	// Scenario 1.
	t1 := "≥ 25,000 ping calls/s at concurrency 256, p99 < 2 ms at concurrency 1"
	p256, p1 := findRPC(res.RPC, wire.OpPing, 256), findRPC(res.RPC, wire.OpPing, 1)
	if p256 == nil || p1 == nil {
		notMeasured("1", t1, "the ping runs failed")
	} else {
		met := p256.CallsPerSec >= targetPingPerS && p1.Latency.P99ms < targetPingP99ms
		out = append(out, TargetResult{Scenario: "1", Target: t1, Met: met, Verdict: verdict(met),
			Measured: fmt.Sprintf("%.0f calls/s at 256; p99 %.3f ms at 1", p256.CallsPerSec, p1.Latency.P99ms)})
	}

	// Scenario 5.
	t5 := "a new subscriber (since 0) has a finished 1,000,000-line log in < 2 s (with either store)"
	if len(res.Backlog) == 0 {
		notMeasured("5", t5, "the backlog runs failed")
	} else {
		met := true
		var parts []string
		for _, b := range res.Backlog {
			ok := b.Seconds < targetBacklogS && b.InOrder && b.Lines >= BacklogLines
			met = met && ok
			parts = append(parts, fmt.Sprintf("%s: %.2f s, exactly once in order: %v%s", b.Store, b.Seconds, b.InOrder, mark(ok)))
		}
		out = append(out, TargetResult{Scenario: "5", Target: t5, Met: met, Verdict: verdict(met), Measured: strings.Join(parts, "; ")})
	}

	// Scenario 7.
	t7 := "10,000 schedules due every minute on one master: each fire time fires once, fire lag p99 < 1 s"
	if len(res.Schedules) == 0 {
		notMeasured("7", t7, "the schedules run failed")
	} else {
		s := res.Schedules[0]
		met := s.Schedules >= ScheduleCount && s.Missing == 0 && s.Duplicates == 0 && s.Lag.P99ms < targetFireLagP99ms
		out = append(out, TargetResult{Scenario: "7", Target: t7, Met: met, Verdict: verdict(met),
			Measured: fmt.Sprintf("%d of %d fires, %d twice; lag p50 %.0f ms, p99 %.0f ms; master CPU %.1f s per minute",
				s.Fired, s.Expected, s.Duplicates, s.Lag.P50ms, s.Lag.P99ms, s.CPUSecondsPerMin)})
	}

	// Scenario 8.
	t8 := "≥ 50,000 items/s from a spider into the all-in-one, nothing lost; exporting 1,000,000 items as CSV grows the master by < 64 MiB"
	if len(res.Items) == 0 || len(res.ItemExports) == 0 {
		notMeasured("8", t8, "the items runs failed")
	} else {
		met := true
		var parts []string
		for _, it := range res.Items {
			ok := it.Saved == it.Items && it.Lost == 0 && it.Duplicates == 0
			if it.Clients == 0 {
				ok = ok && it.StorePerS >= targetItemsPerS && it.Items >= IngestItems
			}
			met = met && ok
			parts = append(parts, fmt.Sprintf("%d clients: %.0f items/s into the store, %d of %d saved, %d lost%s",
				it.Clients, it.StorePerS, it.Saved, it.Items, it.Lost, mark(ok)))
		}
		for _, e := range res.ItemExports {
			ok := e.RSSGrowthMiB < targetExportMiB
			met = met && ok
			parts = append(parts, fmt.Sprintf("export of %d items: +%.1f MiB%s", e.Items, e.RSSGrowthMiB, mark(ok)))
		}
		met = met && res.ItemExports[len(res.ItemExports)-1].Items >= IngestItems
		out = append(out, TargetResult{Scenario: "8", Target: t8, Met: met, Verdict: verdict(met), Measured: strings.Join(parts, "; ")})
	}

	// Scenario 10.
	t10 := "the overview (24 h by hour and 30 d by day) over 1,000,000 tasks in < 200 ms each, on SQLite and on FerretDB"
	if len(res.Stats) < 2 {
		notMeasured("10", t10, "the overview runs failed")
	} else {
		met := true
		var parts []string
		for _, s := range res.Stats {
			ok := s.HourP50ms < targetOverviewMs && s.DayP50ms < targetOverviewMs && s.Tasks >= StatsTasks
			met = met && ok
			parts = append(parts, fmt.Sprintf("%s: 24 h %.1f ms, 30 d %.1f ms (p50 of %d)%s", s.Store, s.HourP50ms, s.DayP50ms, StatsReads, mark(ok)))
		}
		out = append(out, TargetResult{Scenario: "10", Target: t10, Met: met, Verdict: verdict(met), Measured: strings.Join(parts, "; ")})
	}

	// Scenario 11.
	t11 := "a search of a 1,000,000-line log in < 1 s: in SQLite, in the FerretDB test server, in an agent's file"
	if len(res.LogSearch) == 0 {
		notMeasured("11", t11, "the search runs failed")
	} else {
		met := true
		var parts []string
		for _, s := range res.LogSearch {
			ok := s.Correct && s.Seconds < targetSearchS && s.Lines >= SearchLines
			met = met && ok
			parts = append(parts, fmt.Sprintf("%s, %s: %.2f s%s", s.Where, s.Query, s.Seconds, mark(ok)))
		}
		out = append(out, TargetResult{Scenario: "11", Target: t11, Met: met, Verdict: verdict(met), Measured: strings.Join(parts, "; ")})
	}
	out = append(out, evaluateDispatch(res.Dispatch)...)
	out = append(out, evalAgents(res))
	return out
}

// evaluateDispatch is scenario 13's targets.
func evaluateDispatch(rows []DispatchRow) []TargetResult {
	t13 := "5,000 short tasks: the cluster (FerretDB, 3 agents) ≥ 50 % of the all-in-one's tasks/s, the all-in-one ≥ 60 % of the machine's own rate; " +
		"creation → start p99 < 50 ms on an idle cluster; no task started twice"
	raw, aio, cl := findDispatch(rows, DispatchMachine, "burst"), findDispatch(rows, DispatchAllInOne, "burst"), findDispatch(rows, DispatchCluster, "burst")
	idle := findDispatch(rows, DispatchCluster, "trickle")
	if raw == nil || aio == nil || cl == nil || idle == nil || raw.TasksPerS == 0 || aio.TasksPerS == 0 {
		return []TargetResult{{Scenario: "13", Target: t13, Verdict: "not measured: a dispatch run failed"}}
	}
	clOK := cl.TasksPerS >= targetClusterShare*aio.TasksPerS
	aioOK := aio.TasksPerS >= targetAllInOneRaw*raw.TasksPerS
	idleOK := idle.Start.P99ms < targetStartP99ms
	clean := true
	for _, r := range rows {
		clean = clean && r.Twice == 0
	}
	met := clOK && aioOK && idleOK && clean
	return []TargetResult{{Scenario: "13", Target: t13, Met: met, Verdict: verdict(met), Measured: fmt.Sprintf(
		"cluster %.0f tasks/s = %.0f %% of the all-in-one's %.0f%s; all-in-one = %.0f %% of the machine's %.0f%s; idle cluster p99 %.1f ms%s; started twice: %v%s",
		cl.TasksPerS, 100*cl.TasksPerS/aio.TasksPerS, aio.TasksPerS, mark(clOK), 100*aio.TasksPerS/raw.TasksPerS, raw.TasksPerS, mark(aioOK),
		idle.Start.P99ms, mark(idleOK), !clean, mark(clean))}}
}

func mark(ok bool) string {
	if ok {
		return " ✓"
	}
	return " ✗"
}
