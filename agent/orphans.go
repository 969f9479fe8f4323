package agent

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/crawlhub/crawlhub/loglevel"
	"github.com/crawlhub/crawlhub/runner"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/tasklog"
)

// savePID records the process group of a task that started, in the
// running journal (running.go), for a restarted agent to find.
func (a *Agent) savePID(taskID string, pid int, start uint64) {
	if a.running == nil {
		return
	}
	if err := a.running.started(taskID, pid, start); err != nil {
		a.log.Warn("the task's process group was not recorded: were the agent to crash, it would be left running", "task_id", taskID, "err", err)
	}
}

func (a *Agent) dropPID(taskID string) {
	if a.running == nil {
		return
	}
	if err := a.running.ended(taskID); err != nil {
		a.log.Warn("the running journal was not updated", "task_id", taskID, "err", err)
	}
}

// recoverOrphans runs at start: tasks this node was running when it died
// are stopped for good, their logs uploaded, and marked abnormal. Then it
// starts the running journal afresh.
func (a *Agent) recoverOrphans(ctx context.Context) {
	journal := a.dir("running.journal")
	left, err := readRunning(journal)
	if err != nil {
		a.log.Warn("the running journal could not all be read", "path", journal, "err", err)
	}
	legacy := a.dir("running")
	for id, r := range legacyRunning(legacy) {
		left[id] = r
	}
	for id, r := range left {
		if r.pgid > 0 && ownGroup(r.pgid, r.start) {
			if err := runner.KillGroup(r.pgid, a.cfg.CancelGrace); err != nil {
				a.log.Warn("could not stop an orphaned task's processes", "task_id", id, "pid", r.pgid, "err", err)
			}
		}
		a.abandon(ctx, id, "the agent on node "+a.cfg.Name+" restarted while the task ran; its processes were stopped")
	}
	if a.running, err = openRunning(journal); err != nil {
		a.log.Warn("the running journal could not be started: were the agent to crash, its tasks' processes would be left running", "path", journal, "err", err)
	}
	os.RemoveAll(legacy)
	// Tasks the store says run here but that left no record (the agent
	// died between claiming and starting them).
	mine, _, err := a.store.Tasks().List(ctx, store.TaskFilter{Status: store.TaskRunning, NodeID: a.nodeID})
	if err != nil {
		return
	}
	for _, t := range mine {
		if _, ok := left[t.ID]; !ok {
			a.abandon(ctx, t.ID, "the agent on node "+a.cfg.Name+" restarted while the task was starting")
		}
	}
}

func (a *Agent) abandon(ctx context.Context, taskID, reason string) {
	var total int64
	var levels *loglevel.Counter // the whole log's, when its file is here
	logPath := a.dir("logs", taskID+".log")
	if _, err := os.Stat(logPath); err == nil {
		levels = new(loglevel.Counter)
		if err := tasklog.CountLevels(logPath, levels); err != nil {
			a.log.Warn("orphaned task's log levels not counted; it keeps those reported while it ran", "task_id", taskID, "err", err)
			levels = nil
		}
		n, err := tasklog.Recover(ctx, taskID, logPath, a.store.Logs())
		if err != nil {
			a.log.Warn("orphaned task's log not uploaded", "task_id", taskID, "err", err)
		} else {
			total = n
			os.Remove(logPath)
		}
	} else {
		total, _ = a.store.Logs().LogLen(ctx, taskID)
	}
	t, err := a.store.Tasks().Get(ctx, taskID)
	if err != nil {
		return
	}
	a.recoverItems(ctx, t)
	if store.TaskEnded(t.Status) {
		return
	}
	was := t.Status
	t.Status, t.Reason, t.LogLines, t.Finished = store.TaskAbnormal, reason, total, store.Now()
	if levels != nil {
		t.LogLevels = levels.Levels()
		if stats := levels.ScrapyStats(); stats != nil {
			t.ScrapyStats = stats
		}
	}
	if err := a.store.Tasks().UpdateIf(ctx, t, was); err != nil {
		a.log.Warn("orphaned task not marked abnormal", "task_id", taskID, "err", err)
		return
	}
	a.log.Warn("task abnormal: "+reason, "task_id", taskID)
	a.emitStatus(ctx, t)
}

// ownGroup reports whether pid may still be the group this agent started:
// a live leader with another start time means the pid was reused.
func ownGroup(pid int, start uint64) bool {
	now, err := procStartTime(pid)
	if err != nil {
		// Leader gone: a group id is not reused while its group has members,
		// so any member left is ours.
		return runner.GroupAlive(pid)
	}
	return start == 0 || now == start
}

// procStartTime reads field 22 of /proc/<pid>/stat (start time in clock
// ticks since boot).
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, errors.New("malformed stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}
