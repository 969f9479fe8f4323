package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestClients runs the command-line clients and the documented Python and
// Node.js examples against a live all-in-one.
func TestClients(t *testing.T) {
	t.Parallel()
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`), 60*time.Second)
	base, tok := m[1], m[2]
	c := &cluster{t: t, api: newAPI(base, tok)}
	c.spider("count", "sh count.sh", map[string]string{"count.sh": `sleep 0.5; seq 0 1999 | sed 's/^/line /'`})
	c.spider("fails", "sh fails.sh", map[string]string{"fails.sh": `echo "about to fail"; exit 3`})
	var want strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	root, _ := filepath.Abs("../..")

	run := func(name string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = root
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if t.Failed() || code > 1 {
			t.Logf("%s %v stderr:\n%s", name, args, errOut.String())
		}
		return out.String(), code
	}
	conn := []string{"--server", base, "--token", tok}

	out, code := run(binary, append([]string{"run", "count", "--follow"}, conn...)...)
	if code != 0 || out != want.String() {
		t.Fatalf("crawlhub run --follow: exit %d, %d bytes of output (want %d)", code, len(out), want.Len())
	}
	out, code = run(binary, append([]string{"run", "fails", "--follow"}, conn...)...)
	if code != 1 || out != "about to fail\n" {
		t.Fatalf("crawlhub run --follow of a failing spider: exit %d, output %q", code, out)
	}

	// A finished task's whole log, by each client.
	out, code = run(binary, append([]string{"run", "count"}, conn...)...)
	taskID := strings.TrimSpace(out)
	if code != 0 || len(taskID) != 24 {
		t.Fatalf("crawlhub run: exit %d, output %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "node_modules", "ws")); err != nil {
		t.Fatal("node_modules/ws is missing: run `make test`, which installs it (npm ci)")
	}
	for _, client := range [][]string{
		append([]string{binary, "logs", "-f", taskID}, conn...),
		append([]string{"/usr/bin/python3", "docs/examples/follow.py", taskID}, conn...),
		append([]string{"node", "docs/examples/follow.mjs", taskID}, conn...),
	} {
		out, code := run(client[0], client[1:]...)
		if code != 0 || out != want.String() {
			t.Errorf("%s: exit %d, %d bytes (want %d)", strings.Join(client[:2], " "), code, len(out), want.Len())
		}
	}
	// --since resumes mid-log.
	out, _ = run(binary, append([]string{"logs", "--since", "1990", taskID}, conn...)...)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 10 || lines[0] != "line 1990" {
		t.Errorf("logs --since 1990: %q", out)
	}
	// Search: "line: text", ignoring case; a regular expression; a count.
	out, code = run(binary, append([]string{"logs", "search", taskID, "LINE 199"}, conn...)...)
	wantSearch := "199: line 199\n"
	for i := 1990; i < 2000; i++ {
		wantSearch += fmt.Sprintf("%d: line %d\n", i, i)
	}
	if code != 0 || out != wantSearch {
		t.Errorf("logs search: exit %d, %q", code, out)
	}
	out, code = run(binary, append([]string{"logs", "search", "--regex", taskID, `^line 1\d{3}$`, "--count"}, conn...)...)
	if code != 0 || out != "1000\n" {
		t.Errorf("logs search --regex --count: exit %d, %q", code, out)
	}
	if _, code = run(binary, append([]string{"logs", "search", taskID, "(", "--regex"}, conn...)...); code != 1 {
		t.Errorf("logs search with a bad regular expression: exit %d, want 1", code)
	}
	// Schedules: add, list, refuse a bad cron, remove.
	out, code = run(binary, append([]string{"schedule", "add", "count", "--cron", "0 6 * * 1-5", "--tz", "Europe/Berlin", "--name", "mornings"}, conn...)...)
	schedID := strings.TrimSpace(out)
	if code != 0 || len(schedID) != 24 {
		t.Fatalf("crawlhub schedule add: exit %d, output %q", code, out)
	}
	out, code = run(binary, append([]string{"schedule", "ls"}, conn...)...)
	if code != 0 || !strings.Contains(out, schedID) || !strings.Contains(out, "mornings") || !strings.Contains(out, "Europe/Berlin") ||
		!regexp.MustCompile(`\d{4}-\d\d-\d\d 06:00:00 CES?T`).MatchString(out) {
		t.Fatalf("crawlhub schedule ls: exit %d, output %q", code, out)
	}
	if _, code = run(binary, append([]string{"schedule", "add", "count", "--cron", "0 25 * * *"}, conn...)...); code != 1 {
		t.Errorf("crawlhub schedule add with hour 25: exit %d, want 1", code)
	}
	if _, code = run(binary, append([]string{"schedule", "rm", "mornings"}, conn...)...); code != 0 {
		t.Errorf("crawlhub schedule rm mornings: exit %d", code)
	}
	out, _ = run(binary, append([]string{"schedule", "ls"}, conn...)...)
	if strings.Contains(out, schedID) {
		t.Errorf("schedule still listed after rm: %q", out)
	}
}
