//go:build unix

package sysinfo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// fakeTool writes an executable shell script named name into dir.
func fakeTool(t *testing.T, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// fifo makes a named pipe: opening it blocks until the other end is opened,
// which lets a test and a fake tool wait for each other without sleeping.
func fifo(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// release unblocks every fake tool waiting in `read _ < path`.
func release(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("go\n"); err != nil {
		t.Error(err)
	}
	f.Close()
}

func runs(t *testing.T, countFile string) int {
	t.Helper()
	b, err := os.ReadFile(countFile)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

func TestCollectFindsToolOnSearchPath(t *testing.T) {
	dir := t.TempDir()
	path := fakeTool(t, dir, "faketool", "echo 'FakeTool 1.2.3'\n")
	info, err := Collect(context.Background(), Options{
		Probes:     []Probe{{Name: "faketool", Args: []string{"--version"}}, {Name: missingExe}},
		SearchPath: "relative/dir" + string(os.PathListSeparator) + dir,
	})
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	if got := info.Executables[0]; !got.Installed || got.Path != path || got.Version != "1.2.3" {
		t.Errorf("faketool = %+v, want installed at %s with version 1.2.3", got, path)
	}
	if got := info.Executables[1]; got.Installed {
		t.Errorf("%s = %+v, want not installed", missingExe, got)
	}
}

func TestCollectCutsOffHangingTool(t *testing.T) {
	dir := t.TempDir()
	// The version printed before hanging must be discarded, and the hang is
	// in a child that keeps the output pipe open, so Collect must not wait
	// for the script's descendants either.
	path := fakeTool(t, dir, "hangtool", "echo 'HangTool 1.2.3'\nsleep 3600 &\nwait\n")
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))

	const timeout = 200 * time.Millisecond
	start := time.Now()
	info, err := Collect(context.Background(), Options{
		Probes:       append(DefaultProbes(), Probe{Name: "hangtool", Args: []string{"--version"}}),
		ProbeTimeout: timeout,
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Collect: %v", err)
	}
	// Far below the tool's hour of sleep; generous for a loaded machine.
	if elapsed > timeout+5*time.Second {
		t.Errorf("Collect took %v with a %v probe timeout", elapsed, timeout)
	}
	got := info.Executables[len(info.Executables)-1]
	if !got.Installed || got.Path != path || got.Version != "" {
		t.Errorf("hangtool = %+v, want installed at %s without a version", got, path)
	}
}

func TestCollectHonoursContextAndKillsDescendants(t *testing.T) {
	dir := t.TempDir()
	// The tool's child holds the write end of hold for as long as it lives,
	// so the test's read of hold ends exactly when that child dies.
	hold := fifo(t, dir, "hold")
	// Absolute because SearchPath also becomes the tool's PATH.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	fakeTool(t, dir, "hangtool", sleep+" 3600 3>"+hold+" &\nwait\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		info wire.SysInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := Collect(ctx, Options{
			Probes:       []Probe{{Name: "hangtool"}},
			ProbeTimeout: time.Hour,
			SearchPath:   dir,
		})
		done <- result{info, err}
	}()
	// Returns once the tool's child is running.
	held, err := os.Open(hold)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cancel()

	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Errorf("Collect error = %v, want context.Canceled", r.err)
		}
		if len(r.info.Executables) != 1 {
			t.Fatalf("executables = %+v", r.info.Executables)
		}
		if exe := r.info.Executables[0]; !exe.Installed || exe.Path == "" || exe.Version != "" {
			t.Errorf("hangtool = %+v, want installed without a version", exe)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Collect ignored the cancelled context")
	}

	if err := held.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(held); err != nil {
		t.Errorf("the probe's child outlived the cancelled probe: %v", err)
	}
}

