package soak

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/internal/bench"
)

// Task kinds the load creates.
const (
	kindShort  = "short"  // shortLines at once: finishes in well under a second
	kindLong   = "long"   // longRate lines a second for a few minutes: what browsers follow
	kindCancel = "cancel" // writes until it is cancelled, pending or running
)

const (
	shortLines = 200
	longRate   = 10 // lines per second of a long task
	// longTasks is how many long tasks run at once; browsers spread over
	// them (and the cancelled ones while they run).
	longTasks = 4
	rpcConns  = 4
	// maxRPCErrorRate is the share of JSON-RPC calls that may fail (a
	// node.sysinfo that meets the 5 s deadline on a busy machine) before
	// the run fails.
	maxRPCErrorRate = 0.01
)

// task is one task the load created and what it should end as.
type task struct {
	id      string
	kind    string
	lines   int64 // what a finished short or long task wrote
	created time.Time
}

// LoadStats counts what the load did.
type LoadStats struct {
	Tasks          map[string]int // created, by kind
	Ended          map[string]int // by final status
	StoredLines    int64          // log lines read back from the store and checked
	Follows        int            // tasks followed by a browser to their end
	Reconnects     int64          // browsers' reconnections (deliberate: to the other master, with since)
	Drops          int64          // connections that ended without the browser asking
	FollowedLines  int64          // lines browsers received and checked
	RPCCalls       int64
	RPCErrors      int64
	RPCErrorSample []string
	Uploads        int
	Cancels        int
}

type load struct {
	c    *cluster
	cfg  Config
	logf func(string, ...any)

	spiderID string
	longDur  time.Duration

	mu         sync.Mutex
	tasks      []*task
	followable []string // running long and cancel tasks, for browsers to pick
	follows    []*follow
	errs       []string
	rpcSample  []string
	uploads    int
	cancels    int
	storedLns  int64
	ended      map[string]int

	rpcCalls, rpcErrs atomic.Int64
	reconnects, drops atomic.Int64
	followedLines     atomic.Int64
	masterRR          atomic.Int64
}

func newLoad(c *cluster, cfg Config, logf func(string, ...any)) *load {
	return &load{c: c, cfg: cfg, logf: logf, ended: map[string]int{},
		// A long task lasts a third of the run, between 30 s and 2 min, so
		// that a short run drains soon and a long one sees many.
		longDur: min(2*time.Minute, max(30*time.Second, cfg.Duration/3))}
}

// master picks the masters in turn, so that both get every kind of call.
func (l *load) master() *bench.Master {
	return l.c.masters[int(l.masterRR.Add(1))%len(l.c.masters)]
}

func (l *load) problem(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) < 50 {
		l.errs = append(l.errs, fmt.Sprintf(format, a...))
	}
}

func (l *load) problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.errs...)
	calls, errs := l.rpcCalls.Load(), l.rpcErrs.Load()
	if calls > 0 && float64(errs)/float64(calls) > maxRPCErrorRate {
		out = append(out, fmt.Sprintf("%d of %d JSON-RPC calls failed (more than %.0f %%), e.g. %v", errs, calls, maxRPCErrorRate*100, l.rpcSample))
	}
	return out
}

// run runs the load until loadCtx ends, then drains it: the tasks still
// running end (the cancel tasks are cancelled, the others finish) and the
// browsers follow theirs to the end. ctx bounds the whole.
func (l *load) run(loadCtx, ctx context.Context) {
	var err error
	l.spiderID, err = l.c.masters[0].CreateSpider(ctx, "soak-emit", "exec '"+l.cfg.HarnessBin+"' emit")
	if err != nil {
		l.problem("create the spider: %v", err)
		return
	}
	// Browsers and the drain get until the longest task has surely ended.
	drainCtx, cancelDrain := context.WithTimeout(ctx, l.cfg.Duration+l.longDur+3*time.Minute)
	defer cancelDrain()

	var wg sync.WaitGroup
	wg.Go(func() { l.shortLoop(loadCtx) })
	wg.Go(func() { l.longLoop(loadCtx) })
	wg.Go(func() { l.cancelLoop(loadCtx, drainCtx) })
	wg.Go(func() { l.uploadLoop(loadCtx) })
	for i := range rpcConns {
		wg.Go(func() { l.rpcLoop(loadCtx, i) })
	}
	for i := range l.cfg.Browsers {
		wg.Go(func() { l.browser(loadCtx, drainCtx, i) })
	}
	wg.Wait()
	l.waitEnded(drainCtx)
}

// every calls f every d until ctx ends.
func every(ctx context.Context, d time.Duration, f func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		f()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *load) runTask(ctx context.Context, kind, params string, lines int64) *task {
	id, err := l.master().RunTask(ctx, l.spiderID, params)
	if err != nil {
		if ctx.Err() == nil {
			l.problem("run a %s task: %v", kind, err)
		}
		return nil
	}
	t := &task{id: id, kind: kind, lines: lines, created: time.Now()}
	l.mu.Lock()
	l.tasks = append(l.tasks, t)
	l.mu.Unlock()
	return t
}

