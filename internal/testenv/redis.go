// Package testenv starts the real servers integration tests need (redis-server,
// the FerretDB test server) on loopback, each in a directory of its own, and
// stops them when the test ends.
package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Redis is a private redis-server on a loopback port, owned by one test.
type Redis struct {
	Addr string // 127.0.0.1:PORT
	URL  string // redis://127.0.0.1:PORT/0

	t    testing.TB
	port int
	dir  string
	args []string // more redis-server options (cluster mode)
	conf string   // a configuration file: runs as a Sentinel
	cmd  *exec.Cmd
	done chan struct{}
}

// StartRedis starts a redis-server for t and stops it at t's cleanup.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	return startRedisWith(t, t.TempDir())
}

// startRedisWith starts a redis-server in dir with more options and stops
// it at t's cleanup.
func startRedisWith(t testing.TB, dir string, args ...string) *Redis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server is not installed: run `make test`, which installs it (apt-get install redis-server)")
	}
	r := &Redis{t: t, port: FreePort(t), dir: dir, args: args}
	r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port))
	r.URL = "redis://" + r.Addr + "/0"
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

// Start starts the server (again) on the same port and waits until it
// answers PING.
func (r *Redis) Start() {
	r.t.Helper()
	if r.cmd != nil {
		r.t.Fatalf("redis-server %s already running", r.Addr)
	}
	cmd := exec.Command("redis-server", append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port),
		"--dir", r.dir, "--save", "", "--appendonly", "no",
		"--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning"}, r.args...)...)
	if r.conf != "" {
		cmd = exec.Command("redis-server", r.conf, "--sentinel",
			"--protected-mode", "no", "--daemonize", "no", "--loglevel", "warning")
	}
	// Redis's own log goes to its directory: it is noise unless a test
	// needs to look.
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		r.t.Fatalf("redis log: %v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	r.done = make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(r.Addr) == nil {
			return
		}
		select {
		case <-r.done:
			r.cmd = nil
			r.t.Fatalf("redis-server on %s exited at start (port taken?)", r.Addr)
		case <-time.After(10 * time.Millisecond): // polling a server that has no readiness signal
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s not ready after 10 s", r.Addr)
		}
	}
}

// Pause freezes the server (SIGSTOP): connections stay open but nothing
// answers, as with a Redis host that hangs. Resume undoes it; Stop
// resumes first, so a paused server still stops at cleanup.
func (r *Redis) Pause() {
	r.t.Helper()
	if r.cmd == nil {
		return
	}
	pid := r.cmd.Process.Pid
	_ = r.cmd.Process.Signal(syscall.SIGSTOP)
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server %s: not stopped 10 s after SIGSTOP", r.Addr)
		}
		time.Sleep(time.Millisecond) // the kernel has no event for a stop to wait on
	}
}

// Resume lets a paused server answer again (SIGCONT).
func (r *Redis) Resume() {
	if r.cmd != nil {
		_ = r.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Stop kills the server (SIGKILL: as abrupt as a crash) and waits for it.
func (r *Redis) Stop() {
	if r.cmd == nil {
		return
	}
	r.Resume()
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("redis answered %q", line)
	}
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
