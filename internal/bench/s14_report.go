package bench

import (
	"fmt"
	"strings"
)

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
	w("| when | master | listed online | heard | all again after |\n|---|---|---|---|---|\n")
	for _, c := range a.Checks {
		again := ""
		switch {
		case c.SettledS < 0:
			again = fmt.Sprintf("not within %.0f s", scaleSettle.Seconds())
		case c.SettledS > 0:
			again = fmt.Sprintf("%.1f s", c.SettledS)
		}
		w("| %s | %d | %d | %d | %s |\n", c.When, c.Master, c.Listed, c.Heard, again)
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
	var short []string
	for _, c := range a.Checks {
		if c.Listed != a.Agents || c.Heard != a.Agents {
			met = false
			short = append(short, fmt.Sprintf("%s, master %d listed %d and heard %d (all again after %.1f s)", c.When, c.Master, c.Listed, c.Heard, c.SettledS))
		}
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
	if len(short) > 0 {
		m += "; short views: " + strings.Join(short, "; ")
	}
	return TargetResult{Scenario: "14", Target: t, Measured: m, Met: met, Verdict: verdict(met)}
}
