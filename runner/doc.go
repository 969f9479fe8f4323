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
// Descendants that left the group are found on Linux by walking the parent
// links in /proc/*/stat from the main process and from every process seen
// before, and, for orphans whose parent has already died, by a per-run marker
// variable (MarkerEnv) that the runner adds to the environment and that
// children inherit. On other unix systems only the process group is
// signalled.
//
// The package builds on unix only.
package runner
