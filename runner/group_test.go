//go:build linux

package runner

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// treeScript starts processes that try every way of surviving a stop, each
// announcing "<name> <pid>": children and a grandchild ignoring SIGTERM, a
// child that left the group with setsid and has a child of its own, one that
// also dropped its environment (found only through its parent), and an
// orphan that left the group and lost its parent (found only by its marker).
const treeScript = `
for i in 1 2 3 4 5; do
  sh -c 'trap "" TERM; echo child $$; exec sleep 100' &
done
sh -c 'trap "" TERM
  sh -c "trap \"\" TERM; echo grandchild \$\$; exec sleep 100" &
  echo parent $$; wait' &
setsid sh -c 'trap "" TERM
  sh -c "echo setsidchild \$\$; exec sleep 100" &
  echo setsid $$; wait' &
setsid env -i /bin/sh -c 'trap "" TERM; echo noenv $$; exec /bin/sleep 100' &
(setsid sh -c 'trap "" TERM; echo orphan $$; exec sleep 100' &)
echo main $$
wait
`

const treeProcs = 12

func TestStopKillsTheWholeTree(t *testing.T) {
	t.Parallel()
	out := newOutput()
	p := start(t, Spec{Command: treeScript, Output: out})
	text := out.waitFor(t, "every process to announce itself", func(s string) bool {
		return len(pidLine.FindAllString(s, -1)) == treeProcs
	})
	refs := printedProcs(t, text)

	p.Stop("user pressed stop")
	p.Stop("second stop") // ignored: the first reason is kept
	res := wait(t, p)

	assertAllDead(t, refs)
	if GroupAlive(p.PID()) {
		t.Errorf("GroupAlive(%d) after Wait", p.PID())
	}
	if !res.Stopped || res.TimedOut || res.Reason != "user pressed stop" {
		t.Errorf("Stopped, TimedOut, Reason = %v, %v, %q; want true, false, the first reason", res.Stopped, res.TimedOut, res.Reason)
	}
	if res.Err != nil {
		t.Errorf("Err %v", res.Err)
	}
}

func TestStopReturnsAtOnce(t *testing.T) {
	t.Parallel()
	out := newOutput()
	// Ignores SIGTERM, so the stop takes the whole grace period.
	p := start(t, Spec{Command: `trap "" TERM; echo up; sleep 100`, Output: out, Grace: 2 * time.Second})
	out.waitFor(t, "the trap to be set", func(s string) bool { return s == "up\n" })
	began := time.Now()
	p.Stop("stop")
	if d := time.Since(began); d > time.Second {
		t.Errorf("Stop blocked for %s", d)
	}
	select {
	case <-p.Done():
		t.Errorf("Done before the grace period of a process ignoring SIGTERM")
	default:
	}
	if res := wait(t, p); res.Signal != "killed" {
		t.Errorf("Signal %q, want killed after the grace period", res.Signal)
	}
}

func TestMainExitStopsLingeringChildren(t *testing.T) {
	t.Parallel()
	// Each main process starts a child, then waits on the fifo "go" until
	// the test has the child's pid, and only then exits.
	tests := []struct {
		name, command string
		exitCode      int
	}{
		{"background child", `(sleep 100 & echo bg $!); read x <go; echo done`, 0},
		{"child ignoring SIGTERM", `(trap "" TERM; sleep 100 & echo bg $!); read x <go; echo done`, 0},
		{"setsid child", `setsid sh -c 'echo bg $$; exec sleep 100' & read x <go; echo done`, 0},
		{"failing main", `(sleep 100 & echo bg $!); read x <go; echo done; exit 4`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			fifo := dir + "/go"
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			out := newOutput()
			p := start(t, Spec{Command: tt.command, Dir: dir, Output: out})
			text := out.waitFor(t, "the child's pid", func(s string) bool { return pidLine.MatchString(s) })
			refs := printedProcs(t, text)
			if err := os.WriteFile(fifo, []byte("go\n"), 0); err != nil {
				t.Fatal(err)
			}

			began := time.Now()
			res := wait(t, p)
			// The child holds the output pipe until it is killed, at worst
			// after the grace period.
			if d := time.Since(began); d > testGrace+3*time.Second {
				t.Errorf("Wait took %s", d)
			}
			if !strings.HasSuffix(out.String(), "done\n") {
				t.Errorf("output %q lacks the main process's last line", out.String())
			}
			assertAllDead(t, refs)
			if res.Stopped || res.Reason != "" || res.Err != nil || res.ExitCode != tt.exitCode {
				t.Errorf("result %+v, want a run that ended by itself with exit code %d", res, tt.exitCode)
			}
		})
	}
}

func TestMainOutputIsNeverLost(t *testing.T) {
	t.Parallel()
	out := newOutput()
	// The background child holds the pipe while the main process writes
	// far more than the pipe buffers, then exits.
	p := start(t, Spec{Command: `(trap "" TERM; sleep 100 &); seq 1 100000`, Output: out})
	if res := wait(t, p); res.ExitCode != 0 {
		t.Fatalf("result %+v", res)
	}
	var want strings.Builder
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if out.String() != want.String() {
		t.Errorf("output has %d bytes, want %d", len(out.String()), want.Len())
	}
}

func TestKillGroupStopsAForgottenGroup(t *testing.T) {
	t.Parallel()
	out := newOutput()
	// Stands for a task an earlier agent started and lost track of.
	p := start(t, Spec{
		Command: `trap "" TERM
sh -c 'trap "" TERM; echo child $$; exec sleep 100' &
sh -c 'echo child $$; exec sleep 100' &
echo main $$
wait`,
		Output: out,
	})
	text := out.waitFor(t, "every process to announce itself", func(s string) bool {
		return len(pidLine.FindAllString(s, -1)) == 3
	})
	refs := printedProcs(t, text)
	if !GroupAlive(p.PID()) {
		t.Fatalf("GroupAlive(%d) false for a running group", p.PID())
	}

	if err := KillGroup(p.PID(), testGrace); err != nil {
		t.Fatalf("KillGroup: %v", err)
	}
	if GroupAlive(p.PID()) {
		t.Errorf("GroupAlive(%d) after KillGroup", p.PID())
	}
	assertAllDead(t, refs)
	if res := wait(t, p); res.Signal != "killed" || res.Stopped {
		t.Errorf("result %+v, want killed (by KillGroup, not Stop)", res)
	}
	// The group is gone: nothing to do, and no error.
	if err := KillGroup(p.PID(), testGrace); err != nil {
		t.Errorf("KillGroup on a finished group: %v", err)
	}
}

func TestKillGroupRefusesOwnAndSpecialGroups(t *testing.T) {
	t.Parallel()
	for _, pgid := range []int{-1, 0, 1, syscall.Getpgrp(), os.Getpid()} {
		if err := KillGroup(pgid, time.Millisecond); err == nil {
			t.Errorf("KillGroup(%d) accepted", pgid)
		}
	}
}
