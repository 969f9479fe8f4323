package bench

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// signedSecret is the cluster secret of scenario 9's signed runs.
const signedSecret = "bench-cluster-secret-0123456789abcdef"

// SignedRow is scenario 9: one master and one agent on Redis, their bus
// signed with a cluster secret or not, measured on what crosses the bus
// most: node round trips (ping) and a task's log lines to one client.
type SignedRow struct {
	Signed         bool    `json:"signed"`
	Round          int     `json:"round"`
	PingCallsPerS  float64 `json:"ping_calls_per_s"` // at concurrency signedConcurrency
	PingLatency    Latency `json:"ping_latency"`
	PingErrors     int64   `json:"ping_errors"`
	LogLines       int64   `json:"log_lines"`
	LogLinesPerS   float64 `json:"log_lines_per_s"` // delivered to one client, the task as fast as it can
	LogLost        int64   `json:"log_lost"`
	LogDuplicates  int64   `json:"log_duplicates"`
	LogWriteLinesS float64 `json:"task_write_lines_per_s"`
}

// signedConcurrency is the callers of scenario 9's pings: enough to keep
// the agent busy, as scenario 1's middle row.
const signedConcurrency = 64

// scenarioSigned runs the insecure and the signed bus in turns, each on a
// fresh master and agent (the machine drifts: turns keep the pairs close
// in time), and records what each does.
func (r *run) scenarioSigned(ctx context.Context, c *cluster) {
	rounds := 2
	if r.cfg.Quick {
		rounds = 1
	}
	for round := 1; round <= rounds; round++ {
		for _, signed := range []bool{false, true} {
			row, err := r.signedRound(ctx, c, signed, round)
			if err != nil {
				r.fail(fmt.Sprintf("scenario 9 signed=%v round %d", signed, round), err)
				continue
			}
			r.res.Signed = append(r.res.Signed, row)
			if ctx.Err() != nil {
				return
			}
		}
	}
}

func (r *run) signedRound(ctx context.Context, base *cluster, signed bool, round int) (SignedRow, error) {
	row := SignedRow{Signed: signed, Round: round}
	secret := ""
	if signed {
		secret = signedSecret
	}
	c := &cluster{redis: base.redis, mongo: base.mongo}
	db := fmt.Sprintf("bench_signed_%v_%d", signed, round)
	if err := r.startClusterSigned(ctx, c, db, fmt.Sprintf("sig%v%d", signed, round), "", secret); err != nil {
		return row, err
	}
	defer func() {
		c.agent.Stop(15 * time.Second)
		c.master.Stop(15 * time.Second)
	}()
	rc, err := newRPCCaller(ctx, c.redis.URL, secret)
	if err != nil {
		return row, err
	}
	defer rc.Close()
	node, err := c.master.NodeID(ctx, c.agent.Name)
	if err != nil {
		return row, err
	}
	rpc := measureRPC(ctx, rc, node, wire.OpPing, signedConcurrency, r.d(500*time.Millisecond), r.d(3*time.Second))
	row.PingCallsPerS, row.PingLatency, row.PingErrors = rpc.CallsPerSec, rpc.Latency, rpc.Errors
	row.LogLines = r.linesFor(1)
	lr, err := r.logFanout(ctx, c, 1, row.LogLines, 0)
	if err != nil {
		return row, err
	}
	row.LogLinesPerS, row.LogLost, row.LogDuplicates, row.LogWriteLinesS = lr.LinesPerSec, lr.Lost, lr.Duplicates, lr.WriteLinesPerS
	r.logf("scenario 9: signed=%v round %d: ping c=%d %.0f calls/s (p99 %.2f ms, %d errors); log to one client %.0f lines/s (%d lost, %d twice)",
		signed, round, signedConcurrency, row.PingCallsPerS, row.PingLatency.P99ms, row.PingErrors, row.LogLinesPerS, row.LogLost, row.LogDuplicates)
	return row, nil
}

// signedRatios are the signed bus's figures over the insecure bus's, the
// geometric mean over the rounds that have both (0 when none has).
func signedRatios(rows []SignedRow) (ping, logs float64) {
	byRound := map[int][2]*SignedRow{}
	for i := range rows {
		p := byRound[rows[i].Round]
		if rows[i].Signed {
			p[1] = &rows[i]
		} else {
			p[0] = &rows[i]
		}
		byRound[rows[i].Round] = p
	}
	var lp, ll float64
	n := 0
	for _, p := range byRound {
		if p[0] == nil || p[1] == nil || p[0].PingCallsPerS == 0 || p[0].LogLinesPerS == 0 || p[1].PingCallsPerS == 0 || p[1].LogLinesPerS == 0 {
			continue
		}
		lp += math.Log(p[1].PingCallsPerS / p[0].PingCallsPerS)
		ll += math.Log(p[1].LogLinesPerS / p[0].LogLinesPerS)
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return math.Exp(lp / float64(n)), math.Exp(ll / float64(n))
}
