package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// storeDeadline bounds each store call the master makes (unless
// Config.StoreTimeout says otherwise), so that a store that stopped
// answering (a frozen server, a dead network path) makes a request fail
// with 503 store_unavailable in about this long instead of hanging until
// the client gives up. A call that takes longer on a working store is
// rare: every call here reads or writes a bounded set (a page, one
// record); those that do not are in unboundedCalls.
const storeDeadline = 2 * time.Second

// unboundedCalls are the store calls that take as long as their data, so a
// fixed deadline would cut a working call short. They stream to a client
// or from an upload (a log search or download, an items export, a spider's
// archive through GridFS: Files.Open's reader is read after Open returns,
// so its context must outlive the call) or sweep a whole collection in the
// background (the overview's fold, the expiry of old audit entries,
// credentials, deliveries and node points), or count a spider's whole
// results collection, which FerretDB scans (ItemCount, SpiderItems: the
// master bounds the count itself, see itemcount.go). A request using them is
// bounded by the HTTP server's own deadlines (http.go); a store that is
// away still fails them as soon as the driver sees it (store.Unreachable).
var unboundedCalls = map[[2]string]bool{
	{"logs", "ScanLog"}:                    true,
	{"items", "EachItem"}:                  true,
	{"items", "ItemCount"}:                 true,
	{"items", "SpiderItems"}:               true,
	{"files", "Put"}:                       true,
	{"files", "Open"}:                      true,
	{"stats", "Fold"}:                      true,
	{"audit", "DeleteBefore"}:              true,
	{"credentials", "DeleteExpired"}:       true,
	{"webhooks", "DeleteDeliveriesBefore"}: true,
	{"node_metrics", "Expire"}:             true,
}

// storeCalls times the master's store calls (series) and bounds them.
//
// A store that is slow is not a store that is away: under load, or with a
// large collection on FerretDB, a call may take longer than the deadline
// while the store keeps answering others. So a call past its deadline is
// given up only if the store has answered nothing (no call, no ping:
// Server.watchStore pings it every second) for the deadline's length;
// while it answers, the call goes on, up to storeHardLimit. A frozen store
// answers nothing, so its calls fail at their deadline.
type storeCalls struct {
	*series
	// deadline bounds each call but the unbounded ones; zero means
	// storeDeadline.
	deadline time.Duration
	// unreachable is the store's own test of an error (store.Unreachable);
	// nil when the store has none (SQLite: a local file).
	unreachable func(error) bool
	// answered is when a call last came back with an answer (a result or
	// the store's own error), in Unix nanoseconds.
	answered atomic.Int64
}

// storeHardLimit bounds a call that is past its deadline on a store that
// still answers others; storeRecheck is how often such a call looks
// again whether the store still answers.
const (
	storeHardLimit = 30 * time.Second
	storeRecheck   = 200 * time.Millisecond
)

// errNoAnswer ends a bounded call the store did not answer in time.
var errNoAnswer = errors.New("no answer from the store")

// begin starts a store call: ctx bounded as the call may be, and end, to
// defer with the call's error, which times the call, releases ctx and
// turns a call given up on or an unreachable server into
// store.ErrUnavailable. A caller's own deadline or cancellation is left as
// it is: that is the caller's doing, not the store's.
func (s *storeCalls) begin(ctx context.Context, aggregate, method string) (context.Context, func(*error)) {
	start := time.Now()
	// An unbounded call keeps ctx as it is: Files.Open's reader is read
	// after the call returns.
	callCtx, cancel := ctx, context.CancelCauseFunc(func(error) {})
	var w *callWatch
	outage, _ := ctx.Value(outageKey{}).(*storeOutage)
	switch {
	case outage != nil && outage.seen.Load():
		// This request already found the store away: its later calls
		// fail at once, so the request answers within one deadline.
		callCtx, cancel = context.WithCancelCause(ctx)
		cancel(errNoAnswer)
	case !unboundedCalls[[2]string{aggregate, method}]:
		callCtx, cancel = context.WithCancelCause(ctx)
		w = s.watch(start, cancel)
	}
	return callCtx, func(errp *error) {
		w.stop()
		cancel(nil)
		s.since(aggregate, method, start)
		err := *errp
		if ctx.Err() != nil || errors.Is(err, store.ErrUnavailable) {
			return
		}
		switch {
		case context.Cause(callCtx) == errNoAnswer:
			if err == nil {
				return // it answered just as it was given up on
			}
			*errp = fmt.Errorf("%w: %s.%s had no answer within %v: %w", store.ErrUnavailable, aggregate, method, time.Since(start).Round(time.Millisecond), err)
		case err != nil && s.unreachable != nil && s.unreachable(err):
			*errp = fmt.Errorf("%w: %s.%s: %w", store.ErrUnavailable, aggregate, method, err)
		default:
			s.answered.Store(time.Now().UnixNano())
			return
		}
		if outage != nil {
			outage.seen.Store(true)
		}
	}
}

// callWatch gives up on one call (cancel with errNoAnswer) once it is past
// its deadline and the store has stopped answering, or past
// storeHardLimit.
type callWatch struct {
	mu    sync.Mutex
	timer *time.Timer
	done  bool
}

func (s *storeCalls) watch(start time.Time, cancel context.CancelCauseFunc) *callWatch {
	w := &callWatch{}
	limit := s.limit()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(limit, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.done {
			return
		}
		if time.Since(start) >= storeHardLimit || time.Since(time.Unix(0, s.answered.Load())) >= limit {
			cancel(errNoAnswer)
			return
		}
		w.timer.Reset(storeRecheck)
	})
	return w
}

// stop ends the watch; a nil watch (an unbounded call) has nothing to stop.
func (w *callWatch) stop() {
	if w == nil {
		return
	}
	w.mu.Lock()
	w.done = true
	w.timer.Stop()
	w.mu.Unlock()
}

func (s *storeCalls) limit() time.Duration {
	if s.deadline > 0 {
		return s.deadline
	}
	return storeDeadline
}

// storeOutage is one request's memory of a store call that found the
// store away. A request makes several calls, some best effort (the start
// token's look-up of the user admin, recording a credential's use): without
// it each would wait its own deadline before the one that fails the
// request.
type storeOutage struct{ seen atomic.Bool }

type outageKey struct{}

// withStoreOutage gives a request's context its storeOutage.
func withStoreOutage(ctx context.Context) context.Context {
	return context.WithValue(ctx, outageKey{}, new(storeOutage))
}

// storePing is how often a master pings its store, so that a slow call
// can tell a store that still answers from one that is away (storeCalls);
// a ping that takes longer counts as no answer.
const storePing = time.Second

// watchStore pings the store every storePing until ctx ends.
func (s *Server) watchStore(ctx context.Context) {
	t := time.NewTicker(storePing)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, storePing)
		_ = s.store.Ping(pctx) // an answer is recorded by the decorator; the failure is /readyz's to report
		cancel()
	}
}