func TestCollectorSharesOneProbeRun(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	gate := fifo(t, dir, "gate")
	// Every run is recorded, then held until the test opens the gate, so all
	// callers are certainly inside Collect while the first run is going.
	fakeTool(t, dir, "slowtool", "echo run >> "+count+"\nread _ < "+gate+"\necho 'SlowTool 4.5.6'\n")

	const callers = 8
	c := NewCollector(Options{
		Probes:       []Probe{{Name: "slowtool"}},
		ProbeTimeout: 10 * time.Second,
		SearchPath:   dir,
	}, time.Hour)
	var joined sync.WaitGroup
	joined.Add(callers)
	c.afterJoined = joined.Done

	versions := make([]string, callers)
	var calls sync.WaitGroup
	for i := range callers {
		calls.Go(func() {
			info, err := c.Collect(context.Background())
			if err != nil {
				t.Errorf("Collect: %v", err)
			}
			if len(info.Executables) == 1 {
				versions[i] = info.Executables[0].Version
			}
		})
	}
	joined.Wait()
	release(t, gate)
	calls.Wait()

	if n := runs(t, count); n != 1 {
		t.Errorf("%d concurrent calls started %d probe runs, want 1", callers, n)
	}
	for i, v := range versions {
		if v != "4.5.6" {
			t.Errorf("caller %d got version %q, want 4.5.6", i, v)
		}
	}
}

func TestCollectorCachesProbesForTTL(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	fakeTool(t, dir, "tool", "echo run >> "+count+"\necho 'Tool 1.0.0'\n")

	const ttl = 10 * time.Minute
	c := NewCollector(Options{Probes: []Probe{{Name: "tool"}}, SearchPath: dir}, ttl)
	var clock atomic.Int64 // nanoseconds past base
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return base.Add(time.Duration(clock.Load())) }

	collect := func() string {
		t.Helper()
		info, err := c.Collect(context.Background())
		if err != nil {
			t.Fatalf("Collect: %v", err)
		}
		if info.MemTotal == 0 {
			t.Error("machine figures missing from a cached Collect")
		}
		return info.Executables[0].Version
	}

	if v := collect(); v != "1.0.0" || runs(t, count) != 1 {
		t.Fatalf("first Collect: version %q, %d runs", v, runs(t, count))
	}
	clock.Store(int64(ttl - 1))
	if v := collect(); v != "1.0.0" || runs(t, count) != 1 {
		t.Fatalf("Collect within TTL: version %q, %d runs, want the cached probe", v, runs(t, count))
	}
	clock.Store(int64(ttl))
	if v := collect(); v != "1.0.0" || runs(t, count) != 2 {
		t.Fatalf("Collect after TTL: version %q, %d runs, want a new probe", v, runs(t, count))
	}
}

func TestCollectorResultsAreCallersOwn(t *testing.T) {
	dir := t.TempDir()
	fakeTool(t, dir, "tool", "echo 'Tool 1.0.0'\n")
	c := NewCollector(Options{Probes: []Probe{{Name: "tool"}}, SearchPath: dir}, time.Hour)
	first, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first.Executables[0].Version = "scribbled"
	second, err := c.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v := second.Executables[0].Version; v != "1.0.0" {
		t.Errorf("cached version = %q after a caller edited its result", v)
	}
}

func TestCollectorCallerGivingUpDoesNotCancelSharedRun(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	gate := fifo(t, dir, "gate")
	fakeTool(t, dir, "slowtool", "echo run >> "+count+"\nread _ < "+gate+"\necho 'SlowTool 4.5.6'\n")

	c := NewCollector(Options{
		Probes:       []Probe{{Name: "slowtool"}},
		ProbeTimeout: 10 * time.Second,
		SearchPath:   dir,
	}, time.Hour)
	joined := make(chan struct{}, 2)
	c.afterJoined = func() { joined <- struct{}{} }

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error, 1)
	go func() {
		info, err := c.Collect(ctx)
		if info.Executables != nil {
			err = errors.Join(err, errors.New("got executables before any run completed"))
		}
		impatient <- err
	}()
	<-joined
	cancel()
	if err := <-impatient; !errors.Is(err, context.Canceled) {
		t.Errorf("impatient caller: %v, want context.Canceled only", err)
	}

	patient := make(chan string, 1)
	go func() {
		info, err := c.Collect(context.Background())
		if err != nil {
			t.Errorf("patient caller: %v", err)
		}
		if len(info.Executables) == 1 {
			patient <- info.Executables[0].Version
		} else {
			patient <- ""
		}
	}()
	release(t, gate)
	if v := <-patient; v != "4.5.6" {
		t.Errorf("patient caller got version %q, want 4.5.6 from the surviving run", v)
	}
	if n := runs(t, count); n != 1 {
		t.Errorf("%d probe runs, want the cancelled caller's run to be reused", n)
	}
}
