package sysinfo

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

const missingExe = "crawlhub-sysinfo-test-no-such-executable"

func TestCollectReportsThisMachine(t *testing.T) {
	dir := t.TempDir()
	probes := append(DefaultProbes(), Probe{Name: missingExe, Args: []string{"--version"}})
	info, err := Collect(context.Background(), Options{DiskPath: dir, Version: "v9.9.9-test", Probes: probes})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}

	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	if info.Hostname != host {
		t.Errorf("Hostname = %q, want %q", info.Hostname, host)
	}
	if info.OS != runtime.GOOS || info.Arch != runtime.GOARCH {
		t.Errorf("OS/Arch = %s/%s, want %s/%s", info.OS, info.Arch, runtime.GOOS, runtime.GOARCH)
	}
	if info.Kernel == "" {
		t.Error("Kernel is empty")
	}
	if info.CPUs != runtime.NumCPU() {
		t.Errorf("CPUs = %d, want %d", info.CPUs, runtime.NumCPU())
	}
	if info.MemTotal == 0 || info.MemUsed > info.MemTotal || info.MemFree > info.MemTotal {
		t.Errorf("memory total/used/available = %d/%d/%d", info.MemTotal, info.MemUsed, info.MemFree)
	}
	if info.DiskPath != dir {
		t.Errorf("DiskPath = %q, want %q", info.DiskPath, dir)
	}
	if info.DiskFree == 0 || info.DiskTotal < info.DiskFree {
		t.Errorf("disk total/free = %d/%d", info.DiskTotal, info.DiskFree)
	}
	if info.Load1 < 0 || info.Load5 < 0 || info.Load15 < 0 {
		t.Errorf("load = %v %v %v", info.Load1, info.Load5, info.Load15)
	}
	if runtime.GOOS == "linux" && (info.Uptime == 0 || info.Platform == "" || info.CPUModel == "") {
		t.Errorf("uptime/platform/cpu model = %d/%q/%q", info.Uptime, info.Platform, info.CPUModel)
	}
	if info.Version != "v9.9.9-test" {
		t.Errorf("Version = %q", info.Version)
	}

	if len(info.Executables) != len(probes) {
		t.Fatalf("got %d executables, want %d: %+v", len(info.Executables), len(probes), info.Executables)
	}
	for i, exe := range info.Executables {
		if exe.Name != probes[i].Name {
			t.Errorf("Executables[%d].Name = %q, want %q (probe order)", i, exe.Name, probes[i].Name)
		}
		t.Logf("%+v", exe)
	}
	goExe := info.Executables[2]
	if !goExe.Installed || goExe.Path == "" || !strings.HasPrefix(goExe.Version, "go1.") {
		t.Errorf("go = %+v, want installed with a go1.x version", goExe)
	}
	if missing := info.Executables[len(probes)-1]; missing.Installed || missing.Path != "" || missing.Version != "" {
		t.Errorf("%s = %+v, want not installed", missingExe, missing)
	}
}

func TestCollectDefaultsDiskPathToWorkingDirectory(t *testing.T) {
	info, err := Collect(context.Background(), Options{Probes: []Probe{}})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if info.DiskPath != wd || info.DiskTotal == 0 {
		t.Errorf("DiskPath = %q (total %d), want %q", info.DiskPath, info.DiskTotal, wd)
	}
	if len(info.Executables) != 0 {
		t.Errorf("empty Probes probed %+v", info.Executables)
	}
}

