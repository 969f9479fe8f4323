package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

func f0(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	// Thousands separators for readability.
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func ms(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64) + "×"
}

func renderMarkdown(res *Results, cfg Config) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	centrifugoNA := ""
	if cfg.CentrifugoBin == "" {
		centrifugoNA = "not available: " + cfg.CentrifugoMissing
	}

	w("# Benchmarks\n\n")
	w("Written by `make bench` (`cmd/crawlhub-bench`, `internal/bench`) on %s in %.0f s; the raw figures are in `bench/results.json`. ",
		res.Started.Format("2006-01-02 15:04 UTC"), res.DurationS)
	w("Issue 5 asks for these scenarios and targets. Everything runs on loopback on this one machine: the servers, Redis, the store, ")
	w("the clients and the publishers share its %d cores, so each figure is read next to the machine's own ceiling and next to Centrifugo ", res.Machine.Cores)
	w("measured in the same run, on the same Redis, by the same clients.\n\n")
	if res.Quick {
		w("**This is a quick run (`-quick`): shortened, smaller, for trying the harness out. Its figures are not the benchmark's.**\n\n")
	}
	w("Run it: `make bench` (a few minutes; the first time it also installs redis-server with apt-get and builds Centrifugo v6.9.1 into `~/.cache/crawlhub-bench`, about 4 minutes more). ")
	w("One scenario: `make bench BENCH_ARGS='-only 3'`.\n\n")

	m := res.Machine
	w("## Machine\n\n| | |\n|---|---|\n")
	w("| CPU | %s |\n| cores | %d |\n| memory | %.1f GiB |\n| kernel | %s |\n| Go | %s |\n| redis-server | %s |\n| Centrifugo | %s |\n| crawlhub | %s |\n| RLIMIT_NOFILE | %d |\n| CPU busy in the 2 s before the run | %.0f %% |\n| load average (1 min) at the start and the end | %.2f, %.2f |\n\n",
		m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.Redis, m.Centrifugo, m.Crawlhub, m.NoFile, m.BusyBefore*100, m.LoadBefore, m.LoadAfter)
	if m.BusyBefore > 0.2 {
		w("**The machine was busy before this run started (%.0f %% of its CPU time): other work competed with every process measured here, so the figures are lower and noisier than on a quiet machine.**\n\n", m.BusyBefore*100)
	}

	w("## How it runs\n\n")
	for _, s := range res.Setup {
		w("- %s\n", s)
	}
	w("- The bare gorilla/websocket server (the ceiling) is the harness's own `bare-server` command as a subprocess: gorilla's chat example and nothing else " +
		"(one reader and one writer goroutine per connection, pooled 1 KiB buffers, a 256-message send channel), broadcasting what it receives on one Redis channel.\n")
	w("- Latency is measured from a timestamp the writer puts in each line or message to the moment a client's reader has the frame; clients find lines and messages " +
		"by a marker, without decoding JSON, and check line numbers (exactly once, in order). Percentiles come from a log-linear histogram (±3 %%).\n")
	w("- Every process is a child of the harness on 127.0.0.1, stopped at the end; every load loop is bounded in time.\n\n")

	w("## Targets\n\n| scenario | target | measured | verdict |\n|---|---|---|---|\n")
	for _, t := range res.Targets {
		v := "**" + t.Verdict + "**"
		if t.Met {
			v = "met"
		}
		w("| %s | %s | %s | %s |\n", t.Scenario, t.Target, t.Measured, v)
	}
	w("\n")

	// Scenario 1.
	w("## 1. RPC: master → agent → master through redis-server\n\n")
	w("The master's RPC end (`wire.Caller` on its own `bus.Redis`, as the master builds it) runs in the harness; the agent is a `crawlhub agent` process. ")
	w("Each call is two PUBLISHes (request and reply), so the ceiling column is twice the calls/s over redis-benchmark's PUBLISH rate with as many clients (1 for concurrency 1, 64 otherwise).\n\n")
	w("| operation | concurrency | calls/s | p50 ms | p99 ms | errors | share of Redis PUBLISH ceiling |\n|---|---|---|---|---|---|---|\n")
	for _, r := range res.RPC {
		ceil := redisCeiling(res, 64)
		if r.Concurrency == 1 {
			ceil = redisCeiling(res, 1)
		}
		share := "—"
		if ceil > 0 && r.Op == wire.OpPing {
			share = fmt.Sprintf("%.0f %%", 200*r.CallsPerSec/ceil)
		}
		w("| %s | %d | %s | %s | %s | %d | %s |\n", r.Op, r.Concurrency, f0(r.CallsPerSec), ms(r.Latency.P50ms), ms(r.Latency.P99ms), r.Errors, share)
	}
	if r := findRPC(res.RPC, wire.OpGetSysinfo, 64); r != nil {
		w("\n`get_sysinfo` collects fresh figures on the agent for every call (CPU, memory, disk, load; executables are cached), so it measures the agent's collection, not the bus.\n")
	}
	w("\n")

	// Scenario 2.
	w("## 2. Log fan-out: one task, N WebSocket clients on one master\n\n")
	w("The task is the harness's `emit` command run by the agent as a spider: 100-byte lines with their number and a timestamp. The clients subscribe (`since` 0) before its first line. ")
	w("\"As fast as it can\" rows: the task writes N-scaled line counts (about 20 million deliveries in all) without pause; a client that falls a whole send queue behind is disconnected (4008) ")
	w("and resubscribes with `since`, as the API documents, so \"reconnects\" counts those and \"not received\" counts lines a client still lacked 90 s after the start (none is lost for good: the log has them all). \"Paced\" rows: the task writes at 2,000,000 / N lines/s for %d s, ", pacedSeconds)
	w("the target's delivered rate, so their latency is the fan-out's own rather than the time a burst takes to drain.\n\n")
	w("| N | task | lines per client | task wrote lines/s | delivered lines/s (all clients) | all in s | p50 ms | p99 ms | max ms | not received in 90 s | repeated | reconnects (4008) | master's Redis subscription dropped |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.LogFanout {
		mode := "as fast as it can"
		if r.PacedLinesPerS > 0 {
			mode = "paced at " + f0(r.PacedLinesPerS) + " lines/s"
		}
		w("| %d | %s | %s | %s | %s | %.2f | %s | %s | %s | %d | %d | %d | %d |\n", r.Clients, mode, f0(float64(r.Lines)), f0(r.WriteLinesPerS), f0(r.LinesPerSec),
			r.SecondsToAll, ms(r.Latency.P50ms), ms(r.Latency.P99ms), ms(r.Latency.MaxMs), r.Lost, r.Duplicates, r.Reconnects, r.UpstreamDrops)
	}
	w("\n")

	// Scenario 3.
	w("## 3. Message fan-out, like for like (with the ceiling and Centrifugo)\n\n")
	w("N clients on one channel; P publishers of 128-byte JSON messages through each server's upstream path; closed loop: each publisher has one message in flight and sends the next once all N clients have it, ")
	w("so P is the load and no queue grows without bound. crawlhub: a `task_status` event PUBLISHed on `nodes:master`, which the master forwards, encoded once, to its clients on `tasks` ")
	w("(the channel with many publishers: every agent's task events; a task's log channel has by design one publisher, the agent running it, which scenario 2 measures). ")
	w("Bare: PUBLISH on the channel it relays. Centrifugo: its HTTP API (`/api/publish`) with its Redis engine. ")
	w("The three servers run at the same time on the same Redis, each with its own N clients, and take turns: at each N and P each is measured for %d rounds of 1.5 s (after 0.5 s of warm-up), ", fanRounds)
	w("in a rotating order, so that whatever else the shared machine does during the run touches them alike; the figures pool the rounds, and the last column gives the ratio round by round.\n\n")
	w("The write floor is the least a server can do per delivery: each message framed once and one write(2) of it per client, spread over the processors, with nothing else ")
	w("(no queue, no writer goroutine, no deadline, no slow-client handling; the harness's `bare-server --floor true`): what loopback TCP and the clients leave for any server on this machine ")
	w("that writes each message on its own. It is measured at P = 1 only: with more messages in flight, a server that batches them makes fewer writes than deliveries.\n\n")
	w("| N | P | crawlhub deliveries/s | p50 ms | p99 ms | bare deliveries/s | crawlhub / bare | write floor deliveries/s | crawlhub / floor | Centrifugo deliveries/s | Centrifugo p99 ms | crawlhub / Centrifugo | in each round |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range []int{100, 1000} {
		for _, p := range []int{1, 16, 64} {
			c := findFanout(res.Fanout, KindCrawlhub, n, p)
			if c == nil {
				continue
			}
			bare, bareRatio := "—", "—"
			if x := findFanout(res.Fanout, KindBare, n, p); x != nil {
				bare, bareRatio = f0(x.DeliveriesPerS), ratio(c.DeliveriesPerS, x.DeliveriesPerS)
			}
			cz, czp99, czRatio, perRound := "—", "—", "—", "—"
			if centrifugoNA != "" {
				cz = centrifugoNA
			} else if z := findFanout(res.Fanout, KindCentrifugo, n, p); z != nil {
				cz, czp99, czRatio = f0(z.DeliveriesPerS), ms(z.Latency.P99ms), ratio(c.DeliveriesPerS, z.DeliveriesPerS)
				perRound = roundRatios(c, z)
			}
			floor, floorRatio := "—", "—"
			if x := findFanout(res.Fanout, KindFloor, n, p); x != nil {
				floor, floorRatio = f0(x.DeliveriesPerS), ratio(c.DeliveriesPerS, x.DeliveriesPerS)
			}
			w("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", n, p, f0(c.DeliveriesPerS), ms(c.Latency.P50ms), ms(c.Latency.P99ms), bare, bareRatio, floor, floorRatio, cz, czp99, czRatio, perRound)
		}
	}
	w("\n")

	// Scenario 4.
	w("## 4. 10,000 idle subscribed connections (and 50,000 on crawlhub)\n\n")
	w("Each server is a fresh process; its RSS is read from `/proc/<pid>/status` before the clients connect and 5 s after the last one subscribed (what an operator would see; ")
	w("Go's heap keeps the usual headroom over live data). crawlhub: `crawlhub server`, clients on `tasks`; the clients are the harness's (one reader goroutine each, 1 KiB buffers).\n\n")
	w("| server | clients | connected and subscribed in s | RSS before MiB | RSS after MiB | KiB per connection | crawlhub / this |\n|---|---|---|---|---|---|---|\n")
	ch := findIdle(res.Idle, KindCrawlhub)
	for _, k := range []string{KindCrawlhub, KindBare, KindCentrifugo} {
		r := findIdle(res.Idle, k)
		if r == nil {
			if k == KindCentrifugo && centrifugoNA != "" {
				w("| centrifugo | %s | | | | | |\n", centrifugoNA)
			}
			continue
		}
		rt := "—"
		if ch != nil && k != KindCrawlhub {
			rt = ratio(ch.KiBPerConn, r.KiBPerConn)
		}
		w("| %s | %s | %.2f | %.1f | %.1f | %.1f | %s |\n", k, f0(float64(r.Clients)), r.ConnectS, r.RSSBeforeMiB, r.RSSAfterMiB, r.KiBPerConn, rt)
	}
	w("\n")
	renderIdleLarge(w, res)

	// Scenario 5.
	w("## 5. Backlog: a new subscriber to a finished 1,000,000-line task\n\n")
	w("| store | lines | received | seconds | lines/s | exactly once, in order |\n|---|---|---|---|---|---|\n")
	for _, r := range res.Backlog {
		w("| %s | %s | %s | %.2f | %s | %v |\n", r.Store, f0(float64(r.Lines)), f0(float64(r.Received)), r.Seconds, f0(r.LinesPerS), r.InOrder)
	}
	w("\n")

	// Scenario 6.
	w("## 6. Ceilings\n\n`redis-benchmark` PUBLISH of 128 bytes on the run's redis-server (no subscribers); the bare gorilla server's rows are in the tables of scenarios 3 and 4.\n\n")
	w("| clients | pipeline | PUBLISH/s |\n|---|---|---|\n")
	for _, r := range res.RedisPub {
		w("| %d | %d | %s |\n", r.Clients, r.Pipeline, f0(r.PerSecond))
	}
	w("\n")

	// Scenario 7.
	if len(res.Schedules) > 0 {
		w("## 7. Schedules: 10,000 due every minute on one master\n\n")
		w("The all-in-one (in-process bus, SQLite). Every schedule is `* * * * *` with overlap `allow`, for a node that has gone offline, so its tasks wait in the queue and only the firing is measured. Lag: when the task was created, against its fire time. CPU: the master's user + system time over the measured minutes.\n\n")
		w("| schedules | minutes | fires expected | fired | missing | twice | lag p50 ms | lag p99 ms | lag max ms | master CPU s/min |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range res.Schedules {
			w("| %s | %d | %s | %s | %d | %d | %.0f | %.0f | %.0f | %.1f |\n", f0(float64(s.Schedules)), s.Minutes, f0(float64(s.Expected)), f0(float64(s.Fired)),
				s.Missing, s.Duplicates, s.Lag.P50ms, s.Lag.P99ms, s.Lag.MaxMs, s.CPUSecondsPerMin)
		}
		w("\n")
	}

	// Scenario 13.
	if len(res.Dispatch) > 0 {
		w("## 13. Dispatch: 5,000 short tasks\n\n")
		w("Each task is one line, `bash -c 'echo \"$EPOCHREALTIME $CRAWLHUB_TASK_ID\" >> starts'`: the time it prints is when its process runs. The machine's row starts the same command %d at a time straight from Go (fork/exec); the all-in-one runs %d at a time (`--concurrency`), the cluster %d agents of %d (one `crawlhub server`, Redis, the FerretDB test server). Burst: the harness creates the tasks through `POST /api/tasks`, %d requests at a time; tasks/s is the tasks over the time from the first created to the last ended. Trickle: one task every %d ms on the idle system, first. Start: creation → the process running. A system too slow for the 5,000 in the time allowed (half of it creating, at most %d s in all for the cluster) runs fewer: the row says how many.\n\n",
			DispatchAgents*DispatchPerAgent, DispatchAgents*DispatchPerAgent, DispatchAgents, DispatchPerAgent, dispatchPosters, dispatchTrickleD.Milliseconds(), int(dispatchClusterDeadline.Seconds()))
		w("| system | phase | tasks | at once | s | tasks/s | created/s | start p50 ms | start p99 ms | start max ms | not ended by the deadline | started twice |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range res.Dispatch {
			w("| %s | %s | %s | %d | %.2f | %s | %s | %.1f | %.1f | %.1f | %d | %d |\n", d.System, d.Phase, f0(float64(d.Tasks)), d.Concurrency, d.Seconds, f0(d.TasksPerS),
				f0(d.CreatePerS), d.Start.P50ms, d.Start.P99ms, d.Start.MaxMs, d.Missing, d.Twice)
		}
		w("\n")
	}

	// Scenario 8.
	if len(res.Items) > 0 {
		w("## 8. Items: from a spider into the store, and out to clients\n\n")
		w("The all-in-one (in-process bus, SQLite). One task saves items of about %d bytes through its `CRAWLHUB_ITEMS_URL`, one request of 1,000 items at a time (the harness's `items` command). Into the store: from the task's go to its end, which waits until every item is saved. Clients: WebSocket clients subscribed to `task:<id>:items` from item 0 before the first item, until the last has every item.\n\n", ItemBytes)
		w("| items | clients | saved | s | items/s into the store | delivered | items/s delivered | lost | twice | reconnects |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, it := range res.Items {
			w("| %s | %d | %s | %.2f | %s | %s | %s | %d | %d | %d |\n", f0(float64(it.Items)), it.Clients, f0(float64(it.Saved)), it.StoreSeconds, f0(it.StorePerS),
				f0(float64(it.Delivered)), f0(it.DeliveredPerS), it.Lost, it.Duplicates, it.Reconnects)
		}
		w("\n")
		if len(res.ItemExports) > 0 {
			w("Exports (`GET /api/tasks/:id/items/export?format=csv`, read to the end by the harness); the master's resident memory sampled every 20 ms:\n\n")
			w("| items | format | MiB | s | master RSS before, MiB | grew by at most, MiB |\n|---|---|---|---|---|---|\n")
			for _, e := range res.ItemExports {
				w("| %s | %s | %.1f | %.2f | %.1f | %.1f |\n", f0(float64(e.Items)), e.Format, float64(e.Bytes)/(1<<20), e.Seconds, e.RSSBeforeMiB, e.RSSGrowthMiB)
			}
			w("\n")
		}
	}

	// Scenario 10.
	if len(res.Stats) > 0 {
		w("## 10. The overview over 1,000,000 tasks\n\n")
		w("Tasks of the last 30 days (%d spiders; 80 %% finished, 10 %% error, 5 %% cancelled, 5 %% abnormal, 0.2 %% pending or running), stored with `CreateMany` in batches of %s, folded once (MongoDB), then the dashboard's two queries (`store.Stats.TaskStats`, the call behind `GET /api/stats`) read %d times in the harness process after one warm-up read.\n\n", StatsSpiders, f0(statsBatch), StatsReads)
		w("| store | tasks | load s | fold s | 24 h by hour p50 / max ms | 30 d by day p50 / max ms | overview p50 / max ms |\n|---|---|---|---|---|---|---|\n")
		for _, s := range res.Stats {
			w("| %s | %s | %.1f | %.1f | %s / %s | %s / %s | %s / %s |\n", s.Store, f0(float64(s.Tasks)), s.LoadS, s.FoldS,
				ms(s.HourP50ms), ms(s.HourMaxms), ms(s.DayP50ms), ms(s.DayMaxms), ms(s.OverviewP50ms), ms(s.OverviewMaxms))
		}
		w("\n")
	}

	// Scenario 11.
	if len(res.LogSearch) > 0 {
		w("## 11. Log search over a 1,000,000-line log\n\n")
		w("In the harness, the code each place runs: a master for an ended task (package logsearch over `store.Logs.ScanLog`) on SQLite and on the FerretDB test server, an agent for a running task (logsearch over its open log file). Every query reads the whole log (the count is the whole log's). Median of 3.\n\n")
		w("| where | query | lines | matches | s | right |\n|---|---|---|---|---|---|\n")
		for _, s := range res.LogSearch {
			w("| %s | %s | %s | %s | %.3f | %v |\n", s.Where, s.Query, f0(float64(s.Lines)), f0(float64(s.Matches)), s.Seconds, s.Correct)
		}
		w("\n")
	}

	// Scenario 9.
	if len(res.Signed) > 0 {
		w("## 9. The signed bus: what a cluster secret costs\n\n")
		w("`crawlhub server` and `crawlhub agent` on Redis and FerretDB, started with `--insecure-bus` or with `--cluster-secret`, in turns, each pair fresh. Pings: %d callers (the master's `wire.Caller` in the harness, signing as the master does) for 3 s. Log: one client following a task that writes as fast as it can, as in scenario 2 with N=1; every batch is signed by the agent and checked by the master.\n\n", signedConcurrency)
		w("| bus | round | ping calls/s | ping p50 ms | ping p99 ms | log lines/s to one client | task wrote lines/s | lost | twice |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range res.Signed {
			bus := "insecure"
			if s.Signed {
				bus = "signed"
			}
			w("| %s | %d | %s | %s | %s | %s | %s | %d | %d |\n", bus, s.Round, f0(s.PingCallsPerS), ms(s.PingLatency.P50ms), ms(s.PingLatency.P99ms),
				f0(s.LogLinesPerS), f0(s.LogWriteLinesS), s.LogLost, s.LogDuplicates)
		}
		if ping, logs := signedRatios(res.Signed); ping > 0 {
			w("\nSigned ÷ insecure (geometric mean of the rounds): pings %.2f×, log lines %.2f×.\n", ping, logs)
		}
		w("\n")
	}

	// Scenario 12.
	renderNodeHistory(w, res)
	renderAgents(w, res)
	// Profiles.
	if len(res.Profiles) > 0 {
		w("## Where the time goes (profiles of missed targets)\n\n")
		w("Each missed target's scenario was run again against the harness's `master` command — `server.New` wired exactly as `crawlhub server` does it, plus a pprof listener — ")
		w("and profiled for %d s (scenario 1: the caller's side, in the harness). The files are next to `results.json`; `go tool pprof -top FILE` shows them again.\n\n", profileSeconds)
		for _, p := range res.Profiles {
			w("### Scenario %s: %s (`%s`)\n\n", p.Scenario, p.Kind, p.File)
			if sum := summarizeTop(p.Top); sum != "" {
				w("%s\n\n", sum)
			}
			w("```\n")
			for _, l := range p.Top {
				if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Time:") {
					continue
				}
				w("%s\n", l)
			}
			w("```\n\n")
		}
	}
	if notes, err := os.ReadFile(filepath.Join(cfg.OutDir, "notes.md")); err == nil {
		w("%s\n\n", strings.TrimSpace(string(notes)))
	}
	if len(res.Errors) > 0 {
		w("## Errors during the run\n\n")
		for _, e := range res.Errors {
			w("- %s\n", e)
		}
		w("\n")
	}
	w("_Generated %s._\n", time.Now().UTC().Format(time.RFC3339))
	return b.String()
}

