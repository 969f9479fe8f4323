package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process the harness started. Every Proc is registered with
// the Procs that started it and stopped by StopAll, so nothing outlives a
// run, even one that fails half-way.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM, waits up to grace, then kills. Safe to call twice.
func (p *Proc) Stop(grace time.Duration) {
	if p.Exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// LogCount counts the lines of the process's log that contain s.
func (p *Proc) LogCount(s string) int {
	b, _ := os.ReadFile(p.log)
	return strings.Count(string(b), s)
}

// Tail returns the end of the process's log, for error messages.
func (p *Proc) Tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// RSS is the process's resident set size in bytes, from /proc.
func (p *Proc) RSS() (int64, error) { return rssOf(p.PID()) }

func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// Procs starts and tracks processes.
type Procs struct {
	Dir string // logs and data directories go under it

	mu    sync.Mutex
	procs []*Proc
	seq   int
}

// Start starts a process whose output goes to a log file of its own.
// stdout, when not nil, receives the process's standard output instead
// (its first line is how FerretDB says where it listens).
func (ps *Procs) Start(name string, env []string, stdout io.Writer, bin string, args ...string) (*Proc, error) {
	ps.mu.Lock()
	ps.seq++
	logPath := filepath.Join(ps.Dir, fmt.Sprintf("%02d-%s.log", ps.seq, name))
	ps.mu.Unlock()
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	cmd.Stdout = logf
	if stdout != nil {
		cmd.Stdout = stdout // the caller's to read (the log file is closed below)
	}
	// If the harness dies, its children go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &Proc{Name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.procs = append(ps.procs, p)
	ps.mu.Unlock()
	return p, nil
}

// StopAll stops every process still running, the latest started first.
func (ps *Procs) StopAll() {
	ps.mu.Lock()
	procs := ps.procs
	ps.procs = nil
	ps.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(10 * time.Second)
	}
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls url until it answers 2xx or the process exits.
func waitHTTP(ctx context.Context, p *Proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("%s exited at start: %s", p.Name, p.Tail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready at %s after %v: %v\n%s", p.Name, url, timeout, err, p.Tail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond): // a server with no readiness signal
		}
	}
}

// Redis is a redis-server the harness started.
type Redis struct {
	*Proc
	Addr string
	URL  string
	Port int
}

// StartRedis starts redis-server on a free loopback port, in a directory of
// its own, with persistence off.
func (ps *Procs) StartRedis(ctx context.Context) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(ps.Dir, "redis-"+strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	p, err := ps.Start("redis", nil, nil, "redis-server",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		// Redis's default limits (a subscriber more than 32 MB behind is
		// disconnected), as a deployment has them.
		"--daemonize", "no", "--loglevel", "warning")
	if err != nil {
		return nil, err
	}
	r := &Redis{Proc: p, Port: port, Addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.URL = "redis://" + r.Addr + "/0"
	deadline := time.Now().Add(10 * time.Second)
	for redisPing(r.Addr) != nil {
		if p.Exited() || time.Now().After(deadline) {
			return nil, fmt.Errorf("redis-server did not start: %s", p.Tail())
		}
		time.Sleep(20 * time.Millisecond) // no readiness signal but PING
	}
	return r, nil
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

// StartFerret starts the FerretDB test server (tools/ferretdb) and returns
// its base URI (mongodb://127.0.0.1:PORT/).
func (ps *Procs) StartFerret(ctx context.Context, bin string) (*Proc, string, error) {
	dir, err := os.MkdirTemp(ps.Dir, "ferretdb-")
	if err != nil {
		return nil, "", err
	}
	pr, pw := io.Pipe()
	p, err := ps.Start("ferretdb", nil, pw, bin, "--listen", "127.0.0.1:0", "--dir", dir)
	if err != nil {
		return nil, "", err
	}
	ready := make(chan string, 1)
	go func() {
		br := bufio.NewReader(pr)
		line, _ := br.ReadString('\n')
		ready <- line
		_, _ = io.Copy(io.Discard, br) // keep the pipe drained
	}()
	select {
	case line := <-ready:
		uri, ok := strings.CutPrefix(strings.TrimSpace(line), "ferretdb ready ")
		if !ok {
			return nil, "", fmt.Errorf("ferretdb: unexpected first line %q: %s", line, p.Tail())
		}
		return p, strings.TrimSuffix(uri, "/") + "/", nil
	case <-time.After(60 * time.Second):
		return nil, "", fmt.Errorf("ferretdb not ready after 60 s: %s", p.Tail())
	}
}
