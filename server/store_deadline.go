package server

import (
	"context"
	"errors"
	"fmt"
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
type storeCalls struct {
	*series
	// deadline bounds each call but the unbounded ones; zero means
	// storeDeadline.
	deadline time.Duration
	// unreachable is the store's own test of an error (store.Unreachable);
	// nil when the store has none (SQLite: a local file).
	unreachable func(error) bool
}

// begin starts a store call: ctx with the call's deadline, and end, to
// defer with the call's error, which times the call, releases the deadline
// and turns a missed deadline or an unreachable server into
// store.ErrUnavailable. A caller's own deadline or cancellation is left as
// it is: that is the caller's doing, not the store's.
func (s *storeCalls) begin(ctx context.Context, aggregate, method string) (context.Context, func(*error)) {
	start := time.Now()
	cancel := context.CancelFunc(func() {})
	callCtx := ctx
	outage, _ := ctx.Value(outageKey{}).(*storeOutage)
	switch {
	case outage != nil && outage.seen.Load():
		// This request already found the store away: its later calls
		// fail at once, so the request answers within one deadline.
		callCtx, cancel = context.WithDeadline(ctx, start)
	case !unboundedCalls[[2]string{aggregate, method}]:
		callCtx, cancel = context.WithTimeout(ctx, s.limit())
	}
	return callCtx, func(errp *error) {
		cancel()
		s.since(aggregate, method, start)
		err := *errp
		if err == nil || errors.Is(err, store.ErrUnavailable) || ctx.Err() != nil {
			return
		}
		switch {
		case callCtx.Err() == context.DeadlineExceeded:
			*errp = fmt.Errorf("%w: %s.%s had no answer within %v: %w", store.ErrUnavailable, aggregate, method, s.limit(), err)
		case s.unreachable != nil && s.unreachable(err):
			*errp = fmt.Errorf("%w: %s.%s: %w", store.ErrUnavailable, aggregate, method, err)
		default:
			return
		}
		if outage != nil {
			outage.seen.Store(true)
		}
	}
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
