package runner

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// zombie reports whether r is still a process entry, dead but not reaped.
func (r procRef) zombie() bool {
	p, err := readStat(r.pid, make([]byte, 1024))
	return err == nil && p.start == r.start && !p.alive()
}

// awaitDeath waits for r to have died (a zombie, or reaped already by
// another run's end). Death is an event only the kernel sees, so this
// polls, bounded by waitLimit.
func awaitDeath(t *testing.T, r procRef) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for r.alive() {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) did not die", r.name, r.pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTheAgentIsASubreaper checks what the fast end of a task rests on: a
// task's process whose parent died is the agent's child, not init's.
func TestTheAgentIsASubreaper(t *testing.T) {
	t.Parallel()
	out := newOutput()
	p := start(t, Spec{Command: `sh -c 'sleep 100 & echo orphan $!'; echo done; sleep 100`, Output: out})
	text := out.waitFor(t, "the orphan", func(s string) bool { return pidLine.MatchString(s) && strings.HasSuffix(s, "done\n") })
	refs := printedProcs(t, text)
	st, err := readStat(refs[0].pid, make([]byte, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if st.ppid != os.Getpid() {
		t.Errorf("the orphan's parent is %d, want the runner's process %d", st.ppid, os.Getpid())
	}
	// Adopted by the main thread, where the end of a task looks.
	kids, err := orphansOf(os.Getpid(), make([]byte, 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(kids, refs[0].pid) {
		t.Errorf("the orphan %d is not among the main thread's children %v", refs[0].pid, kids)
	}
	p.Stop("done")
	wait(t, p)
	assertAllDead(t, refs)
}

// TestOrphansThatDieAreReaped: processes of a task that outlive their parent
// and then die are the agent's zombies; the end of the task reaps them, so
// a long-lived agent does not collect them.
func TestOrphansThatDieAreReaped(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, command string }{
		// In the task's group.
		{"orphan", `sh -c '(read y <go2; exit 0) & echo orphan $!'; read x <go; echo done`},
		// Out of the group, dead before its parent: it is reparented as a
		// zombie when the main process exits.
		{"setsid child", `setsid sh -c 'echo orphan $$; read y <go2' & read x <go; echo done`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, f := range []string{"go", "go2"} {
				if err := syscall.Mkfifo(dir+"/"+f, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			out := newOutput()
			p := start(t, Spec{Command: tt.command, Dir: dir, Output: out})
			refs := printedProcs(t, out.waitFor(t, "the orphan's pid", func(s string) bool { return pidLine.MatchString(s) }))
			if err := os.WriteFile(dir+"/go2", []byte("go\n"), 0); err != nil {
				t.Fatal(err)
			}
			awaitDeath(t, refs[0])
			if err := os.WriteFile(dir+"/go", []byte("go\n"), 0); err != nil {
				t.Fatal(err)
			}
			if res := wait(t, p); res.ExitCode != 0 || res.Err != nil {
				t.Errorf("result %+v", res)
			}
			if refs[0].zombie() {
				t.Errorf("%s (pid %d) is still a zombie after the task ended", refs[0].name, refs[0].pid)
			}
		})
	}
}

// TestReapingNeverTakesAMainProcess runs many short tasks at once, some of
// them leaving orphans to be reaped, while others start and end: a main
// process reaped by the runner's reaper instead of its exec.Cmd would end
// its run with "no child processes" instead of its exit status.
func TestReapingNeverTakesAMainProcess(t *testing.T) {
	t.Parallel()
	const runs, parallel = 300, 8
	var wg sync.WaitGroup
	errs := make(chan error, runs)
	sem := make(chan struct{}, parallel)
	for i := range runs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cmd := fmt.Sprintf("exit %d", i%3)
			if i%4 == 0 {
				cmd = fmt.Sprintf(`setsid sh -c 'exit 0' & sh -c 'true &'; exit %d`, i%3)
			}
			p := start(t, Spec{Command: cmd})
			res := wait(t, p)
			if res.ExitCode != i%3 || res.Err != nil {
				errs <- fmt.Errorf("run %d (%q): %+v", i, cmd, res)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkEndOfTaskSearch is what the end of every task costs to find
// what the task left behind when it left nothing: walking from the task's
// processes and the agent's children (the default on Linux), or reading
// every process in /proc (the fallback, and what KillGroup does).
func BenchmarkEndOfTaskSearch(b *testing.B) {
	if !enableSubreaper() {
		b.Skip("not a subreaper here")
	}
	// A group and a marker no process has, as after a task that exited
	// and left nothing.
	for _, walk := range []bool{true, false} {
		name := map[bool]string{true: "walk", false: "scan"}[walk]
		b.Run(name, func(b *testing.B) {
			t := newTree(1<<30, 0, MarkerEnv+"=none")
			t.walk = walk
			for b.Loop() {
				if pids, group := t.live(); len(pids) > 0 || group {
					b.Fatalf("found %v", pids)
				}
			}
		})
	}
}

// BenchmarkShortRun is one short task from Start to Wait.
func BenchmarkShortRun(b *testing.B) {
	for b.Loop() {
		p, err := Start(b.Context(), Spec{Command: "true", Env: []string{"PATH=/usr/bin:/bin"}})
		if err != nil {
			b.Fatal(err)
		}
		if res := p.Wait(); res.ExitCode != 0 || res.Err != nil {
			b.Fatalf("%+v", res)
		}
	}
}
