package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// Scenario 12: what keeping every node's load history costs. In the store:
// one master's writes for simulated nodes' heartbeats (a store.NodeRecorder,
// as the master's recorder uses it), on SQLite and on FerretDB. On a
// master: its CPU for N simulated nodes heartbeating every 5 s over Redis,
// with and without the load in the heartbeats.

// NodeHistoryStoreRow is scenario 12 in the store.
type NodeHistoryStoreRow struct {
	Store      string `json:"store"`
	Nodes      int    `json:"nodes"`
	Heartbeats int64  `json:"heartbeats"`
	// Writes and reads per heartbeat: one Add to the 10 s tier, plus the
	// rollups when a minute or 10 minutes close.
	WritesPerHeartbeat float64 `json:"writes_per_heartbeat"`
	ReadsPerHeartbeat  float64 `json:"reads_per_heartbeat"`
	PerHeartbeat       Latency `json:"per_heartbeat"`
	HeartbeatsPerS     float64 `json:"heartbeats_per_s"`
	ExpireMs           float64 `json:"expire_ms"` // one Expire at the end
}

// NodeHistoryMasterRow is scenario 12 on a master.
type NodeHistoryMasterRow struct {
	Nodes          int     `json:"nodes"`
	Metrics        bool    `json:"metrics"` // the heartbeats carry the load
	Seconds        float64 `json:"seconds"`
	HeartbeatsPerS float64 `json:"heartbeats_per_s"`
	CPUPercent     float64 `json:"master_cpu_percent"` // of one core
	Dropped        int     `json:"dropped"`            // points the master could not queue for the store
}

// nodeHistoryNodes are the simulated nodes of scenario 12's master runs.
var nodeHistoryNodes = []int{100, 1000}

// nodeHistoryBeat is the simulated nodes' heartbeat interval (the default).
const nodeHistoryBeat = 5 * time.Second

func (r *run) scenarioNodeHistory(ctx context.Context, c *cluster) {
	// The store: 50 nodes, 12 simulated minutes of heartbeats each (two
	// minutes and one 10 minutes close per node), bounded in time.
	nodes, minutes := 50, 12
	if r.cfg.Quick {
		nodes = 10
	}
	dir := filepath.Join(r.cfg.WorkDir, "nodehistory-sqlite")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.fail("scenario 12", err)
		return
	}
	if st, err := sqlite.Open(ctx, dir); err != nil {
		r.fail("scenario 12 sqlite", err)
	} else {
		r.nodeHistoryStore(ctx, "sqlite", st, nodes, minutes)
		st.Close(context.Background())
	}
	if st, err := mongo.Open(ctx, c.mongo+"bench_nodehistory", "bench_nodehistory"); err != nil {
		r.fail("scenario 12 mongo", err)
	} else {
		r.nodeHistoryStore(ctx, "mongo (FerretDB)", st, nodes, minutes)
		st.Close(context.Background())
	}

	// A master hearing N nodes.
	m, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: c.mongo + "bench_nodehistory_master"})
	if err != nil {
		r.fail("scenario 12 master", err)
		return
	}
	defer m.Proc.Stop(15 * time.Second)
	rc := redis.NewClient(&redis.Options{Addr: c.redis.Addr})
	defer rc.Close()
	for _, n := range nodeHistoryNodes {
		for _, metrics := range []bool{false, true} {
			row, err := r.nodeHistoryMaster(ctx, m, rc, n, metrics)
			if err != nil {
				r.fail(fmt.Sprintf("scenario 12 master, %d nodes", n), err)
				return
			}
			r.logf("scenario 12: master hearing %d nodes (load: %v): %.0f heartbeats/s, CPU %.1f %% of a core, %d points dropped",
				n, metrics, row.HeartbeatsPerS, row.CPUPercent, row.Dropped)
			r.res.NodeHistoryMaster = append(r.res.NodeHistoryMaster, row)
		}
	}
}

// countingMetrics counts a NodeMetrics' calls.
type countingMetrics struct {
	store.NodeMetrics
	adds, ranges atomic.Int64
}

