package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// procInfo is what the runner needs from /proc/<pid>/stat.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot
}

// alive is false for zombies and dead tasks: they hold no memory and no
// file (the output pipe included) and cannot be signalled, only reaped by
// their parent.
func (p procInfo) alive() bool {
	return p.state != 'Z' && p.state != 'X' && p.state != 'x'
}

// parseStat parses a /proc/<pid>/stat line. The command name is in
// parentheses and may itself contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procInfo, error) {
	var p procInfo
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return p, errors.New("malformed stat")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return p, fmt.Errorf("malformed stat pid: %w", err)
	}
	// After the name: state(3) ppid(4) pgrp(5) ... starttime(22), 1-based.
	f := bytes.Fields(b[end+1:])
	if len(f) < 20 || len(f[0]) == 0 {
		return p, errors.New("malformed stat: too few fields")
	}
	p.pid, p.state = pid, f[0][0]
	if p.ppid, err = strconv.Atoi(string(f[1])); err != nil {
		return p, fmt.Errorf("malformed stat ppid: %w", err)
	}
	if p.pgid, err = strconv.Atoi(string(f[2])); err != nil {
		return p, fmt.Errorf("malformed stat pgrp: %w", err)
	}
	if p.start, err = strconv.ParseUint(string(f[19]), 10, 64); err != nil {
		return p, fmt.Errorf("malformed stat starttime: %w", err)
	}
	return p, nil
}

// readStat reads one process's stat into buf (a stat line is a few hundred
// bytes; 1 KiB leaves room for long names in newer kernels' fields).
func readStat(pid int, buf []byte) (procInfo, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	defer f.Close()
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return procInfo{}, err
	}
	return parseStat(buf[:n])
}

// procStart returns the start time of pid.
func procStart(pid int) (uint64, bool) {
	p, err := readStat(pid, make([]byte, 1024))
	if err != nil {
		return 0, false
	}
	return p.start, true
}

// scanProcs returns every process in /proc. Processes that vanish during
// the scan are skipped: they are gone, which is all the caller asks about.
func scanProcs() ([]procInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1024)
	procs := make([]procInfo, 0, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		if p, err := readStat(pid, buf); err == nil {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// live returns the live processes of the tree and whether its group has any,
// by liveByWalk when it can, else by this scan of /proc.
// Membership, in order: the group; processes seen before (same pid and start
// time); descendants of those through ppid links; processes carrying the
// marker, with their descendants. All are remembered, so a process found
// once is still found after its parent died and it was reparented.
func (t *tree) live() (pids []int, group bool) {
	if t.walk {
		if pids, group, ok := t.liveByWalk(); ok {
			return pids, group
		}
	}
	procs, err := scanProcs()
	if err != nil {
		// Without /proc, the group is all the runner can reach.
		return nil, groupAliveBySignal(t.pgid)
	}
	self := os.Getpid()
	children := make(map[int][]int, len(procs)) // ppid -> indexes into procs
	in := make(map[int]bool)
	var queue []int
	add := func(i int) {
		p := procs[i]
		// Never the agent itself, never init, never twice.
		if p.pid == self || p.pid <= 1 || in[p.pid] {
			return
		}
		in[p.pid] = true
		queue = append(queue, i)
		if p.pgid == t.pgid {
			group = true
		}
	}
	// descend adds the descendants of everything queued from index from on.
	descend := func(from int) {
		for ; from < len(queue); from++ {
			for _, c := range children[procs[queue[from]].pid] {
				add(c)
			}
		}
	}

	for i, p := range procs {
		if !p.alive() {
			continue
		}
		children[p.ppid] = append(children[p.ppid], i)
		if start, ok := t.seen[p.pid]; p.pgid == t.pgid || ok && start == p.start {
			add(i)
		}
	}
	descend(0)

	if t.marker != "" {
		// Reading environments is the costly part, so only for young
		// processes the walk did not already find.
		from := len(queue)
		for i, p := range procs {
			if p.alive() && !in[p.pid] && p.start >= t.minStart && hasEnv(p.pid, t.marker) {
				add(i)
			}
		}
		descend(from)
	}

	pids = make([]int, 0, len(queue))
	for _, i := range queue {
		t.seen[procs[i].pid] = procs[i].start
		pids = append(pids, procs[i].pid)
	}
	return pids, group
}

// hasEnv reports whether the initial environment of pid contains the exact
// entry kv. An unreadable environment (another user's process) does not.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for len(b) > 0 {
		entry := b
		if i := bytes.IndexByte(b, 0); i >= 0 {
			entry, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if string(entry) == kv {
			return true
		}
	}
	return false
}

// groupAlive scans /proc for a live member of group pgid.
func groupAlive(pgid int) bool {
	procs, err := scanProcs()
	if err != nil {
		return groupAliveBySignal(pgid)
	}
	for _, p := range procs {
		if p.pgid == pgid && p.alive() {
			return true
		}
	}
	return false
}
