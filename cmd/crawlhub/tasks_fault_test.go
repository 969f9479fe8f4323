package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestHostileArchivesRefused(t *testing.T) {
	t.Parallel()
	c := newCluster(t)
	outside := filepath.Join(os.TempDir(), "crawlhub-zipslip-"+strconv.Itoa(os.Getpid()))
	os.Remove(outside)
	link := func(name, target string) []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		h := &zip.FileHeader{Name: name}
		h.SetMode(os.ModeSymlink | 0o777)
		w, _ := zw.CreateHeader(h)
		w.Write([]byte(target))
		w2, _ := zw.Create(name + "/escaped.txt")
		w2.Write([]byte("x"))
		zw.Close()
		return buf.Bytes()
	}
	bomb := func() []byte {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("zeros.bin")
		zero := make([]byte, 1<<20)
		for range 300 { // 300 MiB of zeros at a ratio of about 1000:1
			w.Write(zero)
		}
		zw.Close()
		return buf.Bytes()
	}
	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"zipslip", zipOf(t, map[string]string{"../../../../" + strings.TrimPrefix(outside, "/"): "pwned"}), ".."},
		{"absolute", zipOf(t, map[string]string{outside: "pwned"}), outside},
		{"linkescape", link("lnk", "/tmp"), "lnk"},
		{"bomb", bomb(), "bomb"},
		{"notzip", []byte("this is not a zip archive at all"), "not a zip"},
	}
	for _, tc := range cases {
		code, _, e, err := c.api.uploadSpider(tc.name, "true", tc.archive, nil)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusBadRequest || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", tc.name, code, e.Message, tc.want)
		}
	}
	if _, err := os.Lstat(outside); err == nil {
		t.Fatalf("a hostile archive wrote %s", outside)
	}
	var l struct {
		Total int `json:"total"`
	}
	c.api.get("/api/spiders", &l)
	if l.Total != 0 {
		t.Fatalf("%d hostile spiders were stored", l.Total)
	}
}

func TestAgentKilledMidTask(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1")
	sp := c.spider("ticker", "sh tick.sh", map[string]string{"tick.sh": `echo "pid $(cut -d' ' -f5 /proc/$$/stat)"; while :; do echo "tick $(date +%s%3N)"; sleep 0.1; done`})
	tk := c.run(map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	c.waitTask(tk.ID, 60*time.Second, "running")
	eventually(t, 30*time.Second, "ten seconds of log", func() error {
		var ll struct {
			Total int64 `json:"total"`
		}
		c.api.get("/api/tasks/"+tk.ID+"/log?from=0&limit=1", &ll)
		if ll.Total < 100 {
			return fmt.Errorf("%d lines", ll.Total)
		}
		return nil
	})
	var head struct {
		Lines []string `json:"lines"`
	}
	c.api.get("/api/tasks/"+tk.ID+"/log?from=0&limit=1", &head)
	pgid, err := strconv.Atoi(strings.TrimPrefix(head.Lines[0], "pid "))
	if err != nil {
		t.Fatalf("first line %q", head.Lines)
	}
	// The agent is never restarted, so nobody else will stop its spider.
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	agent := c.agents["a1"]
	killedAt := time.Now().UnixMilli()
	agent.kill(syscall.SIGKILL)
	start := time.Now()
	done := c.waitTask(tk.ID, 20*time.Second, "abnormal")
	t.Logf("abnormal %v after SIGKILL: %s", time.Since(start).Round(time.Millisecond), done.Reason)
	if !strings.Contains(done.Reason, "offline") {
		t.Errorf("reason %q does not say the node went offline", done.Reason)
	}
	lines := c.logOf(tk.ID)
	if len(lines) == 0 {
		t.Fatal("no log stored")
	}
	last := lines[len(lines)-1]
	ms, err := strconv.ParseInt(strings.TrimPrefix(last, "tick "), 10, 64)
	if err != nil {
		t.Fatalf("last line %q", last)
	}
	if gap := killedAt - ms; gap > 5000 {
		t.Fatalf("stored log ends %d ms before the kill, want at most 5000", gap)
	}
}

// TestAgentRestartRecoversOrphans: an agent killed mid-task and started
// again at once stops what its previous run left behind, uploads the rest
// of the log and marks the task abnormal. (The spider ignores SIGPIPE: one
// that does not dies at its next write once its agent is gone.)
func TestAgentRestartRecoversOrphans(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1")
	sp := c.spider("orphan", "sh o.sh", map[string]string{"o.sh": `trap "" TERM PIPE; echo "pid $(cut -d' ' -f5 /proc/$$/stat)"; i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.05; done`})
	tk := c.run(map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	c.waitTask(tk.ID, 60*time.Second, "running")
	var head struct {
		Lines []string `json:"lines"`
		Total int64    `json:"total"`
	}
	eventually(t, 30*time.Second, "some log", func() error {
		c.api.get("/api/tasks/"+tk.ID+"/log?from=0&limit=1", &head)
		if head.Total < 20 {
			return fmt.Errorf("%d lines", head.Total)
		}
		return nil
	})
	pgid, err := strconv.Atoi(strings.TrimPrefix(head.Lines[0], "pid "))
	if err != nil {
		t.Fatalf("first line %q", head.Lines)
	}
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	c.agents["a1"].kill(syscall.SIGKILL)
	if syscall.Kill(-pgid, 0) != nil {
		t.Fatal("the spider died with its agent; nothing to recover")
	}
	c.startAgent("a1")
	done := c.waitTask(tk.ID, 60*time.Second, "abnormal")
	if !strings.Contains(done.Reason, "restarted") {
		t.Errorf("reason %q", done.Reason)
	}
	eventually(t, 10*time.Second, "the orphaned spider's processes gone", func() error {
		if err := syscall.Kill(-pgid, 0); err == nil {
			return fmt.Errorf("process group %d still alive", pgid)
		}
		return nil
	})
	lines := c.logOf(tk.ID)
	if int64(len(lines)) != done.LogLines || len(lines) < 20 {
		t.Fatalf("stored log has %d lines, task says %d", len(lines), done.LogLines)
	}
	for i, l := range lines[1:] {
		if l != "tick "+strconv.Itoa(i) {
			t.Fatalf("line %d = %q", i+1, l)
		}
	}
}