func (c *countingMetrics) Add(ctx context.Context, nodeID string, res time.Duration, p store.NodePoint) error {
	c.adds.Add(1)
	return c.NodeMetrics.Add(ctx, nodeID, res, p)
}

func (c *countingMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]store.NodePoint, error) {
	c.ranges.Add(1)
	return c.NodeMetrics.Range(ctx, nodeID, res, from, to)
}

// nodeHistoryStore records nodes' heartbeats of minutes simulated minutes
// as one master does, one after the other, and times each.
func (r *run) nodeHistoryStore(ctx context.Context, name string, st store.Store, nodes, minutes int) {
	m := &countingMetrics{NodeMetrics: st.NodeMetrics()}
	rec := store.NewNodeRecorder(m)
	ids := make([]string, nodes)
	for i := range ids {
		ids[i] = store.NewID()
	}
	hist := &Hist{}
	// Simulated time starts on a 10-minute boundary a day ago, so nothing
	// is expired by the end and every rollup happens.
	start := time.Now().Add(-24 * time.Hour).Truncate(10 * time.Minute)
	beats := int(time.Duration(minutes) * time.Minute / nodeHistoryBeat)
	deadline := time.Now().Add(r.d(60 * time.Second))
	var n int64
	t0 := time.Now()
	for b := 0; b < beats && time.Now().Before(deadline) && ctx.Err() == nil; b++ {
		for i, id := range ids {
			// Spread the nodes over the interval, as real ones are.
			at := start.Add(time.Duration(b)*nodeHistoryBeat + time.Duration(i)*nodeHistoryBeat/time.Duration(nodes))
			p := store.NodePoint{At: at, CPU: float64((b + i) % 100), MemUsed: 1 << 30, MemTotal: 8 << 30,
				DiskUsed: 40 << 30, DiskTotal: 100 << 30, NetRx: 12345, NetTx: 2345, Load1: 0.5}
			s := time.Now()
			if err := rec.Record(ctx, id, p); err != nil {
				r.fail("scenario 12 "+name, err)
				return
			}
			hist.Record(time.Since(s))
			n++
		}
	}
	elapsed := time.Since(t0)
	s := time.Now()
	if err := st.NodeMetrics().Expire(ctx, time.Now()); err != nil {
		r.fail("scenario 12 "+name+" expire", err)
		return
	}
	row := NodeHistoryStoreRow{Store: name, Nodes: nodes, Heartbeats: n,
		WritesPerHeartbeat: float64(m.adds.Load()) / float64(max(n, 1)), ReadsPerHeartbeat: float64(m.ranges.Load()) / float64(max(n, 1)),
		PerHeartbeat: hist.Summary(), HeartbeatsPerS: float64(n) / elapsed.Seconds(), ExpireMs: float64(time.Since(s).Microseconds()) / 1e3}
	r.logf("scenario 12: %s: %d heartbeats of %d nodes, %.0f/s; p50 %.3f ms, p99 %.3f ms; %.2f writes and %.2f reads each",
		name, n, nodes, row.HeartbeatsPerS, row.PerHeartbeat.P50ms, row.PerHeartbeat.P99ms, row.WritesPerHeartbeat, row.ReadsPerHeartbeat)
	r.res.NodeHistoryStore = append(r.res.NodeHistoryStore, row)
}

