// Package sysinfo describes the machine an agent runs on, for the
// wire.OpGetSysinfo reply and for node registration: host and OS identity,
// CPU, memory, disk and load figures, and which spider toolchains (python3,
// node, go, java, scrapy) are installed and at what version, so the master can
// show operators what a node can run and schedule spiders accordingly.
//
// Machine figures come from gopsutil. Toolchain versions come from running
// each tool, which is slow and may hang, so every probe runs concurrently
// under its own timeout; a long-lived agent should use a Collector, which
// caches probe results and never runs more than one probe set at a time.
package sysinfo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/crawlhub/crawlhub/wire"
)

// DefaultProbeTimeout bounds one executable probe when Options.ProbeTimeout
// is zero.
const DefaultProbeTimeout = 3 * time.Second

// Options configures Collect and NewCollector. The zero value is ready to use.
type Options struct {
	// DiskPath is the path whose file system is reported; empty means the
	// agent's working directory.
	DiskPath string
	// Version is the crawlhub version reported as wire.SysInfo.Version.
	Version string
	// Probes lists the executables to look for; nil means DefaultProbes().
	// An empty non-nil slice probes nothing.
	Probes []Probe
	// ProbeTimeout bounds each probe; zero means DefaultProbeTimeout.
	ProbeTimeout time.Duration
	// SearchPath, if set, replaces $PATH both for finding executables and in
	// the environment of the version commands, so that an agent running
	// spiders with its own PATH reports the tools those spiders will get.
	SearchPath string
}

func (o Options) probes() []Probe {
	if o.Probes == nil {
		return DefaultProbes()
	}
	return o.Probes
}

func (o Options) probeTimeout() time.Duration {
	if o.ProbeTimeout <= 0 {
		return DefaultProbeTimeout
	}
	return o.ProbeTimeout
}

// Collect reports the machine and probes every executable in opts.Probes.
//
// Collection is best effort: a figure that cannot be read is left zero and
// its failure is joined into the returned error, while the returned SysInfo
// still holds everything else. A probe that fails or times out is not an
// error; it shows as an Executable without a version. If ctx ends, running
// probes are killed and ctx's error is included.
func Collect(ctx context.Context, opts Options) (wire.SysInfo, error) {
	exes := make(chan []wire.Executable, 1)
	go func() { exes <- probeAll(ctx, opts) }()
	info, err := machine(ctx, opts)
	info.Executables = <-exes
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = errors.Join(err, ctxErr)
	}
	return info, err
}

// machine fills every SysInfo field except Executables.
func machine(ctx context.Context, opts Options) (wire.SysInfo, error) {
	info := wire.SysInfo{
		OS:      runtime.GOOS,
		Arch:    runtime.GOARCH,
		Version: opts.Version,
		// runtime.NumCPU honours CPU affinity (taskset, cpuset cgroups),
		// so it counts the CPUs spiders started by this agent can use,
		// unlike the machine-wide count gopsutil reports.
		CPUs: runtime.NumCPU(),
	}
	var errs []error
	fail := func(what string, err error) {
		errs = append(errs, fmt.Errorf("sysinfo: %s: %w", what, err))
	}

	var err error
	if info.Hostname, err = os.Hostname(); err != nil {
		fail("hostname", err)
	}
	// host.Info is avoided on purpose: it also counts processes and probes
	// virtualization, and it discards every figure if any one of them fails.
	if platform, _, version, err := host.PlatformInformationWithContext(ctx); err != nil {
		fail("platform", err)
	} else {
		info.Platform = strings.TrimSpace(platform + " " + version)
	}
	if info.Kernel, err = host.KernelVersionWithContext(ctx); err != nil {
		fail("kernel version", err)
	}
	if info.Uptime, err = host.UptimeWithContext(ctx); err != nil {
		fail("uptime", err)
	}

	if cpus, err := cpu.InfoWithContext(ctx); err != nil {
		fail("cpu", err)
	} else if len(cpus) > 0 {
		info.CPUModel = strings.TrimSpace(cpus[0].ModelName)
	}

	if vm, err := mem.VirtualMemoryWithContext(ctx); err != nil {
		fail("memory", err)
	} else {
		info.MemTotal, info.MemUsed, info.MemFree = vm.Total, vm.Used, vm.Available
	}

	diskPath := opts.DiskPath
	if diskPath == "" {
		diskPath = "."
	}
	// An absolute path tells the master which directory was measured; "."
	// would mean nothing outside this process.
	if abs, err := filepath.Abs(diskPath); err == nil {
		diskPath = abs
	}
	info.DiskPath = diskPath
	if du, err := disk.UsageWithContext(ctx, diskPath); err != nil {
		fail("disk", err)
	} else {
		info.DiskTotal, info.DiskFree = du.Total, du.Free
	}

	if avg, err := load.AvgWithContext(ctx); err != nil {
		fail("load", err)
	} else {
		info.Load1, info.Load5, info.Load15 = avg.Load1, avg.Load5, avg.Load15
	}

	return info, errors.Join(errs...)
}
