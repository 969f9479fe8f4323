package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/mongo"
)

// spiderFiles uploads a spider made of files (path → content) that runs
// command.
func (e *env) spiderFiles(name, command string, files map[string]string) store.Spider {
	e.t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for path, content := range files {
		w, err := zw.Create(path)
		if err != nil {
			e.t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	zw.Close()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("name", name)
	mw.WriteField("command", command)
	fw, _ := mw.CreateFormFile("file", name+".zip")
	fw.Write(buf.Bytes())
	mw.Close()
	var sp store.Spider
	e.do(0, "POST", "/api/spiders", mw.FormDataContentType(), &body, &sp)
	return sp
}

// waitTask waits until the task has ended and returns it.
func (e *env) waitTask(id string, within time.Duration) store.Task {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var t store.Task
		e.get(0, "/api/tasks/"+id, &t)
		if store.TaskEnded(t.Status) {
			return t
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("task %s still %s after %v", id, t.Status, within)
		}
		time.Sleep(100 * time.Millisecond) // another component's state, seen through the API
	}
}

// taskItems reads every item of a task through the REST range read.
func (e *env) taskItems(id string) []map[string]any {
	e.t.Helper()
	var all []map[string]any
	for {
		var page struct {
			From  int64            `json:"from"`
			Items []map[string]any `json:"items"`
			Total int64            `json:"total"`
		}
		e.get(0, fmt.Sprintf("/api/tasks/%s/items?from=%d&limit=1000", id, len(all)), &page)
		if page.From != int64(len(all)) {
			e.t.Fatalf("items page from %d, asked for %d", page.From, len(all))
		}
		all = append(all, page.Items...)
		if len(page.Items) == 0 || int64(len(all)) >= page.Total {
			return all
		}
	}
}

// shop is a small site on loopback: 4 listing pages, linked one to the
// next, each linking to 5 product pages. Every product page is an item.
func shop(t *testing.T) (*httptest.Server, map[string]bool) {
	mux := http.NewServeMux()
	want := map[string]bool{}
	mux.HandleFunc("/list/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		fmt.Fprintf(w, "<html><body><h1>Page %d</h1>", n)
		for i := range 5 {
			fmt.Fprintf(w, `<a class="product" href="/product/%d">product %d</a>`, n*5+i, n*5+i)
		}
		if n < 3 {
			fmt.Fprintf(w, `<a class="next" href="/list/%d">next</a>`, n+1)
		}
		fmt.Fprint(w, "</body></html>")
	})
	mux.HandleFunc("/product/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		fmt.Fprintf(w, `<html><body><h1 class="name">Product %s</h1><p class="price">%s.50</p>`+
			`<a href="/list/0">home</a></body></html>`, id, id)
	})
	for i := range 20 {
		want[fmt.Sprintf("Product %d", i)] = true
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, want
}

// scrapyProject is the Scrapy project in testdata/shop, which crawls shop
// with crawlhub's pipeline (the dashboard's Scrapy test uploads it too).
func scrapyProject(t *testing.T) map[string]string {
	files := map[string]string{}
	root := os.DirFS("testdata/shop")
	err := fs.WalkDir(root, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(root, path)
		files[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A real Scrapy project with the pipeline enabled crawls a site on
// loopback: every product arrives once, in the task's items.
func TestScrapyItems(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import scrapy").Run(); err != nil {
		t.Fatalf("Scrapy is not installed for /usr/bin/python3: run `make test`, which installs python3-scrapy (%v)", err)
	}
	e := allInOne(t)
	srv, want := shop(t)
	sp := e.spiderFiles("shop", "/usr/bin/python3 -m scrapy crawl products", scrapyProject(t))
	task := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "any", "params": "-a start=" + srv.URL + " -s LOG_LEVEL=INFO"})[0]
	done := e.waitTask(task.ID, 2*time.Minute)
	if done.Status != store.TaskFinished {
		t.Fatalf("the Scrapy task ended %s: %s", done.Status, done.Reason)
	}
	items := e.taskItems(task.ID)
	seen := map[string]int{}
	for _, it := range items {
		name, _ := it["name"].(string)
		seen[name]++
		if _, ok := it["meta"].(map[string]any); !ok {
			t.Errorf("item %v: the nested meta did not survive", it)
		}
		if !strings.HasPrefix(it["url"].(string), srv.URL+"/product/") {
			t.Errorf("item %v: url not of a product page", it)
		}
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("%s arrived %d times, want once", name, seen[name])
		}
	}
	if len(items) != len(want) || done.ItemCount != int64(len(want)) {
		t.Errorf("%d items read, item_count %d; want %d", len(items), done.ItemCount, len(want))
	}
	// Scrapy's stats dump (INFO, which the project's LOG_LEVEL would hide),
	// parsed from its log.
	st := done.ScrapyStats
	if st["item_scraped_count"] != float64(len(want)) || st["finish_reason"] != "finished" {
		t.Errorf("scrapy_stats %v: want item_scraped_count %d and finish_reason finished", st, len(want))
	}
	if s, _ := st["start_time"].(string); !strings.HasPrefix(s, "20") {
		t.Errorf("scrapy_stats start_time %v: want an ISO time", st["start_time"])
	}
}

