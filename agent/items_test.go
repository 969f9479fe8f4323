package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// itemBatches returns the task's item batches published so far, in order.
func (n *node) itemBatches(taskID string) []wire.ItemBatch {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []wire.ItemBatch
	for _, env := range n.seen {
		var b wire.ItemBatch
		if env.Type == "items" && env.NodeID == taskID && json.Unmarshal(env.Payload, &b) == nil {
			out = append(out, b)
		}
	}
	return out
}

// itemsEnd waits for the last item batch of the task.
func (n *node) itemsEnd(taskID string) wire.ItemBatch {
	n.t.Helper()
	var b wire.ItemBatch
	n.waitFor(func(env *wire.Envelope) bool {
		return env.Type == "items" && env.NodeID == taskID && json.Unmarshal(env.Payload, &b) == nil && b.End
	})
	return b
}

// checkItemBatches checks that the task's batches hold want in order,
// each item once, and end with one end batch of status.
func (n *node) checkItemBatches(taskID, status string, want []string) {
	n.t.Helper()
	end := n.itemsEnd(taskID)
	if end.Status != status || end.Total != int64(len(want)) || end.From != end.Total || len(end.Items) != 0 {
		n.t.Errorf("end of items: %+v, want status %s and total %d", end, status, len(want))
	}
	bs := n.itemBatches(taskID)
	var got []string
	for i, b := range bs {
		if b.End {
			if i != len(bs)-1 {
				n.t.Errorf("item batch %d of %d is the end", i, len(bs))
			}
			continue
		}
		if b.From != int64(len(got)) || len(b.Items) == 0 || b.Total < b.From+int64(len(b.Items)) {
			n.t.Fatalf("item batch %d: from %d with %d items (total %d), want from %d", i, b.From, len(b.Items), b.Total, len(got))
		}
		for _, it := range b.Items {
			got = append(got, string(it))
		}
	}
	equalItems(n.t, "items on the bus", got, want)
}

// storedItems returns the task's items in the store.
func (n *node) storedItems(task store.Task) []string {
	n.t.Helper()
	items, err := n.st.Items().ReadItems(n.ctx, task.SpiderID, task.ID, 0, 1_000_000)
	if err != nil {
		n.t.Fatal(err)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if it.N != int64(i) {
			n.t.Fatalf("stored item %d has number %d", i, it.N)
		}
		out[i] = string(it.Data)
	}
	return out
}

func equalItems(t *testing.T, what string, got, want []string) {
	t.Helper()
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("%s: item %d is %.100s, want %.100s", what, i, got[i], want[i])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(got), len(want))
	}
}

// pySaver is a spider that saves 500 items in four POSTs with nothing but
// Python's standard library, printing each reply.
const pySaver = `python3 - <<'PY'
import json, os, urllib.request
url = os.environ["CRAWLHUB_ITEMS_URL"]
n = 0
for size in (1, 99, 250, 150):
    body = "".join(json.dumps({"n": n + i, "url": "https://example.com/%d" % (n + i), "title": "caf\u00e9 %d" % (n + i)}) + "\n" for i in range(size))
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        print(r.read().decode().strip())
    n += size
PY
`

func pySaverItems() []string {
	var want []string
	for i := range 500 {
		want = append(want, fmt.Sprintf(`{"n":%d,"url":"https://example.com/%d","title":"caf\u00e9 %d"}`, i, i, i))
	}
	return want
}

