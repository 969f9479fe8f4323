//go:build linux

package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testGrace keeps stop tests short; it is long enough for a shell to run a
// TERM trap.
const testGrace = 300 * time.Millisecond

// waitLimit bounds every wait in these tests so a regression fails instead
// of hanging; it is far above what any of them needs.
const waitLimit = 15 * time.Second

// output is an Output that lets a test wait for what the process printed.
type output struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced at every write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor blocks until cond holds for the output so far.
func (o *output) waitFor(t *testing.T, what string, cond func(string) bool) string {
	t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for {
		o.mu.Lock()
		s, ch := o.b.String(), o.changed
		o.mu.Unlock()
		if cond(s) {
			return s
		}
		select {
		case <-ch:
		case <-limit.C:
			t.Fatalf("waiting for %s; output so far:\n%s", what, s)
		}
	}
}

// start starts s and makes sure the test never leaves the run behind.
func start(t *testing.T, s Spec) *Process {
	t.Helper()
	if s.Grace == 0 {
		s.Grace = testGrace
	}
	if s.Env == nil {
		s.Env = []string{"PATH=" + os.Getenv("PATH")}
	}
	p, err := Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start(%q): %v", s.Command, err)
	}
	t.Cleanup(func() {
		p.Stop("test cleanup")
		p.Wait()
	})
	return p
}

// wait is Wait bounded by waitLimit.
func wait(t *testing.T, p *Process) Result {
	t.Helper()
	select {
	case <-p.Done():
		return p.Wait()
	case <-time.After(waitLimit):
		t.Fatalf("Wait did not return within %s", waitLimit)
		return Result{}
	}
}

// procRef identifies a process by pid and start time, so that a pid reused
// by an unrelated process is not mistaken for a survivor.
type procRef struct {
	name  string
	pid   int
	start uint64
}

func (r procRef) alive() bool {
	p, err := readStat(r.pid, make([]byte, 1024))
	return err == nil && p.start == r.start && p.alive()
}

var pidLine = regexp.MustCompile(`(?m)^(\w+) (\d+)$`)

// printedProcs returns the processes the script announced as "<name> <pid>"
// lines. Each is still alive when read: the scripts print their pid before
// they sleep.
func printedProcs(t *testing.T, out string) []procRef {
	t.Helper()
	var refs []procRef
	for _, m := range pidLine.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		start, ok := procStart(pid)
		if !ok {
			t.Fatalf("%s %d announced itself but is already gone", m[1], pid)
		}
		refs = append(refs, procRef{name: m[1], pid: pid, start: start})
	}
	return refs
}

// assertAllDead fails for every announced process still alive. Death is an
// event only the kernel sees, so this is the one place that polls; the
// runner promises they are dead when Wait returns, so no wait is needed.
func assertAllDead(t *testing.T, refs []procRef) {
	t.Helper()
	for _, r := range refs {
		if r.alive() {
			t.Errorf("%s (pid %d) is still alive after Wait", r.name, r.pid)
		}
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		command  string
		exitCode int
		signal   string
	}{
		{"exit 0", 0, ""},
		{"true", 0, ""},
		{"exit 3", 3, ""},
		{"no-such-command-crawlhub", 127, ""},
		{"kill -KILL $$", -1, "killed"},
		{"kill -TERM $$", -1, "terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			t.Parallel()
			res := wait(t, start(t, Spec{Command: tt.command}))
			if res.ExitCode != tt.exitCode || res.Signal != tt.signal {
				t.Errorf("ExitCode, Signal = %d, %q; want %d, %q", res.ExitCode, res.Signal, tt.exitCode, tt.signal)
			}
			if res.Stopped || res.TimedOut || res.Reason != "" || res.Err != nil {
				t.Errorf("a run that ended by itself reports %+v", res)
			}
		})
	}
}

func TestOutputKeepsStdoutAndStderrInOrder(t *testing.T) {
	t.Parallel()
	out := newOutput()
	p := start(t, Spec{
		Command: `for i in $(seq 1 2000); do echo out$i; echo err$i >&2; done`,
		Output:  out,
	})
	if res := wait(t, p); res.ExitCode != 0 || res.Err != nil {
		t.Fatalf("result %+v", res)
	}
	var want strings.Builder
	for i := 1; i <= 2000; i++ {
		fmt.Fprintf(&want, "out%d\nerr%d\n", i, i)
	}
	if got := out.String(); got != want.String() {
		t.Errorf("output out of order or incomplete: %d bytes, want %d; first lines:\n%.200s", len(got), want.Len(), got)
	}
}

