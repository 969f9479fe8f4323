package runner

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The first Start makes the calling process a child subreaper
// (PR_SET_CHILD_SUBREAPER): a process of a task whose parent dies is then
// reparented to it, never to init. Every process a task left behind is
// therefore a descendant of the task's main process while that lives, or
// of one of the agent's own children once it is gone. Finding them at the
// end of a task walks those few trees through /proc/<pid>/task/<tid>/children
// instead of reading the stat of every process on the machine, which cost
// the all-in-one a third of its CPU when it ran many short tasks.
//
// The price is that the orphans which die under the agent are the agent's
// to reap: reapOrphans does it for every child that no exec.Cmd of the
// runner waits for and that is not in the agent's own process group (where
// the children of other exec.Cmds of the process are).
var reaper struct {
	once    sync.Once
	on      bool // the process is a subreaper and can list its children
	self    int
	ownPgid int

	// mu is held for reading across each Start's fork and the registration
	// of its main process, and for writing while zombies are reaped, so a
	// main process that exited before it was registered is never reaped
	// from under its exec.Cmd.
	mu    sync.RWMutex
	roots map[int]int // main processes not yet reaped by their exec.Cmd (pid → runs)
}

// enableSubreaper makes the process a child subreaper once, and reports
// whether it is one that can list its children.
func enableSubreaper() bool {
	reaper.once.Do(func() {
		self := os.Getpid()
		if _, err := os.Stat("/proc/" + strconv.Itoa(self) + "/task/" + strconv.Itoa(self) + "/children"); err != nil {
			return // a kernel without CONFIG_PROC_CHILDREN: the orphans could not be found to be reaped
		}
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return
		}
		reaper.on, reaper.self, reaper.ownPgid = true, self, syscall.Getpgrp()
		reaper.roots = make(map[int]int)
	})
	return reaper.on
}

// startCmd starts cmd and registers its process as a main process that
// its exec.Cmd reaps, before any reaping can look at it. walk says whether
// the run's tree can be found by walking (the process is a subreaper).
func startCmd(cmd *exec.Cmd) (walk bool, err error) {
	if !enableSubreaper() {
		return false, cmd.Start()
	}
	reaper.mu.RLock()
	defer reaper.mu.RUnlock()
	if err := cmd.Start(); err != nil {
		return false, err
	}
	rootsMu.Lock()
	reaper.roots[cmd.Process.Pid]++
	rootsMu.Unlock()
	return true, nil
}

// forgetRoot undoes startCmd's registration of pid once its exec.Cmd
// reaped it.
func forgetRoot(pid int) {
	if !reaper.on {
		return
	}
	rootsMu.Lock()
	if reaper.roots[pid]--; reaper.roots[pid] <= 0 {
		delete(reaper.roots, pid)
	}
	rootsMu.Unlock()
}

// rootsMu guards reaper.roots, which Starts change concurrently while they
// hold reaper.mu for reading.
var rootsMu sync.Mutex

func isRoot(pid int) bool {
	rootsMu.Lock()
	defer rootsMu.Unlock()
	return reaper.roots[pid] > 0
}

// orphansOf returns the children of the main thread of pid, the process
// itself: where the kernel puts the orphans a subreaper adopts. It gives
// them to the first live thread of the subreaper's thread group
// (find_new_reaper, find_alive_thread), which is the group leader while it
// lives, and a Go process's main thread lives as long as the process.
// Children the process forked from its other threads are not listed: they
// are the runner's main processes and other exec.Cmds', not orphans.
func orphansOf(pid int, buf []byte) ([]int, error) {
	return readChildren("/proc/"+strconv.Itoa(pid)+"/task/"+strconv.Itoa(pid)+"/children", buf, nil)
}

