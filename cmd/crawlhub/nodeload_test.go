package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLoadCommand: crawlhub load shows the all-in-one's own node's history
// by name, as a table and as JSON, and says what is wrong with a bad range
// or an unknown node.
func TestLoadCommand(t *testing.T) {
	t.Parallel()
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--name", "loadnode")
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9A-Za-z_-]+)`), 60*time.Second)
	base, token := m[1], m[2]
	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--server", base, "--token", token)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("crawlhub %v: %v", args, err)
		}
		return out.String(), errb.String(), code
	}

	// The node's first heartbeat is recorded within moments of its start.
	var body struct {
		Step   int `json:"step"`
		Points []struct {
			MemTotal uint64 `json:"mem_total"`
		} `json:"points"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(body.Points) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no point recorded in 30 s")
		}
		out, errs, code := run("load", "--json", "loadnode")
		if code != 0 {
			t.Fatalf("load --json: exit %d: %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &body); err != nil {
			t.Fatalf("load --json printed %q: %v", out, err)
		}
		if len(body.Points) == 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if body.Step != 10 || body.Points[0].MemTotal == 0 {
		t.Errorf("load --json = %+v, want 10 s points with memory", body)
	}
	out, errs, code := run("load", "loadnode")
	if code != 0 || !strings.Contains(out, "CPU %") || !regexp.MustCompile(`\d+\.\d[KMGT] /`).MatchString(out) {
		t.Errorf("load: exit %d, %q %s; want a table with memory used / total", code, out, errs)
	}
	if _, errs, code := run("load", "--range", "2h", "loadnode"); code == 0 || !strings.Contains(errs, "1h, 24h and 7d") {
		t.Errorf("load --range 2h: exit %d, %q", code, errs)
	}
	if _, errs, code := run("load", "elsewhere"); code == 0 || !strings.Contains(errs, `no node has the id or name "elsewhere"`) {
		t.Errorf("load of an unknown node: exit %d, %q", code, errs)
	}
}