// A spider saves items through CRAWLHUB_ITEMS_URL: each is in the store
// once, in order, live on the bus in order, and counted on the task.
func TestSpiderSavesItems(t *testing.T) {
	n := startNode(t, config{})
	sp := n.spider("saver", pySaver)
	task := n.run(sp)
	ts := n.taskStatus(task.ID, store.TaskFinished)
	want := pySaverItems()
	if ts.ItemCount != 500 {
		t.Errorf("task_status says %d items, want 500 (%+v)", ts.ItemCount, ts)
	}
	// The end is announced once every item is in the store.
	equalItems(t, "items in the store", n.storedItems(task), want)
	n.checkItemBatches(task.ID, store.TaskFinished, want)

	rec, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ItemCount != 500 || rec.ItemStats.New != 500 {
		t.Errorf("task record: %d items, stats %+v; want 500, all new", rec.ItemCount, rec.ItemStats)
	}
	var lines []string
	for _, b := range n.logBatchesOf(task.ID) {
		lines = append(lines, b.Lines...)
	}
	if got := strings.Join(lines, "\n"); got != `{"accepted":1,"total":1}
{"accepted":99,"total":100}
{"accepted":250,"total":350}
{"accepted":150,"total":500}` {
		t.Errorf("the spider's replies:\n%s", got)
	}
}

// logBatchesOf returns the task's log batches so far.
func (n *node) logBatchesOf(taskID string) []wire.LogBatch {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []wire.LogBatch
	for _, env := range n.seen {
		var b wire.LogBatch
		if env.Type == "log" && env.NodeID == taskID && json.Unmarshal(env.Payload, &b) == nil {
			out = append(out, b)
		}
	}
	return out
}

func TestSpiderSavesNothing(t *testing.T) {
	n := startNode(t, config{})
	task := n.run(n.spider("quiet", "echo nothing to save\n"))
	if ts := n.taskStatus(task.ID, store.TaskFinished); ts.ItemCount != 0 {
		t.Errorf("task_status: %d items", ts.ItemCount)
	}
	n.checkItemBatches(task.ID, store.TaskFinished, nil)
	if got := n.storedItems(task); len(got) != 0 {
		t.Errorf("store: %d items", len(got))
	}
}

// urlSpider prints its items URL and runs until cancelled.
const urlSpider = "echo \"URL=$CRAWLHUB_ITEMS_URL\"\n" + forever

// itemsURL waits for a urlSpider task to print its items URL.
func (n *node) itemsURL(taskID string) string {
	n.t.Helper()
	var u string
	n.logBatch(taskID, func(b wire.LogBatch) bool {
		for _, l := range b.Lines {
			if s, ok := strings.CutPrefix(l, "URL="); ok {
				u = s
				return true
			}
		}
		return false
	})
	return u
}

type reply struct {
	Accepted int    `json:"accepted"`
	Total    int64  `json:"total"`
	Error    string `json:"error"`
	Line     int    `json:"line"`
}

func do(t *testing.T, c *http.Client, method, u, body string) (int, reply) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var r reply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: %d with a body that is not JSON: %q", method, u, res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return res.StatusCode, r
}

