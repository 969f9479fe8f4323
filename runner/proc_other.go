//go:build unix && !linux

package runner

import "os/exec"

// Without /proc the runner reaches only the process group: descendants that
// left it (setsid) are not found, and zombies of the group count as alive.

// procStart is unknown without /proc.
func procStart(int) (uint64, bool) { return 0, false }

// live reports only whether the group has members.
func (t *tree) live() (pids []int, group bool) {
	return nil, groupAliveBySignal(t.pgid)
}

func groupAlive(pgid int) bool { return groupAliveBySignal(pgid) }

// startCmd starts cmd; without /proc there is no tree to walk.
func startCmd(cmd *exec.Cmd) (walk bool, err error) { return false, cmd.Start() }

func forgetRoot(int) {}

func reapOrphans() {}