func redisCeiling(res *Results, clients int) float64 {
	for _, r := range res.RedisPub {
		if r.Clients == clients && r.Pipeline == 1 {
			return r.PerSecond
		}
	}
	return 0
}

var topLine = regexp.MustCompile(`^\s*([\d.]+\w*)\s+([\d.]+)%\s+[\d.]+%\s+([\d.]+\w*)\s+([\d.]+)%\s+(.+)$`)

// summarizeTop groups the flat shares of a CPU profile's top functions:
// system calls, JSON, the allocator and GC, scheduling, the hub.
func summarizeTop(top []string) string {
	groups := []struct {
		name string
		re   *regexp.Regexp
	}{
		{"system calls (socket reads and writes)", regexp.MustCompile(`^(syscall\.|internal/runtime/syscall|runtime/internal/syscall)`)},
		{"encoding/json", regexp.MustCompile(`^encoding/json`)},
		{"allocation and GC", regexp.MustCompile(`^runtime\.(mallocgc|gcBgMarkWorker|scanobject|gcDrain|greyobject|findObject|memclr|nextFreeFast|heapBits|sweepone|wbBuf|bulkBarrier|typePointers|markBits|spanOf|gcmarknewobject|memmove)`)},
		{"scheduler and futex", regexp.MustCompile(`^runtime\.(futex|findRunnable|schedule|park_m|stealWork|netpoll|runqgrab|selectgo|lock2|unlock2|notewakeup|mcall|chansend|chanrecv|ready|goready|epollwait|usleep|nanotime|procyield)`)},
		{"crawlhub", regexp.MustCompile(`^github\.com/crawlhub/`)},
		{"gorilla/websocket", regexp.MustCompile(`^github\.com/gorilla/`)},
	}
	share := make([]float64, len(groups))
	any := false
	for _, l := range top {
		m := topLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		flat, _ := strconv.ParseFloat(m[2], 64)
		fn := strings.TrimSpace(m[5])
		for i, g := range groups {
			if g.re.MatchString(fn) {
				share[i] += flat
				any = true
				break
			}
		}
	}
	if !any {
		return ""
	}
	var parts []string
	for i, g := range groups {
		if share[i] >= 1 {
			parts = append(parts, fmt.Sprintf("%s %.0f %%", g.name, share[i]))
		}
	}
	return "Of the top functions' own (flat) time: " + strings.Join(parts, ", ") + "."
}

// roundRatios is a / b round by round, as "1.52×, 1.61×, 1.58×".
func roundRatios(a, b *FanoutRow) string {
	var parts []string
	for i := range min(len(a.RoundsPerS), len(b.RoundsPerS)) {
		parts = append(parts, ratio(a.RoundsPerS[i], b.RoundsPerS[i]))
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, ", ")
}
