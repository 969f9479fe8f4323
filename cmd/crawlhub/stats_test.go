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

func TestStatsCommand(t *testing.T) {
	t.Parallel()
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9A-Za-z_-]+)`), 60*time.Second)
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(binary, append(append([]string{"stats"}, args...), "--server", m[1], "--token", m[2])...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errb.String(), code
	}
	out, errs, code := run()
	if code != 0 || !strings.Contains(out, "Tasks that ended from") || !strings.Contains(out, "0 running, 0 pending") {
		t.Errorf("stats: %d %q %s", code, out, errs)
	}
	out, errs, code = run("--bucket", "day", "--json")
	var st struct {
		Bucket  string `json:"bucket"`
		Buckets []any  `json:"buckets"`
	}
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || st.Bucket != "day" || len(st.Buckets) != 31 {
		t.Errorf("stats --bucket day --json: %d %v %q %s", code, err, out, errs)
	}
	_, errs, code = run("--bucket", "week")
	if code != 1 || !strings.Contains(errs, `bucket must be "hour" or "day"`) {
		t.Errorf("stats --bucket week: exit %d %q, want 1 and why", code, errs)
	}
}
