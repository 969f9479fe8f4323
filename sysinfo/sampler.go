package sysinfo

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"

	"github.com/crawlhub/crawlhub/wire"
)

// Sampler measures a node's load for its heartbeats: CPU busy share and
// network rates as deltas of the kernel's counters since the previous
// sample, memory, the disk of one path, and the 1-minute load average. On
// Linux every figure is one read of /proc (stat, meminfo, net/dev,
// loadavg) and a statfs, so a sample costs microseconds (see
// BenchmarkSampler); elsewhere gopsutil asks the system, and a figure it
// cannot give stays zero. Safe for concurrent use.
type Sampler struct {
	diskPath string

	mu      sync.Mutex
	prev    counters
	hasPrev bool
}

// counters are the cumulative figures a rate is a delta of.
type counters struct {
	at          time.Time
	busy, total float64 // CPU seconds, all CPUs
	rx, tx      uint64  // bytes, every interface but loopback
	hasCPU      bool
	hasNet      bool
}

// NewSampler returns a Sampler reporting the file system of diskPath (empty
// means the working directory). It reads the counters once, so that the
// first Sample has a baseline to measure from.
func NewSampler(diskPath string) *Sampler {
	if diskPath == "" {
		diskPath = "."
	}
	if abs, err := filepath.Abs(diskPath); err == nil {
		diskPath = abs
	}
	s := &Sampler{diskPath: diskPath}
	s.prev, _ = readCounters(context.Background())
	s.hasPrev = true
	return s
}

// Sample measures the node now. Like Collect it is best effort: a figure
// that cannot be read is zero and its failure is joined into the error,
// with every other figure still set.
func (s *Sampler) Sample(ctx context.Context) (wire.NodeMetrics, error) {
	var m wire.NodeMetrics
	var errs []error
	fail := func(what string, err error) {
		errs = append(errs, fmt.Errorf("sysinfo: %s: %w", what, err))
	}
	cur, err := readCounters(ctx)
	if err != nil {
		fail("counters", err)
	}
	s.mu.Lock()
	prev, hasPrev := s.prev, s.hasPrev
	s.prev, s.hasPrev = cur, true
	s.mu.Unlock()
	if hasPrev {
		m.CPU, m.NetRx, m.NetTx = rates(prev, cur)
	}

	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		fail("memory", err)
	} else {
		m.MemUsed, m.MemTotal = vm.Used, vm.Total
	}
	if du, err := disk.UsageWithContext(ctx, s.diskPath); err != nil {
		fail("disk", err)
	} else {
		// Used is what the agent can no longer write: the total less what
		// is available to it (Free), as the node page's disk meter shows;
		// the file system's own Used leaves out blocks reserved or held
		// back from unprivileged users.
		m.DiskUsed, m.DiskTotal = du.Total-min(du.Free, du.Total), du.Total
	}
	if avg, err := load.AvgWithContext(ctx); err != nil {
		fail("load", err)
	} else {
		m.Load1 = avg.Load1
	}
	return m, errors.Join(errs...)
}

// readCounters reads the cumulative CPU times and network bytes. Either may
// be missing (hasCPU, hasNet false) where the system does not give it.
func readCounters(ctx context.Context) (counters, error) {
	c := counters{at: time.Now()}
	var errs []error
	if times, err := cpu.TimesWithContext(ctx, false); err != nil {
		errs = append(errs, fmt.Errorf("cpu: %w", err))
	} else if len(times) > 0 {
		t := times[0]
		// Guest time is already counted in user time on Linux, so it is
		// left out of the total (unlike TimesStat.Total, which adds it).
		c.total = t.User + t.Nice + t.System + t.Idle + t.Iowait + t.Irq + t.Softirq + t.Steal
		c.busy = c.total - t.Idle - t.Iowait
		c.hasCPU = true
	}
	if nics, err := psnet.IOCountersWithContext(ctx, true); err != nil {
		errs = append(errs, fmt.Errorf("network: %w", err))
	} else {
		for _, n := range nics {
			// Loopback traffic never leaves the machine: counting it would
			// show a node talking to itself (its own agent and master, in
			// the all-in-one) as network load.
			if n.Name == "lo" || n.Name == "lo0" {
				continue
			}
			c.rx += n.BytesRecv
			c.tx += n.BytesSent
		}
		c.hasNet = true
	}
	return c, errors.Join(errs...)
}

// rates turns two readings into the CPU busy share (0–100) and bytes per
// second received and sent between them. A counter that went backwards (a
// wrap, an interface gone) gives zero rather than a nonsense figure.
func rates(prev, cur counters) (cpuPct, rx, tx float64) {
	if prev.hasCPU && cur.hasCPU {
		if dt := cur.total - prev.total; dt > 0 {
			cpuPct = min(100, max(0, (cur.busy-prev.busy)/dt*100))
		}
	}
	secs := cur.at.Sub(prev.at).Seconds()
	if prev.hasNet && cur.hasNet && secs > 0 {
		if cur.rx >= prev.rx {
			rx = float64(cur.rx-prev.rx) / secs
		}
		if cur.tx >= prev.tx {
			tx = float64(cur.tx-prev.tx) / secs
		}
	}
	return cpuPct, rx, tx
}
