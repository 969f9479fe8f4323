package bench

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func machineFacts(cfg Config, nofile uint64) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), NoFile: nofile, LoadBefore: loadAverage()}
	// Wait a while for a quiet machine: other work running now would
	// compete with every process measured.
	for i, deadline := 0, time.Now().Add(2*time.Minute); ; i++ {
		m.BusyBefore = cpuBusy(2 * time.Second)
		if m.BusyBefore < 0.15 || time.Now().After(deadline) || cfg.Quick {
			break
		}
		if i%10 == 0 {
			fmt.Fprintf(cfg.Log, "bench: the CPUs are %.0f %% busy with something else; waiting (up to 2 minutes) for them to quiet down\n", m.BusyBefore*100)
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemoryGiB = float64(int(kb/1024/1024*10+0.5)) / 10
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Redis = redisVersion()
	if cfg.CentrifugoBin != "" {
		m.Centrifugo = moduleVersion(cfg.CentrifugoBin)
	} else {
		m.Centrifugo = "not available: " + cfg.CentrifugoMissing
	}
	m.Crawlhub = moduleVersion(cfg.CrawlhubBin)
	return m
}

var redisVersionRE = regexp.MustCompile(`v=(\S+)`)

func redisVersion() string {
	out, err := exec.Command("redis-server", "--version").Output()
	if err != nil {
		return "unknown"
	}
	if m := redisVersionRE.FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return strings.TrimSpace(string(out))
}

// moduleVersion is the main module's version a Go binary was built from
// (`go version -m`), with the Go version that built it.
func moduleVersion(bin string) string {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "this tree"
	}
	return v + " (" + bi.GoVersion + ")"
}

// cpuBusy is the share of the machine's CPU time spent busy over d, from
// /proc/stat: what else runs here before the harness starts anything.
func cpuBusy(d time.Duration) float64 {
	read := func() (busy, total float64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			total += x
			if i != 3 && i != 4 { // idle, iowait
				busy += x
			}
		}
		return busy, total
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return (b1 - b0) / (t1 - t0)
}

// loadAverage is the 1-minute load average.
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// Version is the redis-server version.
func (r *Redis) Version() string { return redisVersion() }