func TestSpecIsHonoured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := newOutput()
	p := start(t, Spec{
		Command: `pwd; echo "$GREETING"; echo "${HOME-no home}"; echo "$` + MarkerEnv + `" | wc -c`,
		Dir:     dir,
		Env:     []string{"PATH=" + os.Getenv("PATH"), "GREETING=hello", MarkerEnv + "=stale"},
		Output:  out,
	})
	wait(t, p)
	// The marker is 32 hex digits plus wc's newline; "stale" was replaced.
	want := dir + "\nhello\nno home\n33\n"
	if got := out.String(); got != want {
		t.Errorf("output %q, want %q (working directory, environment without the agent's, fresh marker)", got, want)
	}
}

func TestFailingOutputDoesNotBlockTheProcess(t *testing.T) {
	t.Parallel()
	// 1 MiB is far more than a pipe buffers: if the runner stopped reading
	// when Output failed, the process would block forever.
	p := start(t, Spec{Command: `head -c 1048576 /dev/zero`, Output: failingWriter{}})
	res := wait(t, p)
	if res.ExitCode != 0 {
		t.Errorf("ExitCode %d, want 0", res.ExitCode)
	}
	if !errors.Is(res.Err, errDiskFull) {
		t.Errorf("Err %v, want the output failure", res.Err)
	}
}

var errDiskFull = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestTimeoutStopsTheRun(t *testing.T) {
	t.Parallel()
	began := time.Now()
	p := start(t, Spec{Command: "sleep 60", Timeout: 200 * time.Millisecond})
	res := wait(t, p)
	if !res.Stopped || !res.TimedOut {
		t.Errorf("Stopped, TimedOut = %v, %v; want both", res.Stopped, res.TimedOut)
	}
	if res.Reason != "timed out after 200ms" {
		t.Errorf("Reason %q, want the timeout", res.Reason)
	}
	if res.ExitCode != -1 || res.Signal != "terminated" {
		t.Errorf("ExitCode, Signal = %d, %q; want -1, terminated", res.ExitCode, res.Signal)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("the run took %s for a 200ms timeout", d)
	}
}

// main, 5 child, parent, grandchild, setsid, setsidchild, noenv, orphan

func TestStartErrors(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		spec Spec
		want error
	}{
		{"empty command", context.Background(), Spec{Command: "  "}, ErrNoCommand},
		{"cancelled context", cancelled, Spec{Command: "true"}, context.Canceled},
		{"missing directory", context.Background(), Spec{Command: "true", Dir: "/no/such/spider/dir"}, os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Start(tt.ctx, tt.spec)
			if !errors.Is(err, tt.want) {
				t.Errorf("Start error %v, want %v", err, tt.want)
			}
			if p != nil {
				t.Errorf("Start returned a process with an error")
				p.Wait()
			}
		})
	}
}

func TestStopAfterExitChangesNothing(t *testing.T) {
	t.Parallel()
	p := start(t, Spec{Command: "exit 2"})
	first := wait(t, p)
	p.Stop("too late")
	if again := p.Wait(); again != first || again.Stopped || again.ExitCode != 2 {
		t.Errorf("after a late Stop: %+v, before: %+v", again, first)
	}
}

func TestParseStatWithOddNames(t *testing.T) {
	t.Parallel()
	line := []byte("4242 (a) (b c) S 17 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 0 0\n")
	p, err := parseStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := (procInfo{pid: 4242, ppid: 17, pgid: 4242, state: 'S', start: 987654}); p != want {
		t.Errorf("parseStat = %+v, want %+v", p, want)
	}
}

func TestUntraceableHolderDoesNotHangWait(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := dir + "/go"
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := newOutput()
	// The ghost leaves the group, drops the marker with its environment and
	// loses its parent: nothing ties it to the task any more, yet it holds
	// the output pipe.
	p := start(t, Spec{
		Command: `(setsid env -i /bin/sh -c 'echo ghost $$; exec /bin/sleep 100' &); read x <go; seq 1 20000`,
		Dir:     dir,
		Output:  out,
	})
	text := out.waitFor(t, "the ghost's pid", func(s string) bool { return pidLine.MatchString(s) })
	refs := printedProcs(t, text)
	t.Cleanup(func() {
		for _, r := range refs {
			if r.alive() {
				_ = syscall.Kill(r.pid, syscall.SIGKILL)
			}
		}
	})
	if err := os.WriteFile(fifo, []byte("go\n"), 0); err != nil {
		t.Fatal(err)
	}

	res := wait(t, p)
	if res.ExitCode != 0 || res.Err == nil {
		t.Errorf("result %+v, want exit 0 and an error about the output pipe", res)
	}
	var want strings.Builder
	fmt.Fprintf(&want, "ghost %d\n", refs[0].pid)
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if out.String() != want.String() {
		t.Errorf("output has %d bytes, want %d: the main process's output was lost", len(out.String()), want.Len())
	}
}
