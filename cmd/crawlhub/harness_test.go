package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the crawlhub binary under test, built once by TestMain with
// -race so the processes report data races too.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crawlhub-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "crawlhub")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build crawlhub:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// logBuffer collects a process's output and wakes waiters on each write.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{} // closed and replaced on each write
}

func newLogBuffer() *logBuffer { return &logBuffer{wake: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.wake)
	b.wake = make(chan struct{})
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is one crawlhub process owned by a test.
type proc struct {
	name string
	args []string
	cmd  *exec.Cmd
	out  *logBuffer
	done chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, args: args}
	p.start(t)
	t.Cleanup(func() {
		p.kill(syscall.SIGTERM)
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s: data race:\n%s", p.name, p.out)
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", p.name, p.out)
		}
	})
	return p
}

func (p *proc) start(t *testing.T) {
	t.Helper()
	p.out = newLogBuffer()
	p.cmd = exec.Command(binary, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "CRAWLHUB_LOG_LEVEL=debug")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	p.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.done)
}

// kill sends sig and waits for the process to exit (SIGKILL after 10 s).
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitLog waits until the output matches re and returns the first match's
// submatches.
func (p *proc) waitLog(t *testing.T, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.out.mu.Lock()
		m := re.FindStringSubmatch(p.out.buf.String())
		wake := p.out.wake
		p.out.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-wake:
		case <-p.done:
			t.Fatalf("%s exited while waiting for %q:\n%s", p.name, re, p.out)
		case <-deadline:
			t.Fatalf("%s: no %q within %v:\n%s", p.name, re, timeout, p.out)
		}
	}
}

// api is a small client of the REST API.
type api struct {
	base, token string
	client      *http.Client
}

func newAPI(base, token string) *api {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	return &api{base: base, token: token, client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// get fetches path and decodes a 2xx JSON body into out; it returns the
// status and, for errors, the API's error body.
func (a *api) get(path string, out any) (int, apiErr, error) {
	req, _ := http.NewRequest("GET", a.base+path, nil)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, apiErr{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, apiErr{}, err
	}
	if resp.StatusCode/100 != 2 {
		var e apiErr
		if err := json.Unmarshal(body, &e); err != nil {
			return resp.StatusCode, e, fmt.Errorf("error body is not the API's error shape: %q", body)
		}
		return resp.StatusCode, e, nil
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, apiErr{}, fmt.Errorf("decode %s: %w (%q)", path, err, body)
		}
	}
	return resp.StatusCode, apiErr{}, nil
}

type apiErr struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// eventually polls cond (a state change in another process, seen only
// through its API) until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
}