// shortLoop runs a short task every 3 s.
func (l *load) shortLoop(ctx context.Context) {
	every(ctx, 3*time.Second, func() {
		l.runTask(ctx, kindShort, fmt.Sprintf("-n %d", shortLines), shortLines)
	})
}

// longLoop keeps longTasks long tasks running.
func (l *load) longLoop(ctx context.Context) {
	lines := int64(l.longDur.Seconds()) * longRate
	var active []*task
	every(ctx, 2*time.Second, func() {
		var still []*task
		for _, t := range active {
			if st, err := l.status(ctx, t.id); err == nil && isFinal(st) {
				l.unfollowable(t.id)
				continue
			}
			still = append(still, t)
		}
		active = still
		for len(active) < longTasks && ctx.Err() == nil {
			t := l.runTask(ctx, kindLong, fmt.Sprintf("-n %d -rate %d", lines, longRate), lines)
			if t == nil {
				break
			}
			active = append(active, t)
			l.setFollowable(t.id)
		}
	})
}

// cancelLoop starts a task that never ends on its own every 10 s and
// cancels it, alternately through REST and JSON-RPC: every third at once
// (it may still be pending), the others after 3 to 15 s of output.
func (l *load) cancelLoop(ctx, drainCtx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	n := 0
	every(ctx, 10*time.Second, func() {
		t := l.runTask(ctx, kindCancel, fmt.Sprintf("-n 1000000000 -rate %d", longRate), 0)
		if t == nil {
			return
		}
		n++
		wait := time.Duration(0)
		if n%3 != 0 {
			wait = time.Duration(3+rand.IntN(13)) * time.Second
			l.setFollowable(t.id)
		}
		viaRPC := n%2 == 0
		wg.Go(func() {
			select {
			case <-time.After(wait):
			case <-ctx.Done(): // the load ended: cancel it now
			}
			l.unfollowable(t.id)
			if err := l.cancel(drainCtx, t.id, viaRPC); err != nil {
				l.problem("cancel task %s: %v", t.id, err)
				return
			}
			l.mu.Lock()
			l.cancels++
			l.mu.Unlock()
		})
	})
}

// uploadLoop uploads a spider every 20 s and deletes the one before.
func (l *load) uploadLoop(ctx context.Context) {
	prev := ""
	n := 0
	every(ctx, 20*time.Second, func() {
		n++
		m := l.master()
		id, err := m.CreateSpider(ctx, fmt.Sprintf("soak-upload-%d", n), "true")
		if err != nil {
			if ctx.Err() == nil {
				l.problem("upload a spider: %v", err)
			}
			return
		}
		l.mu.Lock()
		l.uploads++
		l.mu.Unlock()
		if prev != "" {
			if err := m.API(ctx, "DELETE", "/api/spiders/"+prev, nil, nil); err != nil && ctx.Err() == nil {
				l.problem("delete spider %s: %v", prev, err)
			}
		}
		prev = id
	})
}

func (l *load) setFollowable(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.followable = append(l.followable, id)
}

func (l *load) unfollowable(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.followable {
		if f == id {
			l.followable = append(l.followable[:i], l.followable[i+1:]...)
			return
		}
	}
}

func (l *load) pickFollowable(rng *rand.Rand) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.followable) == 0 {
		return ""
	}
	return l.followable[rng.IntN(len(l.followable))]
}

func isFinal(status string) bool {
	switch status {
	case "finished", "error", "cancelled", "abnormal":
		return true
	}
	return false
}

func (l *load) status(ctx context.Context, id string) (string, error) {
	var t bench.TaskInfo
	err := l.master().API(ctx, "GET", "/api/tasks/"+id, nil, &t)
	return t.Status, err
}

// waitEnded waits until every task the load created has a final status,
// or ctx ends.
func (l *load) waitEnded(ctx context.Context) {
	l.mu.Lock()
	pending := append([]*task(nil), l.tasks...)
	l.mu.Unlock()
	for len(pending) > 0 && ctx.Err() == nil {
		var still []*task
		for _, t := range pending {
			if st, err := l.status(ctx, t.id); err != nil || !isFinal(st) {
				still = append(still, t)
			}
		}
		pending = still
		if len(pending) > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second): // other processes' state, through the API
			}
		}
	}
}

func (l *load) stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := LoadStats{Tasks: map[string]int{}, Ended: map[string]int{}, Uploads: l.uploads, Cancels: l.cancels,
		Reconnects: l.reconnects.Load(), Drops: l.drops.Load(), FollowedLines: l.followedLines.Load(),
		RPCCalls: l.rpcCalls.Load(), RPCErrors: l.rpcErrs.Load(), RPCErrorSample: append([]string(nil), l.rpcSample...),
		StoredLines: l.storedLns}
	for k, v := range l.ended {
		s.Ended[k] = v
	}
	for _, t := range l.tasks {
		s.Tasks[t.kind]++
	}
	for _, f := range l.follows {
		if f.ended {
			s.Follows++
		}
	}
	return s
}