// itemsScript saves n items in batches of batch, pausing pause seconds
// between batches, with Python's standard library only.
func itemsScript(n, batch int, pause float64) string {
	return fmt.Sprintf(`import json, os, time, urllib.request
url = os.environ["CRAWLHUB_ITEMS_URL"]
n, batch = %d, %d
for start in range(0, n, batch):
    body = "".join(json.dumps({"i": i, "url": "https://shop.example/p/%%d" %% i}) + "\n"
                   for i in range(start, min(n, start + batch))).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.status == 200, r.status
    time.sleep(%g)
`, n, batch, pause)
}

// The store is stopped for 20 s while a spider saves 100,000 items: once
// it is back, every item is saved, in order, each once.
func TestItemsStoreAway(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20 s outage")
	}
	ferret := testenv.StartFerret(t)
	r := testenv.StartRedis(t)
	e := newEnv(t)
	db := testenv.UniqueDB(t)
	open := func() store.Store {
		st, err := mongo.Open(context.Background(), ferret.URI, db)
		if err != nil {
			t.Fatal(err)
		}
		e.stores = append(e.stores, st)
		return st
	}
	connect := func(h bus.Handler) (bus.Bus, error) { return bus.NewRedis(context.Background(), r.URL, h, testLog(t)) }
	e.startMaster(open(), connect)
	e.startAgent("a1", open(), connect)
	e.waitNodes(0, 1)

	const n = 100_000
	sp := e.spiderFiles("saver", "/usr/bin/python3 save.py", map[string]string{"save.py": itemsScript(n, 1000, 0.3)})
	task := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	// Let it save for a while, then take the store away for 20 s.
	deadline := time.Now().Add(time.Minute)
	for {
		var one store.Task
		e.get(0, "/api/tasks/"+task.ID, &one)
		if one.ItemCount >= 5000 {
			break
		}
		if store.TaskEnded(one.Status) || time.Now().After(deadline) {
			t.Fatalf("task %s with %d items before the outage", one.Status, one.ItemCount)
		}
		time.Sleep(100 * time.Millisecond) // polling as a dashboard would
	}
	ferret.Stop()
	time.Sleep(20 * time.Second) // the outage itself
	ferret.Start()

	done := e.waitTask(task.ID, 3*time.Minute)
	if done.Status != store.TaskFinished || done.ItemCount != n {
		t.Fatalf("task %s (%s) with %d items, want finished with %d", done.Status, done.Reason, done.ItemCount, n)
	}
	st := open()
	var next int64
	for next < n {
		page, err := st.Items().ReadItems(context.Background(), sp.ID, task.ID, next, 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			t.Fatalf("the store has %d items, want %d", next, n)
		}
		for _, it := range page {
			var v struct {
				I int64 `json:"i"`
			}
			if err := json.Unmarshal(it.Data, &v); err != nil || it.N != next || v.I != next {
				t.Fatalf("item %d: number %d, i %d (%v); want both %d", next, it.N, v.I, err, next)
			}
			next++
		}
	}
}
