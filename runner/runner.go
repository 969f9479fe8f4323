//go:build unix

package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultGrace is the time between SIGTERM and SIGKILL when Spec.Grace is
// zero: long enough for a crawler to flush its items and close connections.
const DefaultGrace = 10 * time.Second

// MarkerEnv is the variable Start adds to every command's environment with a
// value unique to the run. Children inherit it, so a process that escaped
// both the process group (setsid) and the parent chain (its parent died) is
// still recognised as the task's and stopped with it. Any value the caller
// put in Spec.Env under this name is replaced.
const MarkerEnv = "CRAWLHUB_RUN_TOKEN"

// outputDrainWait bounds how long Wait waits for the end of the output once
// every process the runner knows of is gone. Only a process the runner could
// not find (it cleared its environment, escaped the group and lost its
// parent) can still hold the pipe then; Wait must not hang on it.
const outputDrainWait = 2 * time.Second

// ErrNoCommand is returned by Start for an empty command.
var ErrNoCommand = errors.New("runner: the task has no command to run")

// Spec describes a command to run.
type Spec struct {
	// Command is run with `/bin/sh -c Command`.
	Command string
	// Dir is the working directory (the spider's directory). Empty means
	// the agent's working directory.
	Dir string
	// Env is the complete environment of the command. Nil means an empty
	// one: the agent's own environment is never inherited implicitly.
	// MarkerEnv is always added.
	Env []string
	// Output receives stdout and stderr. The same pipe is the process's
	// fd 1 and fd 2, so the two streams keep the order the process wrote
	// them in. Writes come from a single goroutine. Nil discards the output.
	// If Output fails, the rest is discarded (the process must never block
	// on a full pipe) and Result.Err says so.
	Output io.Writer
	// Timeout bounds the run. Zero means none; past it the task is stopped
	// as by Stop, with the reason "timed out after <Timeout>".
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL. Zero (or negative)
	// means DefaultGrace.
	Grace time.Duration
}

// Result is how a run ended.
type Result struct {
	// ExitCode is the main process's exit status, -1 when a signal ended it.
	ExitCode int
	// Signal names the signal that ended the main process ("killed",
	// "terminated"), empty if it exited.
	Signal string
	// Stopped is true when the run was ended by Stop or by the timeout
	// before the main process exited on its own.
	Stopped bool
	// TimedOut is true when the timeout ended the run.
	TimedOut bool
	// Reason is the Stop reason, or the timeout reason.
	Reason string
	// Err reports what went wrong around the process rather than in it: the
	// output writer failed, processes survived SIGKILL, the output pipe was
	// still held open by an unknown process. Nil normally.
	Err error
}

// Process is a running command. Its methods are safe for concurrent use.
type Process struct {
	cmd     *exec.Cmd
	out     *os.File // read end of the output pipe, read by copyOutput
	grace   time.Duration
	timeout time.Duration
	tree    *tree // used only by supervise
	start   uint64
	walk    bool // the main process is registered with the reaper (Linux)

	mu       sync.Mutex
	stopping bool
	reason   string
	stopReq  chan struct{} // closed by the first Stop

	exited  chan struct{} // closed by waitMain once the main process is reaped
	waitErr error         // written before exited is closed

	copied chan struct{} // closed by copyOutput at the end of the output
	outErr error         // written before copied is closed

	done chan struct{} // closed by supervise once res is final
	res  Result
}

// Start starts s.Command. ctx bounds only the start: cancelling it later does
// not affect the process, which lives until it exits or Stop is called. The
// caller must call Wait (or wait on Done) to release the run's resources.
func Start(ctx context.Context, s Spec) (*Process, error) {
	if strings.TrimSpace(s.Command) == "" {
		return nil, ErrNoCommand
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("runner: start %q: %w", s.Command, err)
	}
	marker, err := newMarker()
	if err != nil {
		return nil, fmt.Errorf("runner: start %q: %w", s.Command, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("runner: start %q: output pipe: %w", s.Command, err)
	}
	cmd := exec.Command("/bin/sh", "-c", s.Command)
	cmd.Dir = s.Dir
	cmd.Env = withMarker(s.Env, marker)
	// One *os.File for both: exec then hands the child the same pipe as
	// fd 1 and fd 2, which is what keeps stdout and stderr in order. It also
	// means exec starts no copying goroutine, so cmd.Wait returns as soon as
	// the main process exits, whoever still holds the pipe.
	cmd.Stdout = w
	cmd.Stderr = w
	// A group of its own, so one signal reaches the whole tree and the
	// agent's own group is never hit.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	walk, err := startCmd(cmd)
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("runner: start %q in %q: %w (check the command and the spider's directory)", s.Command, s.Dir, err)
	}
	// The child has its copies; ours would keep the pipe open and the
	// output would never end.
	w.Close()

	grace := s.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	out := s.Output
	if out == nil {
		out = io.Discard
	}
	pid := cmd.Process.Pid
	p := &Process{
		cmd:     cmd,
		out:     r,
		grace:   grace,
		timeout: s.Timeout,
		// Read before waitMain can reap the main process, so its start
		// time is still in /proc even if it already exited.
		tree:    newTree(pid, pid, MarkerEnv+"="+marker),
		walk:    walk,
		stopReq: make(chan struct{}),
		exited:  make(chan struct{}),
		copied:  make(chan struct{}),
		done:    make(chan struct{}),
	}
	p.tree.walk = walk
	p.start = p.tree.minStart
	go p.waitMain()
	go p.copyOutput(out)
	go p.supervise()
	return p, nil
}