// readChildren appends to out the pids a children file lists, read whole
// in one read so the kernel walks the list in a single pass.
func readChildren(path string, buf []byte, out []int) ([]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	n, err := f.Read(buf)
	f.Close()
	if err != nil && n == 0 && !errors.Is(err, io.EOF) {
		return out, err
	}
	for _, field := range bytes.Fields(buf[:n]) {
		if c, err := strconv.Atoi(string(field)); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// childrenOf returns the children of every thread of pid.
func childrenOf(pid int, buf []byte) ([]int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, tid := range tids {
		// A thread that ended gave its children to another: skip it.
		out, _ = readChildren(dir+"/"+tid+"/children", buf, out)
	}
	return out, nil
}

// liveByWalk is live for a process that is a subreaper: it walks from the
// processes seen before (the main process first) and from the orphans the
// agent adopted instead of scanning /proc. ok is false when it cannot (the
// agent's children are unreadable); live then scans.
//
// The agent's children are read after every process found alive so far was
// read, and again until no new one turns up: a process whose parent died
// during the walk has been reparented to the agent before its parent shows
// as dead, so it is in the last read.
func (t *tree) liveByWalk() (pids []int, group bool, ok bool) {
	bufs := walkBufs.Get().(*walkBuffers)
	defer walkBufs.Put(bufs)
	buf, stat := bufs.children[:], bufs.stat[:]
	in := make(map[int]bool)
	var queue []procInfo
	add := func(p procInfo) {
		if p.pid == reaper.self || p.pid <= 1 || in[p.pid] || !p.alive() {
			return
		}
		in[p.pid] = true
		queue = append(queue, p)
		if p.pgid == t.pgid {
			group = true
		}
	}
	descend := func(from int) {
		for ; from < len(queue); from++ {
			kids, err := childrenOf(queue[from].pid, buf)
			if err != nil {
				continue // it died: its children are the agent's now
			}
			for _, c := range kids {
				if p, err := readStat(c, stat); err == nil && !in[c] {
					add(p)
				}
			}
		}
	}

	for pid, start := range t.seen {
		if p, err := readStat(pid, stat); err == nil && p.start == start {
			add(p)
		}
	}
	descend(0)
	zombies := false
	for {
		kids, err := orphansOf(reaper.self, buf)
		if err != nil {
			return nil, false, false
		}
		from := len(queue)
		for _, c := range kids {
			if in[c] || isRoot(c) {
				continue // ours already, or another run's main process
			}
			p, err := readStat(c, stat)
			if err != nil {
				continue
			}
			if !p.alive() {
				zombies = zombies || p.pgid != reaper.ownPgid
				continue
			}
			start, seen := t.seen[c]
			if p.pgid == t.pgid || seen && start == p.start ||
				t.marker != "" && p.start >= t.minStart && hasEnv(c, t.marker) {
				add(p)
			}
		}
		if len(queue) == from {
			break
		}
		descend(from)
	}
	if zombies {
		reapOrphans()
	}
	pids = make([]int, 0, len(queue))
	for _, p := range queue {
		t.seen[p.pid] = p.start
		pids = append(pids, p.pid)
	}
	return pids, group, true
}

// walkBuffers are liveByWalk's read buffers, reused: one walk per task end.
type walkBuffers struct {
	children [64 << 10]byte // a children file: up to about 9,000 pids
	stat     [1024]byte
}

var walkBufs = sync.Pool{New: func() any { return new(walkBuffers) }}

// reapOrphans reaps the agent's zombie children that no exec.Cmd of the
// runner waits for and that are not in the agent's own process group:
// processes of tasks whose parent died before them.
func reapOrphans() {
	if !reaper.on {
		return
	}
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	kids, err := orphansOf(reaper.self, make([]byte, 64<<10))
	if err != nil {
		return
	}
	stat := make([]byte, 1024)
	for _, c := range kids {
		if isRoot(c) {
			continue
		}
		p, err := readStat(c, stat)
		if err != nil || p.alive() || p.pgid == reaper.ownPgid {
			continue
		}
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(c, &ws, syscall.WNOHANG, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
	}
}
