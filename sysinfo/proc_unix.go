//go:build unix

package sysinfo

import (
	"os/exec"
	"syscall"
)

// killProcessGroup makes cancelling cmd kill everything it started, not just
// cmd itself: version commands are often wrapper scripts (pyenv shims, the
// scrapy entry point) whose children would otherwise outlive the timeout and
// pile up on every probe.
func killProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
