// Package runner runs a task's command and stops it for real.
//
// A spider is an arbitrary shell command: it may fork workers, put them in
// the background, make them ignore SIGTERM or even move them out of its
// process group with setsid. The runner's promise is that none of that
// outlives the task: each command runs in a process group of its own, and
// whenever a task ends — Stop, timeout, or the main process exiting on its
// own — every process of the group and every descendant that left it is sent
// SIGTERM, then SIGKILL after a grace period.
//
// On Linux the first Start makes the process a child subreaper, so a task's
// process whose parent dies is reparented to it rather than to init (and is
// reaped by the runner when it dies). Descendants that left the group are
// then found by walking down /proc/<pid>/task/<tid>/children from the main
// process, from every process seen before, and from the process's own
// children that carry the run's marker variable (MarkerEnv, which the
// runner adds to the environment and children inherit) or its group: a few
// reads, whatever else runs on the machine. Where children cannot be listed
// (a kernel without CONFIG_PROC_CHILDREN), and for KillGroup, whose group an
// earlier process started, the parent links of every process in
// /proc/*/stat are walked instead, with the same marker for orphans. On
// other unix systems only the process group is signalled.
//
// The package builds on unix only.
package runner