// nodeHistoryMaster publishes n nodes' heartbeats (every nodeHistoryBeat
// each, spread evenly) on nodes:master for a while and measures the
// master's CPU.
func (r *run) nodeHistoryMaster(ctx context.Context, m *Master, rc *redis.Client, n int, metrics bool) (NodeHistoryMasterRow, error) {
	row := NodeHistoryMasterRow{Nodes: n, Metrics: metrics}
	dur := r.d(20 * time.Second)
	const tick = 50 * time.Millisecond
	perTick := max(1, n*int(tick)/int(nodeHistoryBeat))
	dropped0 := droppedPoints(m.Proc)
	cpu0, err := cpuSeconds(m.Proc.PID())
	if err != nil {
		return row, err
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	t0 := time.Now()
	var sent int64
	next := 0
	for time.Since(t0) < dur {
		select {
		case <-ctx.Done():
			return row, ctx.Err()
		case <-t.C:
		}
		pipe := rc.Pipeline()
		for range perTick {
			i := next % n
			next++
			hb := wire.Heartbeat{Name: fmt.Sprintf("sim-%04d", i), At: time.Now().UTC()}
			if metrics {
				hb.Metrics = &wire.NodeMetrics{CPU: float64(next % 100), MemUsed: 1 << 30, MemTotal: 8 << 30, DiskUsed: 40 << 30,
					DiskTotal: 100 << 30, NetRx: 12345, NetTx: 2345, Load1: 0.5}
			}
			payload, _ := json.Marshal(hb)
			env, _ := json.Marshal(wire.Envelope{ID: fmt.Sprintf("hb-%d", next), Type: wire.EvHeartbeat, NodeID: fmt.Sprintf("%024x", i+1), Payload: payload})
			pipe.Publish(ctx, wire.MasterChannel, env)
			sent++
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return row, err
		}
	}
	elapsed := time.Since(t0)
	cpu1, err := cpuSeconds(m.Proc.PID())
	if err != nil {
		return row, err
	}
	// The master reports the points it dropped every 10 s
	// (server.droppedReportEvery): wait for the report of the window's
	// last ones, and let the queue drain before the next window.
	sleepUntil(ctx, time.Now().Add(11*time.Second))
	row.Seconds = elapsed.Seconds()
	row.HeartbeatsPerS = float64(sent) / elapsed.Seconds()
	row.CPUPercent = (cpu1 - cpu0) / elapsed.Seconds() * 100
	row.Dropped = droppedPoints(m.Proc) - dropped0
	return row, nil
}

// renderNodeHistory is scenario 12's section of BENCHMARKS.md.
func renderNodeHistory(w func(string, ...any), res *Results) {
	if len(res.NodeHistoryStore) == 0 && len(res.NodeHistoryMaster) == 0 {
		return
	}
	w("## 12. Node history: what each heartbeat's load costs\n\n")
	if len(res.NodeHistoryStore) > 0 {
		w("In the store: one master's writes (a `store.NodeRecorder`, in the harness) for simulated nodes heartbeating every 5 s over 12 simulated minutes: the 10 s point, and the 1 min and 10 min averages as their slots close.\n\n")
		w("| store | nodes | heartbeats | heartbeats/s | p50 ms | p99 ms | max ms | writes per heartbeat | reads per heartbeat | one Expire, ms |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, s := range res.NodeHistoryStore {
			w("| %s | %d | %s | %s | %s | %s | %s | %.2f | %.2f | %.1f |\n", s.Store, s.Nodes, f0(float64(s.Heartbeats)), f0(s.HeartbeatsPerS),
				ms(s.PerHeartbeat.P50ms), ms(s.PerHeartbeat.P99ms), ms(s.PerHeartbeat.MaxMs), s.WritesPerHeartbeat, s.ReadsPerHeartbeat, s.ExpireMs)
		}
		w("\n")
	}
	if len(res.NodeHistoryMaster) > 0 {
		w("On a master: `crawlhub server` on Redis and FerretDB hearing N simulated nodes' heartbeats (every 5 s each, published by the harness on `nodes:master`), without and with the load in them; CPU is the master's user + system time. Dropped: points the master's bounded queue could not take while the store was behind.\n\n")
		w("| nodes | load in heartbeats | heartbeats/s | master CPU, %% of a core | dropped |\n|---|---|---|---|---|\n")
		for _, m := range res.NodeHistoryMaster {
			w("| %d | %v | %s | %.1f | %d |\n", m.Nodes, m.Metrics, f0(m.HeartbeatsPerS), m.CPUPercent, m.Dropped)
		}
		w("\n")
	}
}

// droppedPoints adds up the points the master said it dropped (it says so
// every 10 s, with points_dropped=N).
func droppedPoints(p *Proc) int {
	b, _ := os.ReadFile(p.log)
	n := 0
	for _, m := range droppedRE.FindAllSubmatch(b, -1) {
		k, _ := strconv.Atoi(string(m[1]))
		n += k
	}
	return n
}

var droppedRE = regexp.MustCompile(`points_dropped=(\d+)`)
