// Fixtures, each setting the placeholders a scenario uses, and the helpers
// the scenario tables share.

package server_test

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"mime/multipart"
	"regexp"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func withSpider(e *env) {
	sp := e.spider("hello", "echo one\necho two\n")
	e.vars["spider"], e.vars["spider_name"] = sp.ID, sp.Name
}

func withEndedTask(e *env) {
	t := e.endedTask()
	e.vars["ended"], e.vars["spider"] = t.ID, t.SpiderID
}

func withRunningTask(e *env) { e.vars["running"] = e.runningTask().ID }

// sampleItems are what withItems saves: varied keys, a nested value, and
// the second item repeating the first's url.
var sampleItems = []string{
	`{"url":"https://a.example/1","title":"First, \"quoted\"","price":1.5}`,
	`{"url":"https://a.example/1","title":"Again","meta":{"lang":"en","tags":["x"]}}`,
	`{"url":"https://a.example/2","title":null,"in_stock":true}`,
}

// saveItems stores items for a task of sp, as an agent saving them would.
func (e *env) saveItems(sp store.Spider, taskID string, items ...string) {
	e.t.Helper()
	raw := make([]json.RawMessage, len(items))
	for i, it := range items {
		raw[i] = json.RawMessage(it)
	}
	n, _, err := e.st.Items().ItemCount(e.ctx, sp.ID, taskID)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.Items().AppendItems(e.ctx, sp.ID, taskID, n, raw, store.Dedup{Keys: sp.DedupKeys, Policy: sp.Dedup}); err != nil {
		e.t.Fatal(err)
	}
}

// withItems is an ended task of a spider deduplicating by url (keeping
// the first), with sampleItems saved: three items in the task, two
// current for the spider.
func withItems(e *env) {
	sp := e.spider("items", "echo one\n")
	sp.DedupKeys, sp.Dedup = []string{"url"}, store.DedupIgnore
	if err := e.st.Spiders().Update(e.ctx, &sp); err != nil {
		e.t.Fatal(err)
	}
	t := e.run(sp, store.TaskFinished)
	e.saveItems(sp, t.ID, sampleItems...)
	e.vars["ended"], e.vars["spider"] = t.ID, sp.ID
}

// withSavingTask is a running task saving items (see env.savingTask).
func withSavingTask(e *env) {
	t := e.savingTask()
	e.vars["running"], e.vars["spider"] = t.ID, t.SpiderID
}

// withRunningItems is a running task with two items in the store.
func withRunningItems(e *env) {
	t := e.runningTask()
	sp, err := e.st.Spiders().Get(e.ctx, t.SpiderID)
	if err != nil {
		e.t.Fatal(err)
	}
	e.saveItems(*sp, t.ID, `{"n":0}`, `{"n":1}`)
	e.vars["running"], e.vars["spider"] = t.ID, sp.ID
}

// withOfflineNode registers a node that stopped long ago.
func withOfflineNode(e *env) {
	n := &store.Node{ID: store.NewID(), Name: "gone", Status: store.NodeOffline, LastSeen: store.Now().Add(-time.Hour)}
	if err := e.st.Nodes().Register(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	e.vars["offline"] = n.ID
}

// withQueuedTask is a task waiting for an offline node.
func withQueuedTask(e *env) {
	withSpider(e)
	withOfflineNode(e)
	var l struct{ Items []store.Task }
	e.do("POST", "/api/tasks", map[string]any{"spider_id": e.vars["spider"], "mode": "nodes", "node_ids": []string{e.vars["offline"]}, "queue": true}, &l)
	e.vars["queued"] = l.Items[0].ID
}

// withClosedStore makes every store call fail, as a store that went away.
func withClosedStore(e *env) { e.st.Close(e.ctx) }

const unknownID = "ffffffffffffffffffffffff"

// upload is a multipart spider upload; file nil leaves the archive out.
func upload(fields map[string]string, file []byte) (contentType, body string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if file != nil {
		fw, _ := mw.CreateFormFile("file", "spider.zip")
		fw.Write(file)
	}
	mw.Close()
	return mw.FormDataContentType(), b.String()
}

// escaping is an archive with an entry that climbs out of its directory.
func escaping() []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("../evil.sh")
	w.Write([]byte("echo pwned"))
	zw.Close()
	return buf.Bytes()
}

// internalErrorHidden checks that an internal error's text stayed in the
// log, under the request id the client was given.
func internalErrorHidden(e *env, body string) {
	m := regexp.MustCompile(`request id ([0-9a-f]{16})`).FindStringSubmatch(body)
	if m == nil {
		e.t.Fatalf("no request id in %s", body)
	}
	for _, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "request_id="+m[1]) && strings.Contains(line, "database is closed") {
			return
		}
	}
	e.t.Errorf("the log has no line with request_id=%s and the error:\n%s", m[1], e.logs)
}

var wsHeaders = map[string]string{
	"Connection": "Upgrade", "Upgrade": "websocket",
	"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}

func with(base map[string]string, kv ...string) map[string]string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