// The endpoint takes a request whole or not at all, says which line is
// wrong and why, and keeps a task's items to those who have its URL while
// it runs; get_items reads them from the node, then from the store.
func TestItemsEndpoint(t *testing.T) {
	n := startNode(t, config{})
	task := n.run(n.spider("waiter", urlSpider))
	u := n.itemsURL(task.ID)
	if !strings.HasPrefix(u, "http://127.0.0.1:") || !strings.Contains(u, "/tasks/"+task.ID+"/items?secret=") {
		t.Fatalf("items URL %q", u)
	}
	c := &http.Client{}
	post := func(body string) (int, reply) { return do(t, c, http.MethodPost, u, body) }

	code, r := post("{\"a\":1}\r\n\r\n  \n{\"b\": [1, 2],\n\"c\":\"\xff\"}\n")
	if code != http.StatusBadRequest || r.Line != 4 || !strings.HasPrefix(r.Error, "line 4: not valid JSON") || !strings.Contains(r.Error, "nothing was kept") {
		t.Errorf("a JSON value across lines: %d %+v", code, r)
	}
	code, r = post("{\"a\":1}\r\n\r\n  \n{\"b\": [1, 2], \"c\":\"\xff\"}")
	if code != http.StatusOK || r.Accepted != 2 || r.Total != 2 {
		t.Errorf("two items, blank lines, CRLF, no final newline: %d %+v", code, r)
	}
	cases := []struct {
		name, body, want string
		line             int
	}{
		{"bad JSON", "{\"ok\":1}\n{\"ok\":2}\n{\"n\": 3,}\n{\"ok\":4}\n", "line 3: not valid JSON: invalid character '}'", 3},
		{"not an object", "{\"ok\":1}\n[1,2]\n", "line 2: an item must be a JSON object ({...}), not an array", 2},
		{"string", "\"text\"\n", "line 1: an item must be a JSON object ({...}), not a string", 1},
		{"reserved key", "{\"ok\":1}\n{\"nested\":{\"_id\":1}}\n{\"url\":\"x\",\"_id\":7}\n", `line 3: the key "_id" is reserved`, 3},
		{"escaped reserved key", "{\"\\u005ftask_id\":1}\n", `line 1: the key "_task_id" is reserved`, 1},
		{"over 1 MiB", "{\"ok\":1}\n{\"big\":\"" + strings.Repeat("x", store.MaxItemBytes) + "\"}\n", "line 2: the item is 1048586 bytes as compact JSON, over the limit of 1048576", 2},
	}
	for _, tc := range cases {
		code, r := post(tc.body)
		if code != http.StatusBadRequest || r.Line != tc.line || !strings.HasPrefix(r.Error, tc.want) || !strings.HasSuffix(r.Error, "; nothing was kept") {
			t.Errorf("%s: %d %+v, want 400 at line %d: %s…", tc.name, code, r, tc.line, tc.want)
		}
	}
	// The largest item is taken whole; whitespace does not count.
	room := store.MaxItemBytes - len(`{"big":""}`)
	big := `{"big":"` + strings.Repeat("é", room/2) + strings.Repeat("y", room%2) + `"}`
	if code, r := post("{ \"big\" : \"" + big[8:len(big)-2] + "\" }\n"); code != http.StatusOK || r.Accepted != 1 || r.Total != 3 {
		t.Errorf("an item of exactly 1 MiB: %d %+v", code, r)
	}

	// curl, as the documentation shows it.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl is not installed: the curl case is skipped")
	} else {
		f := filepath.Join(t.TempDir(), "items.ndjson")
		os.WriteFile(f, []byte("{\"via\":\"curl\",\"n\":1}\n{\"via\":\"curl\",\"n\":2}\n"), 0o644)
		out, err := exec.Command("curl", "-sS", "--data-binary", "@"+f, u).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != `{"accepted":2,"total":5}` {
			t.Errorf("curl: %v: %s", err, out)
		}
	}

	// Wrong secret, unknown task, wrong method, unknown path.
	wrong := strings.Replace(u, "secret=", "secret=0", 1)
	if code, r := post2(t, c, wrong); code != http.StatusForbidden || !strings.Contains(r.Error, "wrong secret") {
		t.Errorf("wrong secret: %d %+v", code, r)
	}
	other := strings.Replace(u, task.ID, store.NewID(), 1)
	if code, r := post2(t, c, other); code != http.StatusNotFound || !strings.Contains(r.Error, "is not running on this node") {
		t.Errorf("unknown task: %d %+v", code, r)
	}
	if code, r := do(t, c, http.MethodGet, u, ""); code != http.StatusMethodNotAllowed || !strings.Contains(r.Error, "POST") {
		t.Errorf("GET: %d %+v", code, r)
	}
	base, _, _ := strings.Cut(u, "/tasks/")
	if code, r := do(t, c, http.MethodPost, base+"/items", "{}"); code != http.StatusNotFound || !strings.Contains(r.Error, "CRAWLHUB_ITEMS_URL") {
		t.Errorf("unknown path: %d %+v", code, r)
	}

	want := []string{`{"a":1}`, "{\"b\":[1,2],\"c\":\"\uFFFD\"}", big, `{"via":"curl","n":1}`, `{"via":"curl","n":2}`}
	if _, err := exec.LookPath("curl"); err != nil {
		want = want[:3]
	}
	// get_items of the running task: from the agent's file.
	var ib wire.ItemBatch
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetItems, wire.GetItems{TaskID: task.ID, From: 1, Limit: 10}, &ib); err != nil {
		t.Fatalf("get_items of a running task: %v", err)
	}
	if ib.TaskID != task.ID || ib.From != 1 || ib.Total != int64(len(want)) {
		t.Errorf("get_items of a running task: from %d, total %d", ib.From, ib.Total)
	}
	equalItems(t, "get_items of a running task", rawStrings(ib.Items), want[1:])

	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "tester"})
	if ts := n.taskStatus(task.ID, store.TaskCancelled); ts.ItemCount != int64(len(want)) {
		t.Errorf("cancelled task: %d items, want %d", ts.ItemCount, len(want))
	}
	n.checkItemBatches(task.ID, store.TaskCancelled, want)
	equalItems(t, "items in the store", n.storedItems(task), want)
	if code, r := post("{\"late\":true}\n"); code != http.StatusNotFound || !strings.Contains(r.Error, "is not running on this node") {
		t.Errorf("after the end: %d %+v", code, r)
	}

	// get_items of an ended task: from the store.
	ib = wire.ItemBatch{}
	if err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetItems, wire.GetItems{TaskID: task.ID, From: 0, Limit: 2}, &ib); err != nil {
		t.Fatalf("get_items of an ended task: %v", err)
	}
	if ib.From != 0 || ib.Total != int64(len(want)) {
		t.Errorf("get_items of an ended task: from %d, total %d", ib.From, ib.Total)
	}
	equalItems(t, "get_items of an ended task", rawStrings(ib.Items), want[:2])
	err := n.caller.Call(n.ctx, n.agent.NodeID(), wire.OpGetItems, wire.GetItems{TaskID: store.NewID(), Limit: 2}, &ib)
	var re *wire.RemoteError
	if !errors.As(err, &re) {
		t.Errorf("get_items of an unknown task: %v", err)
	}
}

