//go:build !unix

package sysinfo

import "os/exec"

// killProcessGroup relies on exec.Cmd's default cancellation, which kills
// only the direct child; Cmd.WaitDelay still bounds the wait for its
// descendants.
func killProcessGroup(*exec.Cmd) {}