func TestCollectReportsUnreadableDiskPath(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "gone")
	info, err := Collect(context.Background(), Options{DiskPath: missing, Probes: []Probe{}})
	if err == nil {
		t.Fatal("Collect of a missing disk path returned no error")
	}
	// Best effort: the other figures are still there.
	if info.MemTotal == 0 || info.Hostname == "" || info.DiskPath != missing {
		t.Errorf("partial info lost: %+v", info)
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		name, output, want string
		parse              func(string) string
	}{
		{"python", "Python 3.11.7\n", "3.11.7", nil},
		{"python rc", "Python 3.14.0rc1\n", "3.14.0rc1", nil},
		{"node", "v20.20.2\n", "v20.20.2", nil},
		{"go", "go version go1.26.8 linux/amd64\n", "go1.26.8", nil},
		{"scrapy", "Scrapy 2.11.0\n", "2.11.0", nil},
		{"scrapy after warning", "/usr/lib/python3.11/site-packages/x.py:3: Warning: old\nScrapy 2.11.0\n", "2.11.0", nil},
		{"nothing", "command not found\n", "", nil},
		{"java", "openjdk version \"17.0.15\" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)\n", "17.0.15", parseJavaVersion},
		{"java 8", "java version \"1.8.0_392\"\n", "1.8.0_392", parseJavaVersion},
		{"java tool options", "Picked up JAVA_TOOL_OPTIONS: -Dx=1.5\nopenjdk version \"21.0.2\" 2024-01-16\n", "21.0.2", parseJavaVersion},
	} {
		parse := tc.parse
		if parse == nil {
			parse = ParseVersion
		}
		if got := parse(tc.output); got != tc.want {
			t.Errorf("%s: parse(%q) = %q, want %q", tc.name, tc.output, got, tc.want)
		}
	}
}

func TestNewCollectorDefaultTTL(t *testing.T) {
	if c := NewCollector(Options{}, 0); c.ttl != DefaultProbeTTL || DefaultProbeTTL != time.Minute {
		t.Errorf("ttl = %v, want 1m", c.ttl)
	}
}

func TestPrimaryNetwork(t *testing.T) {
	ip, mac := PrimaryNetwork()
	t.Logf("ip %s mac %s", ip, mac)
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() == nil {
		t.Fatalf("ip %q is not IPv4", ip)
	}
	if parsed.IsLoopback() {
		if mac != "" {
			t.Errorf("loopback fallback with mac %q", mac)
		}
		return
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifi := range ifaces {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(parsed) {
				if ifi.HardwareAddr.String() != mac {
					t.Errorf("mac = %q, but %s holding %s has %q", mac, ifi.Name, ip, ifi.HardwareAddr)
				}
				return
			}
		}
	}
	t.Errorf("no interface holds %s", ip)
}

func TestPickPrimary(t *testing.T) {
	up := net.FlagUp | net.FlagBroadcast
	mac1, _ := net.ParseMAC("02:00:00:00:00:01")
	mac2, _ := net.ParseMAC("02:00:00:00:00:02")
	lo := candidate{flags: net.FlagUp | net.FlagLoopback, ips: []net.IP{net.IPv4(127, 0, 0, 1).To4()}}
	eth0 := candidate{flags: up, mac: mac1, ips: []net.IP{net.IPv4(10, 0, 0, 5).To4()}}
	eth1 := candidate{flags: up, mac: mac2, ips: []net.IP{net.IPv4(192, 168, 1, 9).To4()}}
	down := candidate{flags: net.FlagBroadcast, mac: mac2, ips: []net.IP{net.IPv4(172, 16, 0, 1).To4()}}
	noAddr := candidate{flags: up, mac: mac2}
	tun := candidate{flags: up | net.FlagPointToPoint, ips: []net.IP{net.IPv4(100, 64, 0, 2).To4()}}

	for _, tc := range []struct {
		name    string
		route   net.IP
		cands   []candidate
		ip, mac string
	}{
		{"default route wins over earlier interface", eth1.ips[0], []candidate{lo, eth0, eth1}, "192.168.1.9", mac2.String()},
		{"no route: first usable with mac", nil, []candidate{lo, down, noAddr, tun, eth1, eth0}, "192.168.1.9", mac2.String()},
		{"route via tunnel: prefer an interface with a mac", tun.ips[0], []candidate{lo, tun, eth0}, "10.0.0.5", mac1.String()},
		{"route via tunnel only", tun.ips[0], []candidate{lo, tun}, "100.64.0.2", ""},
		{"nothing usable", nil, []candidate{lo, down, noAddr}, "127.0.0.1", ""},
	} {
		ip, mac := pickPrimary(tc.route, tc.cands)
		if ip != tc.ip || mac != tc.mac {
			t.Errorf("%s: got %s %q, want %s %q", tc.name, ip, mac, tc.ip, tc.mac)
		}
	}
}