func post2(t *testing.T, c *http.Client, u string) (int, reply) {
	return do(t, c, http.MethodPost, u, "{\"a\":1}\n")
}

func rawStrings(items []json.RawMessage) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = string(it)
	}
	return out
}

// statusSoFar returns the task's latest task_status.
func (n *node) statusSoFar(taskID string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	status := ""
	for _, env := range n.seen {
		var ts wire.TaskStatus
		if env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == taskID {
			status = ts.Status
		}
	}
	return status
}

// A task finds the SDK first on PYTHONPATH and NODE_PATH, before what its
// spider sets, and its ids in its environment; with ItemsSocket its items
// URL is a unix socket.
func TestTaskEnvironment(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "items.sock")
	n := startNode(t, config{itemsSocket: sock})
	sp := n.spider("env", `echo "PYTHONPATH=$PYTHONPATH"
echo "NODE_PATH=$NODE_PATH"
echo "IDS=$CRAWLHUB_TASK_ID $CRAWLHUB_SPIDER_ID"
echo "URL=$CRAWLHUB_ITEMS_URL"
python3 -c 'import crawlhub, sys; print("PY=" + crawlhub.__file__)'
node -e 'console.log("JS=" + require.resolve("crawlhub"))'
`+forever)
	sp.Env = map[string]string{"PYTHONPATH": "/spider/lib", "NODE_PATH": "/spider/node_modules"}
	if err := n.st.Spiders().Update(n.ctx, &sp); err != nil {
		t.Fatal(err)
	}
	task := n.run(sp)
	u := n.itemsURL(task.ID)
	vars := map[string]string{}
	n.logBatch(task.ID, func(b wire.LogBatch) bool {
		for _, l := range b.Lines {
			if k, v, ok := strings.Cut(l, "="); ok {
				vars[k] = v
			}
		}
		return vars["JS"] != "" && vars["PY"] != ""
	})
	py, js := vars["PYTHONPATH"], vars["NODE_PATH"]
	sdkDir := strings.TrimSuffix(py, "/python:/spider/lib")
	if sdkDir == py || js != sdkDir+"/node:/spider/node_modules" {
		t.Errorf("PYTHONPATH %q, NODE_PATH %q: want the SDK first, then the spider's", py, js)
	}
	if vars["PY"] != sdkDir+"/python/crawlhub/__init__.py" || !strings.HasPrefix(vars["JS"], sdkDir+"/node/") {
		t.Errorf("import crawlhub: %q, require('crawlhub'): %q; want the SDK in %s", vars["PY"], vars["JS"], sdkDir)
	}
	if vars["IDS"] != task.ID+" "+sp.ID {
		t.Errorf("ids: %q", vars["IDS"])
	}
	want := "http+unix://" + url.PathEscape(sock) + "/tasks/" + task.ID + "/items?secret="
	if !strings.HasPrefix(u, want) {
		t.Fatalf("items URL %q, want %s…", u, want)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	defer c.CloseIdleConnections()
	code, r := do(t, c, http.MethodPost, "http://crawlhub"+strings.TrimPrefix(u, "http+unix://"+url.PathEscape(sock)), "{\"over\":\"unix\"}\n")
	if code != http.StatusOK || r.Accepted != 1 || r.Total != 1 {
		t.Errorf("POST over the unix socket: %d %+v", code, r)
	}
	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "tester"})
	n.checkItemBatches(task.ID, store.TaskCancelled, []string{`{"over":"unix"}`})
}

