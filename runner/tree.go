//go:build unix

package runner

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// minKillWait is the least time given to SIGKILL to take effect: delivery is
// quick but not instant for a large tree, and a tiny Grace must not turn into
// a report of survivors.
const minKillWait = time.Second

// Polling /proc for deaths starts fast (most processes die within
// milliseconds of a signal) and backs off so that a long grace period does
// not turn into a busy loop.
const (
	pollFirst = 2 * time.Millisecond
	pollMax   = 50 * time.Millisecond
)

// ErrSurvivors reports processes still alive after SIGKILL, typically stuck
// in the kernel (uninterruptible I/O on a dead NFS mount, say).
var ErrSurvivors = errors.New("runner: processes survived SIGKILL")

// tree is the set of processes one task owns: its process group, the
// descendants of the group's processes (which may have left the group), the
// processes carrying its marker, and every process seen among those before.
// It is not safe for concurrent use.
type tree struct {
	pgid   int
	marker string // MarkerEnv=value, or empty when unknown (KillGroup)
	// minStart is the main process's start time: a process started before
	// it cannot be one of its descendants, so its environment is not read.
	minStart uint64
	// seen maps the processes met so far to their start time, which tells
	// one of them from a later process that reused its pid.
	seen map[int]uint64
	// walk: the process is a child subreaper and started the main process,
	// so the tree is found by walking down from its processes and the
	// process's own children (liveByWalk) rather than by a scan of /proc.
	walk bool
}

// newTree returns the tree of group pgid. root, when not 0, is the main
// process; it must not have been reaped yet, so that its start time can be
// read.
func newTree(pgid, root int, marker string) *tree {
	t := &tree{pgid: pgid, marker: marker, seen: make(map[int]uint64)}
	if root > 0 {
		if start, ok := procStart(root); ok {
			t.seen[root] = start
			t.minStart = start
		}
	}
	return t
}

// signal sends sig to every live process of the tree and reports whether
// there was any.
func (t *tree) signal(sig syscall.Signal) bool {
	pids, group := t.live()
	if group {
		_ = syscall.Kill(-t.pgid, sig)
	}
	for _, pid := range pids {
		// ESRCH (it just died) is the outcome we want anyway.
		_ = syscall.Kill(pid, sig)
	}
	return group || len(pids) > 0
}

// alive reports whether any process of the tree is still alive.
func (t *tree) alive() bool {
	pids, group := t.live()
	return group || len(pids) > 0
}

// waitGone polls until no process of the tree is left or d has passed, and
// reports whether none is left.
func (t *tree) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	pause := pollFirst
	for {
		if !t.alive() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, pollMax)
	}
}

// terminate sends SIGTERM to the tree, waits up to grace for it to end, then
// sends SIGKILL to whatever is alive — rescanning, since processes may have
// forked meanwhile — until nothing is left or killWait has passed.
func (t *tree) terminate(grace, killWait time.Duration) error {
	if !t.signal(syscall.SIGTERM) {
		return nil
	}
	if t.waitGone(grace) {
		return nil
	}
	deadline := time.Now().Add(killWait)
	for {
		if !t.signal(syscall.SIGKILL) {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			pids, _ := t.live()
			return fmt.Errorf("%w: process group %d, pids %v", ErrSurvivors, t.pgid, pids)
		}
		// Rescan soon: a process forked between the scan and the signal
		// got neither, and is only caught by the next round.
		if t.waitGone(min(left, 10*pollMax)) {
			return nil
		}
	}
}

// KillGroup stops a process group left behind, for instance by an agent that
// crashed and restarted: SIGTERM to the group and to the descendants of its
// processes that left it, then SIGKILL after grace (zero means DefaultGrace).
// It returns nil once none of them is left, or ErrSurvivors after grace*2.
// A group that no longer exists is not an error.
func KillGroup(pgid int, grace time.Duration) error {
	if err := checkForeignGroup(pgid); err != nil {
		return err
	}
	if grace <= 0 {
		grace = DefaultGrace
	}
	t := newTree(pgid, 0, "")
	err := t.terminate(grace, grace)
	// Its processes may have been this process's children (reparented to
	// it as a subreaper): they are zombies now, not to be left behind.
	reapOrphans()
	return err
}

// GroupAlive reports whether any process of group pgid is still alive.
// Zombies count as dead: they hold no resources but a pid and cannot be
// signalled. Outside Linux, where /proc is not read, an unreaped zombie
// counts as alive.
func GroupAlive(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	return groupAlive(pgid)
}

// checkForeignGroup refuses pgids whose kill(2) meaning is not "that group":
// 0 is the caller's own group, 1 and below reach every process, and the
// agent's own group would take the agent down.
func checkForeignGroup(pgid int) error {
	if pgid <= 1 {
		return fmt.Errorf("runner: refusing to kill process group %d: not a task's group", pgid)
	}
	if own := syscall.Getpgrp(); pgid == own || pgid == os.Getpid() {
		return fmt.Errorf("runner: refusing to kill process group %d: it is the agent's own", pgid)
	}
	return nil
}

// groupAliveBySignal asks the kernel whether group pgid has members. EPERM
// means it has, just not ours to signal.
func groupAliveBySignal(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
