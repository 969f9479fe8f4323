package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// journalCompactAt is the size past which the running journal is rewritten
// with only the tasks still running (about 15,000 starts and ends).
const journalCompactAt = 1 << 20

// runningJournal is the agent's record of the task processes it started,
// so that a restarted agent finds what a crash left behind. Each start
// appends "start <task id> <pgid> <start time>" and each end "end <task
// id>" to one file kept open: a write each, where a file per task cost a
// create and an unlink of every short task. It is not synced, as the files
// were not: a crash of the agent leaves it complete; a crash of the machine
// leaves no process to stop.
type runningJournal struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	live map[string][]byte // task id → its start line
}

// runningEntry is a task the journal says was running: its process group
// and the start time of the group's leader.
type runningEntry struct {
	pgid  int
	start uint64
}

// readRunning returns the tasks a journal at path says were running, as
// many as it could read (a map, never nil). Lines it cannot read (a torn
// last line) are skipped.
func readRunning(path string) (map[string]runningEntry, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[string]runningEntry{}, nil
	}
	if err != nil {
		return map[string]runningEntry{}, err
	}
	defer f.Close()
	out := map[string]runningEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		switch {
		case len(fields) == 4 && string(fields[0]) == "start":
			pgid, err1 := strconv.Atoi(string(fields[2]))
			start, err2 := strconv.ParseUint(string(fields[3]), 10, 64)
			if err1 == nil && err2 == nil {
				out[string(fields[1])] = runningEntry{pgid: pgid, start: start}
			}
		case len(fields) == 2 && string(fields[0]) == "end":
			delete(out, string(fields[1]))
		}
	}
	return out, sc.Err()
}

// openRunning starts an empty journal at path, replacing any: the caller
// has read and dealt with what it held.
func openRunning(path string) (*runningJournal, error) {
	j := &runningJournal{path: path, live: map[string][]byte{}}
	if err := j.rewrite(); err != nil {
		return nil, err
	}
	return j, nil
}

// started records that task id runs as process group pgid, whose leader
// started at start (clock ticks after boot).
func (j *runningJournal) started(id string, pgid int, start uint64) error {
	line := fmt.Appendf(nil, "start %s %d %d\n", id, pgid, start)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.live[id] = line
	return j.append(line)
}

// ended records that task id's processes are gone.
func (j *runningJournal) ended(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.live[id]; !ok {
		return nil
	}
	delete(j.live, id)
	if err := j.append([]byte("end " + id + "\n")); err != nil {
		return err
	}
	if j.size > journalCompactAt {
		return j.rewrite()
	}
	return nil
}

func (j *runningJournal) append(line []byte) error {
	if j.f == nil {
		return fmt.Errorf("the running journal %s is not open", j.path)
	}
	n, err := j.f.Write(line)
	j.size += int64(n)
	return err
}

// rewrite replaces the journal with the start lines of the tasks running,
// through a new file renamed over the old, so a crash leaves one or the
// other whole.
func (j *runningJournal) rewrite() error {
	tmp := j.path + ".new"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, fileMode)
	if err != nil {
		return err
	}
	var size int64
	for _, line := range j.live {
		n, err := f.Write(line)
		size += int64(n)
		if err != nil {
			f.Close()
			os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size = f, size
	return nil
}

func (j *runningJournal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
}

// legacyRunning reads the pid files of an agent from before the journal:
// a directory "running" with a file "<pgid> <start time>" per task.
func legacyRunning(dir string) map[string]runningEntry {
	out := map[string]runningEntry{}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		var r runningEntry
		fmt.Sscan(string(b), &r.pgid, &r.start)
		out[e.Name()] = r
	}
	return out
}