// An agent started with a relative data directory (as `make run` starts
// the all-in-one, in ./data) still gives its tasks the SDK: they run in
// their spider's directory, where a relative path would find nothing.
func TestRelativeDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	n := startNode(t, config{dataDir: "data"})
	sp := n.spider("relative", `echo "PYTHONPATH=$PYTHONPATH"
python3 -c 'import crawlhub; print("PY=" + crawlhub.__file__)'
`+forever)
	task := n.run(sp)
	vars := map[string]string{}
	n.logBatch(task.ID, func(b wire.LogBatch) bool {
		for _, l := range b.Lines {
			if k, v, ok := strings.Cut(l, "="); ok {
				vars[k] = v
			}
		}
		return vars["PY"] != ""
	})
	if !filepath.IsAbs(vars["PYTHONPATH"]) || !filepath.IsAbs(vars["PY"]) {
		t.Errorf("PYTHONPATH %q, crawlhub imported from %q: want absolute paths", vars["PYTHONPATH"], vars["PY"])
	}
	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "tester"})
}

// Items an agent spooled but had not saved when it died are saved when it
// starts again, and counted on the task it marks abnormal.
func TestOrphanedItemsSavedAtRestart(t *testing.T) {
	data := t.TempDir()
	var task store.Task
	want := []string{`{"n":0}`, `{"n":1}`, `{"n":2}`}
	n := startNode(t, config{dataDir: data, before: func(n *node) {
		sp := n.spider("died", "true\n")
		task = n.queue(sp)
		task.Status = store.TaskRunning
		if err := n.st.Tasks().Update(n.ctx, &task); err != nil {
			t.Fatal(err)
		}
		// One item reached the store before the agent died.
		if _, err := n.st.Items().AppendItems(n.ctx, sp.ID, task.ID, 0, []json.RawMessage{json.RawMessage(want[0])}, store.Dedup{}); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(data, "running"), 0o755)
		os.MkdirAll(filepath.Join(data, "logs"), 0o755)
		os.WriteFile(filepath.Join(data, "running", task.ID), []byte("0 0\n"), 0o644)
		os.WriteFile(filepath.Join(data, "logs", task.ID+".items"), []byte(strings.Join(want, "\n")+"\n"), 0o644)
	}})
	ts := n.taskStatus(task.ID, store.TaskAbnormal)
	if ts.ItemCount != 3 {
		t.Errorf("abnormal task: %d items, want 3", ts.ItemCount)
	}
	equalItems(t, "items in the store", n.storedItems(task), want)
	if _, err := os.Stat(filepath.Join(data, "logs", task.ID+".items")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the spool file is still there once saved: %v", err)
	}
}