// PID is the main process's id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// StartTime is the main process's start time in clock ticks after boot
// (field 22 of /proc/<pid>/stat), which tells it from a later process that
// reuses its pid; 0 where /proc is not read.
func (p *Process) StartTime() uint64 { return p.start }

// Stop ends the run: SIGTERM to the process group and every descendant that
// left it, then SIGKILL to whatever is still alive after the grace period.
// It returns at once; Wait or Done tell when the run is over. Only the first
// call counts (its reason is kept); Stop after the main process exited on
// its own does nothing, since the runner is already cleaning up.
func (p *Process) Stop(reason string) { p.requestStop(reason) }

// requestStop is Stop, reporting whether this call was the one that counted.
func (p *Process) requestStop(reason string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return false
	}
	p.stopping = true
	p.reason = reason
	close(p.stopReq)
	return true
}

// Wait blocks until the process and everything it left behind are gone and
// the output is fully written, and returns how the run ended. It may be
// called any number of times.
func (p *Process) Wait() Result {
	<-p.done
	return p.res
}

// Done is closed when Wait would return.
func (p *Process) Done() <-chan struct{} { return p.done }

// waitMain reaps the main process. It returns as soon as the main process
// exits because exec copies no output (see Start).
func (p *Process) waitMain() {
	p.waitErr = p.cmd.Wait()
	if p.walk {
		forgetRoot(p.cmd.Process.Pid)
	}
	close(p.exited)
}

// copyOutput copies the pipe to w until every holder of the write end has
// closed it, or until supervise gives up on it by setting a read deadline.
func (p *Process) copyOutput(w io.Writer) {
	defer close(p.copied)
	defer p.out.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := p.out.Read(buf)
		if n > 0 {
			p.write(w, buf[:n])
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			p.drain(w, buf)
		} else if !errors.Is(err, io.EOF) {
			p.outErr = errors.Join(p.outErr, fmt.Errorf("runner: reading the output: %w", err))
		}
		return
	}
}

// write passes b to w until w fails once; after that the output is read and
// dropped so that the process never blocks on a full pipe.
func (p *Process) write(w io.Writer, b []byte) {
	if p.outErr != nil {
		return
	}
	if _, err := w.Write(b); err != nil {
		p.outErr = fmt.Errorf("runner: writing the output (the rest was discarded): %w", err)
	}
}

// drainMax bounds drain: what the exited main process left in the pipe fits
// in the pipe's capacity (1 MiB at most by default, pipe-max-size), while
// the unknown holder could keep writing for ever.
const drainMax = 1 << 20

// drain reads what is left in the pipe without blocking. The deadline that
// interrupted the last Read also fails any further Read before it even
// tries, yet the main process's last output may still sit in the pipe and
// must not be lost.
func (p *Process) drain(w io.Writer, buf []byte) {
	if err := p.out.SetReadDeadline(time.Time{}); err != nil {
		return
	}
	rc, err := p.out.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Read(func(fd uintptr) bool {
		for total := 0; total < drainMax; {
			n, err := syscall.Read(int(fd), buf)
			if err == syscall.EINTR {
				continue
			}
			if n <= 0 || err != nil {
				return true // empty (EAGAIN), end, or error: done either way
			}
			p.write(w, buf[:n])
			total += n
		}
		return true
	})
}

// supervise owns the run's life cycle: it waits for the end (exit, Stop or
// timeout), has the whole tree terminated, waits for the output and then
// publishes the result.
func (p *Process) supervise() {
	defer close(p.done)
	var timeout <-chan time.Time
	if p.timeout > 0 {
		t := time.NewTimer(p.timeout)
		defer t.Stop()
		timeout = t.C
	}
	var res Result
	select {
	case <-p.exited:
	case <-p.stopReq:
		p.mu.Lock()
		res.Stopped, res.Reason = true, p.reason
		p.mu.Unlock()
	case <-timeout:
		// Through requestStop, so that a later Stop is a no-op as after any
		// stop, and a Stop that raced the timer keeps its reason.
		res.TimedOut = p.requestStop(fmt.Sprintf("timed out after %s", p.timeout))
		p.mu.Lock()
		res.Stopped, res.Reason = true, p.reason
		p.mu.Unlock()
	}
	// Whether the main process exited or was asked to stop, nothing it
	// started may outlive the task: background children would otherwise
	// keep running and keep the output pipe (and Wait) open.
	var errs []error
	if err := p.tree.terminate(p.grace, max(p.grace, minKillWait)); err != nil {
		errs = append(errs, err)
	}
	<-p.exited

	drained := time.NewTimer(outputDrainWait)
	select {
	case <-p.copied:
	case <-drained.C:
		errs = append(errs, errors.New("runner: the output pipe was still open after every known process of the task was gone; stopped reading it"))
		_ = p.out.SetReadDeadline(time.Now())
		<-p.copied
	}
	drained.Stop()
	if p.outErr != nil {
		errs = append(errs, p.outErr)
	}

	res.ExitCode = -1
	var exitErr *exec.ExitError
	switch {
	case p.waitErr == nil || errors.As(p.waitErr, &exitErr):
		st := p.cmd.ProcessState
		res.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal().String()
		}
	default:
		errs = append(errs, fmt.Errorf("runner: waiting for the process: %w", p.waitErr))
	}
	res.Err = errors.Join(errs...)
	p.res = res
}

// newMarker returns a value no other run shares.
func newMarker() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("run marker: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// withMarker returns a copy of env with MarkerEnv set to marker, replacing
// any inherited value: a stale one would make this run's processes look
// like another run's.
func withMarker(env []string, marker string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, MarkerEnv+"=") {
			out = append(out, kv)
		}
	}
	return append(out, MarkerEnv+"="+marker)
}
