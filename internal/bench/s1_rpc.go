package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/wire"
)

// rpcCaller is a master's RPC end as the master builds it: a wire.Caller
// on its own Redis bus, subscribed to nodes:master. The harness plays
// the master's part of the round trip itself, so it can drive any
// concurrency; the agent is a real `crawlhub agent` process.
type rpcCaller struct {
	bus    *bus.Redis
	caller *wire.Caller
}

// newRPCCaller returns a master's RPC end that signs with secret (""
// for the insecure bus), as the master's does.
func newRPCCaller(ctx context.Context, redisURL, secret string) (*rpcCaller, error) {
	signer, err := wire.NewSigner(secret, quietLog)
	if err != nil {
		return nil, err
	}
	var caller *wire.Caller
	b, err := bus.NewRedis(ctx, redisURL, func(ch string, p []byte) {
		if ch == wire.MasterChannel {
			caller.Handle(p)
		}
	}, quietLog)
	if err != nil {
		return nil, err
	}
	caller = wire.NewCaller(wire.CallerConfig{Bus: b, Signer: signer, Observer: newRPCTimer(), Log: quietLog})
	if err := b.Subscribe(ctx, wire.MasterChannel); err != nil {
		b.Close()
		return nil, err
	}
	return &rpcCaller{bus: b, caller: caller}, nil
}

func (r *rpcCaller) Close() { r.bus.Close() }

// rpcTimer times calls into a Prometheus histogram by op and outcome, as
// the master's metrics do (server/metrics.go: a series found in a map by
// its two label values), so that the scenario pays what a master pays
// per call.
type rpcTimer struct {
	obs map[[2]string]prometheus.Observer
}

func newRPCTimer() *rpcTimer {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "crawlhub_node_rpc_duration_seconds", Help: "bench",
		Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}}, []string{"op", "outcome"})
	t := &rpcTimer{obs: map[[2]string]prometheus.Observer{}}
	for _, op := range []string{wire.OpGetLog, wire.OpGetItems, wire.OpGetSysinfo, wire.OpPing} {
		for o := range wire.NumCallOutcomes {
			t.obs[[2]string{op, o.String()}] = vec.WithLabelValues(op, o.String())
		}
	}
	return t
}

func (t *rpcTimer) CallDone(op string, o wire.CallOutcome, took time.Duration) {
	if obs, ok := t.obs[[2]string{op, o.String()}]; ok {
		obs.Observe(took.Seconds())
	}
}

// measureRPC runs conc callers of op on node for warm+dur and measures the
// calls completed in dur.
func measureRPC(ctx context.Context, rc *rpcCaller, node, op string, conc int, warm, dur time.Duration) RPCRow {
	var hist Hist
	var calls, errs atomic.Int64
	var measuring atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			var si wire.SysInfo
			for {
				select {
				case <-stop:
					return
				default:
				}
				t := time.Now()
				var err error
				if op == wire.OpGetSysinfo {
					err = rc.caller.Call(ctx, node, op, nil, &si)
				} else {
					err = rc.caller.Call(ctx, node, op, nil, nil)
				}
				if !measuring.Load() {
					continue
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				hist.Record(time.Since(t))
				calls.Add(1)
			}
		})
	}
	time.Sleep(warm)
	measuring.Store(true)
	start := time.Now()
	time.Sleep(dur)
	measuring.Store(false)
	elapsed := time.Since(start)
	n := calls.Load()
	close(stop)
	wg.Wait()
	return RPCRow{Op: op, Concurrency: conc, CallsPerSec: float64(n) / elapsed.Seconds(), Errors: errs.Load(), Latency: hist.Summary()}
}

func (r *run) scenarioRPC(ctx context.Context, c *cluster) {
	rc, err := newRPCCaller(ctx, c.redis.URL, "")
	if err != nil {
		r.fail("scenario 1", err)
		return
	}
	defer rc.Close()
	node, err := c.master.NodeID(ctx, c.agent.Name)
	if err != nil {
		r.fail("scenario 1", err)
		return
	}
	for _, op := range []string{wire.OpPing, wire.OpGetSysinfo} {
		for _, conc := range []int{1, 64, 256} {
			row := measureRPC(ctx, rc, node, op, conc, r.d(500*time.Millisecond), r.d(3*time.Second))
			r.logf("scenario 1: %s c=%d: %.0f calls/s, p50 %.3f ms, p99 %.3f ms, %d errors",
				op, conc, row.CallsPerSec, row.Latency.P50ms, row.Latency.P99ms, row.Errors)
			r.res.RPC = append(r.res.RPC, row)
			if ctx.Err() != nil {
				return
			}
		}
	}
}
