package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

type taskJSON struct {
	ID       string `json:"id"`
	NodeID   string `json:"node_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	ExitCode *int   `json:"exit_code"`
	LogLines int64  `json:"log_lines"`
}

type spiderJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	MD5  string `json:"md5"`
}

// zipOf builds an archive of name → content; names ending in ".sh" are
// executable.
func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, content := range files {
		h := &zip.FileHeader{Name: name, Method: zip.Deflate}
		h.SetMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// send makes a request with a JSON or multipart body and decodes the answer.
func (a *api) send(method, path, contentType string, body io.Reader, out any) (int, apiErr, error) {
	req, _ := http.NewRequest(method, a.base+path, body)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, apiErr{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		var e apiErr
		json.Unmarshal(b, &e)
		return resp.StatusCode, e, nil
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, apiErr{}, fmt.Errorf("decode %q: %w", b, err)
		}
	}
	return resp.StatusCode, apiErr{}, nil
}

func (a *api) postJSON(path string, in, out any) (int, apiErr, error) {
	b, _ := json.Marshal(in)
	return a.send("POST", path, "application/json", bytes.NewReader(b), out)
}

func (a *api) uploadSpider(name, command string, archive []byte, env map[string]string) (int, spiderJSON, apiErr, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	mw.WriteField("command", command)
	if env != nil {
		e, _ := json.Marshal(env)
		mw.WriteField("env", string(e))
	}
	fw, _ := mw.CreateFormFile("file", name+".zip")
	fw.Write(archive)
	mw.Close()
	var sp spiderJSON
	code, e, err := a.send("POST", "/api/spiders", mw.FormDataContentType(), &body, &sp)
	return code, sp, e, err
}

func (c *cluster) spider(name, command string, files map[string]string) spiderJSON {
	c.t.Helper()
	code, sp, e, err := c.api.uploadSpider(name, command, zipOf(c.t, files), nil)
	if err != nil || code != http.StatusCreated {
		c.t.Fatalf("upload spider %s: %d %+v %v", name, code, e, err)
	}
	return sp
}

func (c *cluster) run(req map[string]any) []taskJSON {
	c.t.Helper()
	var l struct {
		Items []taskJSON `json:"items"`
	}
	code, e, err := c.api.postJSON("/api/tasks", req, &l)
	if err != nil || code != http.StatusCreated {
		c.t.Fatalf("run %v: %d %+v %v", req, code, e, err)
	}
	return l.Items
}

func (c *cluster) task(id string) taskJSON {
	c.t.Helper()
	var t taskJSON
	if code, e, err := c.api.get("/api/tasks/"+id, &t); err != nil || code != 200 {
		c.t.Fatalf("get task %s: %d %+v %v", id, code, e, err)
	}
	return t
}

func (c *cluster) waitTask(id string, timeout time.Duration, statuses ...string) taskJSON {
	c.t.Helper()
	var t taskJSON
	eventually(c.t, timeout, "task "+id+" in "+strings.Join(statuses, "/"), func() error {
		t = c.task(id)
		if !slices.Contains(statuses, t.Status) {
			return fmt.Errorf("status %s (%s)", t.Status, t.Reason)
		}
		return nil
	})
	return t
}

// logOf reads a task's whole log through the API, page by page.
func (c *cluster) logOf(id string) []string {
	c.t.Helper()
	var all []string
	for {
		var ll struct {
			From  int64    `json:"from"`
			Lines []string `json:"lines"`
			Total int64    `json:"total"`
		}
		code, e, err := c.api.get(fmt.Sprintf("/api/tasks/%s/log?from=%d&limit=10000", id, len(all)), &ll)
		if err != nil || code != 200 {
			c.t.Fatalf("log of %s: %d %+v %v", id, code, e, err)
		}
		if len(ll.Lines) == 0 {
			return all
		}
		all = append(all, ll.Lines...)
	}
}

func TestTasksRunOnAllNodes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1", "a2", "a3")
	sp := c.spider("counter", "sh count.sh", map[string]string{
		"count.sh": "i=0; while [ $i -lt 500 ]; do echo \"$CRAWLHUB_NODE_ID line $i\"; i=$((i+1)); done; echo done >&2",
	})
	var dep struct {
		Nodes []string `json:"nodes"`
	}
	if code, e, err := c.api.postJSON("/api/spiders/"+sp.ID+"/deploy", nil, &dep); err != nil || code != http.StatusAccepted || len(dep.Nodes) != 3 {
		t.Fatalf("deploy: %d %+v %v %v", code, e, err, dep)
	}
	tasks := c.run(map[string]any{"spider_id": sp.ID, "mode": "all"})
	if len(tasks) != 3 {
		t.Fatalf("mode all on 3 nodes made %d tasks", len(tasks))
	}
	nodes := map[string]bool{}
	for _, tk := range tasks {
		done := c.waitTask(tk.ID, 60*time.Second, "finished", "error", "cancelled", "abnormal")
		if done.Status != "finished" || done.ExitCode == nil || *done.ExitCode != 0 {
			t.Fatalf("task %s: %+v", tk.ID, done)
		}
		nodes[done.NodeID] = true
		lines := c.logOf(tk.ID)
		if len(lines) != 501 || done.LogLines != 501 {
			t.Fatalf("task %s: %d lines (log_lines %d), want 501", tk.ID, len(lines), done.LogLines)
		}
		for i := range 500 {
			if want := fmt.Sprintf("%s line %d", done.NodeID, i); lines[i] != want {
				t.Fatalf("line %d = %q, want %q", i, lines[i], want)
			}
		}
		if lines[500] != "done" {
			t.Fatalf("last line %q", lines[500])
		}
	}
	if len(nodes) != 3 {
		t.Fatalf("tasks ran on %d nodes, want 3", len(nodes))
	}
	// A node never downloads an unchanged spider twice: each synced it once.
	for name, p := range c.agents {
		if n := strings.Count(p.out.String(), "spider synced"); n != 1 {
			t.Errorf("agent %s synced the spider %d times", name, n)
		}
	}

	// Restart makes a new task on the same node.
	var again taskJSON
	if code, e, err := c.api.postJSON("/api/tasks/"+tasks[0].ID+"/restart", nil, &again); err != nil || code != http.StatusCreated {
		t.Fatalf("restart: %d %+v %v", code, e, err)
	}
	first := c.task(tasks[0].ID)
	if again.ID == first.ID {
		t.Fatal("restart reused the task")
	}
	if done := c.waitTask(again.ID, 60*time.Second, "finished", "error", "cancelled", "abnormal"); done.Status != "finished" || done.NodeID != first.NodeID {
		t.Fatalf("restarted task: %+v (first ran on %s)", done, first.NodeID)
	}

	// Outcomes: an exit code is an error that says which; a timeout cancels
	// the task and says so.
	failing := c.spider("failing", "sh f.sh", map[string]string{"f.sh": "echo bye; exit 3"})
	tk := c.run(map[string]any{"spider_id": failing.ID})[0]
	if done := c.waitTask(tk.ID, 60*time.Second, "finished", "error", "cancelled", "abnormal"); done.Status != "error" || done.ExitCode == nil || *done.ExitCode != 3 || done.Reason != "exit code 3" {
		t.Fatalf("exit 3: %+v", done)
	}
	slow := c.spider("slow", "sleep 60", map[string]string{"x": ""})
	tk = c.run(map[string]any{"spider": "slow", "timeout": 1})[0]
	if done := c.waitTask(tk.ID, 60*time.Second, "finished", "error", "cancelled", "abnormal"); done.Status != "cancelled" || !strings.Contains(done.Reason, "timed out after 1s") {
		t.Fatalf("timeout: %+v (spider %s)", done, slow.ID)
	}
	// Filters and paging.
	var page struct {
		Items []taskJSON `json:"items"`
		Total int        `json:"total"`
	}
	if code, _, err := c.api.get("/api/tasks?spider_id="+sp.ID+"&limit=2&offset=1", &page); err != nil || code != 200 || page.Total != 4 || len(page.Items) != 2 {
		t.Fatalf("filtered page: %d %v total %d, %d items", code, err, page.Total, len(page.Items))
	}
}

func TestTasksAnyRunExactlyOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1", "a2", "a3")
	out := filepath.Join(t.TempDir(), "ran.txt")
	sp := c.spider("once", "sh once.sh", map[string]string{"once.sh": `echo "$CRAWLHUB_TASK_ID" >> "$RAN"`})
	const n = 300
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tasks := c.run(map[string]any{"spider_id": sp.ID, "mode": "any", "env": map[string]string{"RAN": out}})
			ids[i] = tasks[0].ID
		})
	}
	wg.Wait()
	eventually(t, 5*time.Minute, "all 300 tasks ended", func() error {
		var l struct {
			Total int `json:"total"`
		}
		if _, _, err := c.api.get("/api/tasks?status=finished&limit=1", &l); err != nil {
			return err
		}
		if l.Total != n {
			return fmt.Errorf("%d finished", l.Total)
		}
		return nil
	})
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for _, id := range strings.Fields(string(b)) {
		ran[id]++
	}
	for _, id := range ids {
		if ran[id] != 1 {
			t.Errorf("task %s ran %d times", id, ran[id])
		}
	}
	if len(ran) != n {
		t.Errorf("%d distinct tasks ran, want %d", len(ran), n)
	}
	perNode := map[string]int{}
	var l struct {
		Items []taskJSON `json:"items"`
	}
	c.api.get("/api/tasks?limit=1000", &l)
	for _, tk := range l.Items {
		perNode[tk.NodeID]++
	}
	t.Logf("tasks per node: %v", perNode)
}

func TestTaskCancelKillsTree(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1")
	// Five children that ignore SIGTERM, each printing its pid.
	sp := c.spider("stubborn", "sh tree.sh", map[string]string{"tree.sh": `
for i in 1 2 3 4 5; do
  sh -c 'trap "" TERM; echo "child $$"; while :; do sleep 1; done' &
done
trap "" TERM
echo "parent $$"
wait
`})
	tk := c.run(map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	c.waitTask(tk.ID, 60*time.Second, "running")
	pidRE := regexp.MustCompile(`^(child|parent) (\d+)$`)
	var pids []int
	eventually(t, 30*time.Second, "six processes started", func() error {
		pids = pids[:0]
		var ll struct {
			Lines []string `json:"lines"`
		}
		c.api.get("/api/tasks/"+tk.ID+"/log?from=0&limit=100", &ll)
		for _, l := range ll.Lines {
			if m := pidRE.FindStringSubmatch(l); m != nil {
				p, _ := strconv.Atoi(m[2])
				pids = append(pids, p)
			}
		}
		if len(pids) != 6 {
			return fmt.Errorf("%d pids in the log", len(pids))
		}
		return nil
	})
	code, e, err := c.api.postJSON("/api/tasks/"+tk.ID+"/cancel", map[string]string{"reason": "test says stop"}, nil)
	if err != nil || code != http.StatusAccepted {
		t.Fatalf("cancel: %d %+v %v", code, e, err)
	}
	done := c.waitTask(tk.ID, 60*time.Second, "cancelled", "finished", "error", "abnormal")
	if done.Status != "cancelled" || !strings.Contains(done.Reason, "cancelled by admin (start token)") || !strings.Contains(done.Reason, "test says stop") {
		t.Fatalf("cancelled task: %+v", done)
	}
	for _, p := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", p)); err == nil {
			if st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); !strings.Contains(string(st), ") Z ") {
				t.Errorf("process %d of the cancelled task is still alive", p)
			}
		}
	}
	if code, e, _ := c.api.postJSON("/api/tasks/"+tk.ID+"/cancel", nil, nil); code != http.StatusConflict {
		t.Errorf("cancel of an ended task: %d %+v", code, e)
	}
}

func TestTaskMillionLines(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1")
	sp := c.spider("million", "sh m.sh", map[string]string{"m.sh": `seq 0 999999 | sed 's/^/line /'`})
	tk := c.run(map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	done := c.waitTask(tk.ID, 5*time.Minute, "finished", "error", "cancelled", "abnormal")
	if done.Status != "finished" || done.LogLines != 1_000_000 {
		t.Fatalf("task: %+v", done)
	}
	for _, r := range []struct{ from, limit int }{{0, 10}, {499_995, 10}, {999_990, 10}, {999_995, 100}, {1_000_000, 10}} {
		var ll struct {
			From  int64    `json:"from"`
			Lines []string `json:"lines"`
			Total int64    `json:"total"`
		}
		if code, e, err := c.api.get(fmt.Sprintf("/api/tasks/%s/log?from=%d&limit=%d", tk.ID, r.from, r.limit), &ll); err != nil || code != 200 {
			t.Fatalf("range %v: %d %+v %v", r, code, e, err)
		}
		want := min(r.limit, 1_000_000-r.from)
		if len(ll.Lines) != want || ll.Total != 1_000_000 {
			t.Fatalf("range %v: %d lines, total %d", r, len(ll.Lines), ll.Total)
		}
		for i, l := range ll.Lines {
			if l != fmt.Sprintf("line %d", r.from+i) {
				t.Fatalf("range %v: line %d = %q", r, r.from+i, l)
			}
		}
	}
	lines := c.logOf(tk.ID)
	if len(lines) != 1_000_000 {
		t.Fatalf("stored log has %d lines", len(lines))
	}
	for i, l := range lines {
		if l != "line "+strconv.Itoa(i) {
			t.Fatalf("line %d = %q", i, l)
		}
	}
}
