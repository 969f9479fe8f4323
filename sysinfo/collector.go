package sysinfo

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/crawlhub/crawlhub/wire"
)

// DefaultProbeTTL is how long a Collector reuses executable probes when
// NewCollector is given a zero TTL.
const DefaultProbeTTL = time.Minute

// Collector is Collect for a long-lived agent: toolchains change rarely but
// probing them costs at least a process start per tool, so their results are
// reused for a TTL, while memory, disk and load are read afresh on every
// call. It is safe for concurrent use, and concurrent calls that find the
// cache stale share a single probe run.
type Collector struct {
	opts  Options
	ttl   time.Duration
	group singleflight.Group

	mu       sync.Mutex
	exes     []wire.Executable
	probedAt time.Time // zero until the first probe run completes

	// Seams for tests; set before first use.
	now         func() time.Time
	afterJoined func() // called once a caller has joined a probe run
}

// NewCollector returns a Collector reporting with opts and reusing
// executable probes for ttl (zero means DefaultProbeTTL).
func NewCollector(opts Options, ttl time.Duration) *Collector {
	if ttl <= 0 {
		ttl = DefaultProbeTTL
	}
	// Probes are kept for the Collector's life, so later changes to the
	// caller's slice must not alter what is probed.
	if opts.Probes != nil {
		opts.Probes = slices.Clone(opts.Probes)
	}
	return &Collector{opts: opts, ttl: ttl, now: time.Now}
}

// Collect is the package-level Collect with cached executable probes.
//
// If ctx ends while a probe run is in progress, Collect returns at once with
// the previous probe results (nil before the first run completes) and ctx's
// error; the run itself continues, bounded by the probe timeout, so that
// other callers sharing it and the cache still get its results.
func (c *Collector) Collect(ctx context.Context) (wire.SysInfo, error) {
	exes, run := c.executables(ctx)
	if run != nil && c.afterJoined != nil {
		c.afterJoined()
	}
	info, err := machine(ctx, c.opts)
	if run != nil {
		select {
		case r := <-run:
			exes = r.Val.([]wire.Executable)
		case <-ctx.Done():
		}
	}
	// The cached slice is shared by every caller; a caller editing its
	// SysInfo must not change what others see.
	info.Executables = slices.Clone(exes)
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = errors.Join(err, ctxErr)
	}
	return info, err
}

// executables returns the cached probe results and, if they are missing or
// older than the TTL, the channel of the probe run refreshing them.
func (c *Collector) executables(ctx context.Context) ([]wire.Executable, <-chan singleflight.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.probedAt.IsZero() && c.now().Sub(c.probedAt) < c.ttl {
		return c.exes, nil
	}
	// The run is shared, so one caller giving up must not kill it: each
	// probe is still bounded by its own timeout.
	runCtx := context.WithoutCancel(ctx)
	// DoChan runs the function on another goroutine, so taking c.mu inside
	// it cannot deadlock with the lock held here.
	return c.exes, c.group.DoChan("executables", func() (any, error) {
		exes := probeAll(runCtx, c.opts)
		c.mu.Lock()
		c.exes, c.probedAt = exes, c.now()
		c.mu.Unlock()
		return exes, nil
	})
}
