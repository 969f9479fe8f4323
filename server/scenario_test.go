package server_test

import (
	"archive/zip"
	"bytes"
	"mime/multipart"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// scenario is one request a user or script would make, REST or JSON-RPC
// over a real WebSocket, against a fresh all-in-one, with what they should
// see: the status (or JSON-RPC error code), fragments of the body, and the
// pushes a client subscribed beforehand receives.
type scenario struct {
	name      string
	setup     func(e *env) // fixtures; sets placeholders in e.vars
	subscribe []string     // channels a WebSocket client subscribes to first

	// A REST request…
	method, path, contentType, body string
	headers                         map[string]string // "" deletes a header
	wantStatus                      int
	wantHeaders                     map[string]string

	// …or a JSON-RPC call (params raw JSON).
	rpc, params  string
	wantRPCError int // the error code; zero wants a result

	want    []string // fragments of the response body or reply
	notWant []string
	events  []event // pushes the subscribed client gets, in any order
	check   func(e *env, body string)
}

type event struct {
	channel   string
	fragments []string
}

func (sc scenario) run(t *testing.T) {
	e := newEnv(t)
	if sc.setup != nil {
		sc.setup(e)
	}
	var ws *wsClient
	if sc.rpc != "" || len(sc.subscribe) > 0 {
		ws = e.dial()
		for _, ch := range sc.subscribe {
			ws.subscribe(e.expand(ch))
		}
	}
	var body string
	if sc.rpc != "" {
		body = ws.call(sc.rpc, e.expand(sc.params))
		if sc.wantRPCError == 0 && !strings.Contains(body, `"result":`) {
			t.Fatalf("%s: want a result, got %s", sc.rpc, body)
		}
		if sc.wantRPCError != 0 && !strings.Contains(body, `"error":{"code":`+strconv.Itoa(sc.wantRPCError)+`,`) {
			t.Fatalf("%s: want error %d, got %s", sc.rpc, sc.wantRPCError, body)
		}
	} else {
		hdr := map[string]string{}
		for k, v := range sc.headers {
			hdr[k] = e.expand(v)
		}
		status, h, b := e.request(sc.method, e.expand(sc.path), sc.contentType, strings.NewReader(e.expand(sc.body)), hdr)
		body = b
		if status != sc.wantStatus {
			t.Fatalf("%s %s: status %d, want %d; body %s", sc.method, sc.path, status, sc.wantStatus, b)
		}
		for k, v := range sc.wantHeaders {
			if h.Get(k) != v {
				t.Errorf("%s %s: header %s is %q, want %q", sc.method, sc.path, k, h.Get(k), v)
			}
		}
	}
	// The first id in the answer is the task or spider it made, for the
	// events to name.
	if m := regexp.MustCompile(`"id":"([0-9a-f]{24})"`).FindStringSubmatch(body); m != nil {
		e.vars["id"] = m[1]
	}
	for _, f := range sc.want {
		if f = e.expand(f); !strings.Contains(body, f) {
			t.Errorf("body lacks %q: %s", f, body)
		}
	}
	for _, f := range sc.notWant {
		if f = e.expand(f); strings.Contains(body, f) {
			t.Errorf("body has %q: %s", f, body)
		}
	}
	if len(sc.events) > 0 {
		var evs []event
		for _, ev := range sc.events {
			x := event{channel: e.expand(ev.channel)}
			for _, f := range ev.fragments {
				x.fragments = append(x.fragments, e.expand(f))
			}
			evs = append(evs, x)
		}
		ws.expectAll(evs)
	}
	if sc.check != nil {
		sc.check(e, body)
	}
}

// expectAll waits until every event has arrived, each matched by a push of
// its own, in any order; other pushes are skipped.
func (c *wsClient) expectAll(evs []event) {
	c.t.Helper()
	deadline := time.After(wait)
	for len(evs) > 0 {
		select {
		case p := <-c.pushes:
			for i, ev := range evs {
				if p.Channel == ev.channel && containsAll(string(p.Data), ev.fragments) {
					evs = append(evs[:i], evs[i+1:]...)
					break
				}
			}
		case <-c.done:
			c.t.Fatalf("connection closed; still waiting for %v", evs)
		case <-deadline:
			c.t.Fatalf("pushes not received in %s: %v", wait, evs)
		}
	}
}

// Fixtures, each setting the placeholders a scenario uses.

func withSpider(e *env) {
	sp := e.spider("hello", "echo one\necho two\n")
	e.vars["spider"], e.vars["spider_name"] = sp.ID, sp.Name
}

func withEndedTask(e *env) {
	t := e.endedTask()
	e.vars["ended"], e.vars["spider"] = t.ID, t.SpiderID
}

func withRunningTask(e *env) { e.vars["running"] = e.runningTask().ID }

// withOfflineNode registers a node that stopped long ago.
func withOfflineNode(e *env) {
	n := &store.Node{ID: store.NewID(), Name: "gone", Status: store.NodeOffline, LastSeen: store.Now().Add(-time.Hour)}
	if err := e.st.Nodes().Register(e.ctx, n); err != nil {
		e.t.Fatal(err)
	}
	e.vars["offline"] = n.ID
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

func TestREST(t *testing.T) {
	uploadCT, uploadBody := upload(map[string]string{"name": "uploaded", "command": "sh run.sh"}, zipOf("echo hi\n"))
	noFileCT, noFileBody := upload(map[string]string{"name": "nofile", "command": "sh run.sh"}, nil)
	dupCT, dupBody := upload(map[string]string{"name": "hello", "command": "sh run.sh"}, zipOf("echo hi\n"))
	evilCT, evilBody := upload(map[string]string{"name": "evil", "command": "sh run.sh"}, escaping())
	idNameCT, idNameBody := upload(map[string]string{"name": unknownID, "command": "sh run.sh"}, zipOf("echo hi\n"))
	updCT, updBody := upload(map[string]string{"command": "sh run.sh --fast"}, nil)
	badEnvCT, badEnvBody := upload(map[string]string{"env": "KEY=value"}, nil)
	noAuth := map[string]string{"Authorization": ""}

	for _, sc := range []scenario{
		// Probes and metrics.
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, want: []string{`"status":"ok"`}},
		{name: "healthz wrong method", method: "POST", path: "/healthz", wantStatus: 405, want: []string{`"code":"bad_request"`, "Method Not Allowed"}},
		{name: "readyz", method: "GET", path: "/readyz", wantStatus: 200, want: []string{`"status":"ready"`}},
		{name: "readyz store gone", setup: withClosedStore, method: "GET", path: "/readyz", wantStatus: 503,
			want: []string{`"code":"unavailable"`, "store unreachable: "}},
		{name: "metrics", method: "GET", path: "/metrics", wantStatus: 200, want: []string{"crawlhub_ws_clients 0", "crawlhub_nodes_online"}},
		{name: "metrics without token", method: "GET", path: "/metrics", headers: noAuth, wantStatus: 401,
			want: []string{`"code":"unauthorized"`, "missing or wrong token"}},

		// The dashboard.
		{name: "dashboard index", method: "GET", path: "/", wantStatus: 200, want: []string{"crawlhub dashboard"},
			wantHeaders: map[string]string{"Cache-Control": "no-cache"}},
		{name: "dashboard client-side route", method: "GET", path: "/tasks/abc", wantStatus: 200, want: []string{"crawlhub dashboard"}},
		{name: "dashboard asset", method: "GET", path: "/assets/app-1a2b.js", wantStatus: 200, want: []string{"console.log"},
			wantHeaders: map[string]string{"Cache-Control": "public, max-age=31536000, immutable"}},
		{name: "dashboard wrong method", method: "DELETE", path: "/", wantStatus: 405, want: []string{`"code":"bad_request"`}},
		{name: "unknown API endpoint", method: "GET", path: "/api/nope", wantStatus: 404,
			want: []string{`"code":"not_found"`, "no API endpoint GET /api/nope"}},

		// The WebSocket upgrade (its success is every JSON-RPC scenario).
		{name: "ws without token", method: "GET", path: "/ws", headers: with(wsHeaders, "Authorization", ""), wantStatus: 401,
			want: []string{`"code":"unauthorized"`, "or add ?token="}},
		{name: "ws from a foreign origin", method: "GET", path: "/ws", headers: with(wsHeaders, "Origin", "http://evil.example"), wantStatus: 403,
			want: []string{`"code":"forbidden"`, "Origin http://evil.example may not open a WebSocket here: start the server with --allowed-origins http://evil.example"}},

		// Nodes.
		{name: "list nodes", method: "GET", path: "/api/nodes", wantStatus: 200, want: []string{`"id":"{node}"`, `"status":"online"`, `"total":1`}},
		{name: "list nodes without token", method: "GET", path: "/api/nodes", headers: noAuth, wantStatus: 401, want: []string{`"code":"unauthorized"`}},
		{name: "list nodes, store gone", setup: withClosedStore, method: "GET", path: "/api/nodes", wantStatus: 500,
			want: []string{`"code":"internal"`, "internal error, request id "}, notWant: []string{"closed", "sql"}, check: internalErrorHidden},
		{name: "get node", method: "GET", path: "/api/nodes/{node}", wantStatus: 200, want: []string{`"name":"solo"`}},
		{name: "get node, bad id", method: "GET", path: "/api/nodes/nope", wantStatus: 400,
			want: []string{`"code":"bad_request"`, "node id nope is not valid"}},
		{name: "get node, unknown", method: "GET", path: "/api/nodes/" + unknownID, wantStatus: 404, want: []string{`"code":"not_found"`}},
		{name: "node sysinfo", method: "GET", path: "/api/nodes/{node}/sysinfo", wantStatus: 200,
			want: []string{`"node_id":"{node}"`, `"name":"solo"`, `"cpus":`, `"executables":`}},
		{name: "node sysinfo, offline", setup: withOfflineNode, method: "GET", path: "/api/nodes/{offline}/sysinfo", wantStatus: 503,
			want: []string{`"code":"node_offline"`, "node gone ({offline}) is offline, last seen"}},
		{name: "node sysinfo, unknown", method: "GET", path: "/api/nodes/" + unknownID + "/sysinfo", wantStatus: 404, want: []string{`"code":"not_found"`}},

		// Spiders.
		{name: "list spiders", setup: withSpider, method: "GET", path: "/api/spiders", wantStatus: 200, want: []string{`"name":"hello"`, `"total":1`}},
		{name: "list spiders without token", method: "GET", path: "/api/spiders", headers: noAuth, wantStatus: 401, want: []string{`"code":"unauthorized"`}},
		{name: "create spider", method: "POST", path: "/api/spiders", contentType: uploadCT, body: uploadBody, wantStatus: 201,
			want: []string{`"name":"uploaded"`, `"command":"sh run.sh"`, `"md5":"`}},
		{name: "create spider without archive", method: "POST", path: "/api/spiders", contentType: noFileCT, body: noFileBody, wantStatus: 400,
			want: []string{`"code":"bad_request"`, `the spider's zip archive is missing`}},
		{name: "create spider, name taken", setup: withSpider, method: "POST", path: "/api/spiders", contentType: dupCT, body: dupBody, wantStatus: 409,
			want: []string{`"code":"conflict"`, "a spider named hello exists"}},
		{name: "create spider, name like an id", method: "POST", path: "/api/spiders", contentType: idNameCT, body: idNameBody, wantStatus: 400,
			want: []string{"must not look like an id"}},
		{name: "create spider, hostile archive", method: "POST", path: "/api/spiders", contentType: evilCT, body: evilBody, wantStatus: 400,
			want: []string{`"code":"bad_request"`, "archive refused: "}},
		{name: "create spider, not multipart", method: "POST", path: "/api/spiders", contentType: "application/json", body: `{}`, wantStatus: 400,
			want: []string{"send the spider as multipart/form-data"}},
		{name: "get spider by id", setup: withSpider, method: "GET", path: "/api/spiders/{spider}", wantStatus: 200, want: []string{`"id":"{spider}"`}},
		{name: "get spider by name", setup: withSpider, method: "GET", path: "/api/spiders/hello", wantStatus: 200, want: []string{`"id":"{spider}"`}},
		{name: "get spider, unknown name", method: "GET", path: "/api/spiders/nope", wantStatus: 404,
			want: []string{`"code":"not_found"`, "no spider has id or name nope"}},
		{name: "get spider, unknown id", method: "GET", path: "/api/spiders/" + unknownID, wantStatus: 404,
			want: []string{"no spider has id " + unknownID}},
		{name: "update spider", setup: withSpider, method: "PUT", path: "/api/spiders/{spider}", contentType: updCT, body: updBody, wantStatus: 200,
			want: []string{`"command":"sh run.sh --fast"`, `"name":"hello"`}},
		{name: "update spider, bad env", setup: withSpider, method: "PUT", path: "/api/spiders/{spider}", contentType: badEnvCT, body: badEnvBody, wantStatus: 400,
			want: []string{"env must be a JSON object of strings"}},
		{name: "update spider, unknown", method: "PUT", path: "/api/spiders/nope", contentType: updCT, body: updBody, wantStatus: 404},
		{name: "delete spider", setup: withSpider, method: "DELETE", path: "/api/spiders/{spider}", wantStatus: 204,
			check: func(e *env, _ string) {
				if status, _, b := e.request("GET", e.expand("/api/spiders/{spider}"), "", nil, nil); status != 404 {
					e.t.Errorf("deleted spider: GET gives %d %s", status, b)
				}
			}},
		{name: "delete spider, unknown", method: "DELETE", path: "/api/spiders/nope", wantStatus: 404},
		{name: "deploy spider", setup: withSpider, subscribe: []string{"spiders"}, method: "POST", path: "/api/spiders/{spider}/deploy", wantStatus: 202,
			want:   []string{`"spider_id":"{spider}"`, `"nodes":["{node}"]`},
			events: []event{{"spiders", []string{`"spider_id":"{spider}"`, `"node_id":"{node}"`, `"node_name":"solo"`}}}},
		{name: "deploy spider, unknown", method: "POST", path: "/api/spiders/nope/deploy", wantStatus: 404},

		// Tasks.
		{name: "run task", setup: withSpider, subscribe: []string{"tasks"}, method: "POST", path: "/api/tasks",
			contentType: "application/json", body: `{"spider_id":"{spider}","mode":"any"}`, wantStatus: 201,
			want: []string{`"spider_id":"{spider}"`, `"status":"pending"`, `"total":1`},
			events: []event{
				{"tasks", []string{`"task_id":"{id}"`, `"spider_id":"{spider}"`, `"status":"pending"`}},
				{"tasks", []string{`"task_id":"{id}"`, `"status":"running"`, `"node_id":"{node}"`}},
				{"tasks", []string{`"task_id":"{id}"`, `"status":"finished"`, `"exit_code":0`, `"log_lines":2`}},
			}},
		{name: "run task on all nodes by spider name", setup: withSpider, method: "POST", path: "/api/tasks",
			contentType: "application/json", body: `{"spider":"hello","mode":"all"}`, wantStatus: 201,
			want: []string{`"node_id":"{node}"`, `"mode":"all"`}},
		{name: "run task, misspelt field", method: "POST", path: "/api/tasks", contentType: "application/json", body: `{"spider_idd":"x"}`,
			wantStatus: 400, want: []string{"invalid JSON body: ", `unknown field \"spider_idd\"`}},
		{name: "run task, unknown spider", method: "POST", path: "/api/tasks", contentType: "application/json", body: `{"spider_id":"` + unknownID + `"}`,
			wantStatus: 404, want: []string{"no such spider: " + unknownID}},
		{name: "run task, bad mode", setup: withSpider, method: "POST", path: "/api/tasks", contentType: "application/json",
			body: `{"spider_id":"{spider}","mode":"some"}`, wantStatus: 400, want: []string{`mode must be \"any\", \"all\" or \"nodes\"`}},
		{name: "run task on an offline node", setup: func(e *env) { withSpider(e); withOfflineNode(e) }, method: "POST", path: "/api/tasks",
			contentType: "application/json", body: `{"spider_id":"{spider}","mode":"nodes","node_ids":["{offline}"]}`, wantStatus: 503,
			want: []string{`"code":"node_offline"`, `pass \"queue\": true`}},
		{name: "list tasks", setup: withEndedTask, method: "GET", path: "/api/tasks?status=finished", wantStatus: 200,
			want: []string{`"id":"{ended}"`, `"total":1`}},
		{name: "list tasks, bad limit", method: "GET", path: "/api/tasks?limit=-1", wantStatus: 400, want: []string{"limit must be a whole number ≥ 0"}},
		{name: "get task", setup: withEndedTask, method: "GET", path: "/api/tasks/{ended}", wantStatus: 200,
			want: []string{`"status":"finished"`, `"exit_code":0`, `"log_lines":2`}},
		{name: "get task, bad id", method: "GET", path: "/api/tasks/nope", wantStatus: 400, want: []string{"task id nope is not valid"}},
		{name: "get task, unknown", method: "GET", path: "/api/tasks/" + unknownID, wantStatus: 404, want: []string{"no task has id " + unknownID}},
		{name: "cancel running task", setup: withRunningTask, subscribe: []string{"tasks", "task:{running}:log"},
			method: "POST", path: "/api/tasks/{running}/cancel", contentType: "application/json", body: `{"reason":"enough"}`, wantStatus: 202,
			want: []string{`"id":"{running}"`},
			events: []event{
				{"tasks", []string{`"task_id":"{running}"`, `"status":"cancelled"`, "enough"}},
				{"task:{running}:log", []string{`"end":true`, `"status":"cancelled"`}},
			}},
		{name: "cancel ended task", setup: withEndedTask, method: "POST", path: "/api/tasks/{ended}/cancel", wantStatus: 409,
			want: []string{`"code":"conflict"`, "task {ended} has already ended (finished)"}},
		{name: "restart task", setup: withEndedTask, subscribe: []string{"tasks"}, method: "POST", path: "/api/tasks/{ended}/restart", wantStatus: 201,
			want:    []string{`"spider_id":"{spider}"`, `"status":"pending"`},
			notWant: []string{`"id":"{ended}"`},
			events:  []event{{"tasks", []string{`"task_id":"{id}"`, `"spider_id":"{spider}"`, `"status":"finished"`}}}},
		{name: "restart task, unknown", method: "POST", path: "/api/tasks/" + unknownID + "/restart", wantStatus: 404},
		{name: "log of an ended task", setup: withEndedTask, method: "GET", path: "/api/tasks/{ended}/log", wantStatus: 200,
			want: []string{`"lines":["one","two"]`, `"total":2`}},
		{name: "log of a running task", setup: withRunningTask, method: "GET", path: "/api/tasks/{running}/log?limit=1", wantStatus: 200,
			want: []string{`"lines":["line 0"]`}},
		{name: "log, bad from", method: "GET", path: "/api/tasks/" + unknownID + "/log?from=-1", wantStatus: 400,
			want: []string{"from must be a whole number ≥ 0"}},
	} {
		t.Run(sc.name, func(t *testing.T) { t.Parallel(); sc.run(t) })
	}
}

func TestJSONRPC(t *testing.T) {
	for _, sc := range []scenario{
		{name: "unknown method", rpc: "nodes.delete", wantRPCError: -32601, want: []string{`unknown method \"nodes.delete\"`}},

		{name: "subscribe", rpc: "subscribe", params: `{"channel":"nodes"}`, want: []string{`"channel":"nodes"`}},
		{name: "subscribe, unknown channel", rpc: "subscribe", params: `{"channel":"weather"}`, wantRPCError: -32602,
			want: []string{`unknown channel \"weather\"`}},
		{name: "subscribe, since on a plain channel", rpc: "subscribe", params: `{"channel":"tasks","since":3}`, wantRPCError: -32602,
			want: []string{"since applies to task log channels only"}},
		{name: "subscribe, log of an unknown task", rpc: "subscribe", params: `{"channel":"task:` + unknownID + `:log"}`, wantRPCError: -32001,
			want: []string{"no task has id " + unknownID}},
		{name: "subscribe twice", subscribe: []string{"tasks"}, rpc: "subscribe", params: `{"channel":"tasks"}`, wantRPCError: -32009},
		{name: "subscribe to an ended task's log", setup: withEndedTask, rpc: "subscribe", params: `{"channel":"task:{ended}:log","since":0}`,
			want: []string{`"since":0`},
			events: []event{
				{"task:{ended}:log", []string{`"from":0`, `"lines":["one","two"]`}},
				{"task:{ended}:log", []string{`"end":true`, `"status":"finished"`, `"total":2`}},
			}},
		{name: "subscribe to a running task's log from line 2", setup: withRunningTask, rpc: "subscribe", params: `{"channel":"task:{running}:log","since":2}`,
			want:   []string{`"since":2`},
			events: []event{{"task:{running}:log", []string{`"from":2`, `"line 2"`}}}},
		{name: "unsubscribe", subscribe: []string{"nodes"}, rpc: "unsubscribe", params: `{"channel":"nodes"}`, want: []string{`"channel":"nodes"`}},
		{name: "unsubscribe, not subscribed", rpc: "unsubscribe", params: `{"channel":"tasks"}`, wantRPCError: -32602,
			want: []string{"not subscribed to tasks"}},

		{name: "nodes.list", rpc: "nodes.list", want: []string{`"id":"{node}"`, `"status":"online"`, `"total":1`}},
		{name: "nodes.list, unknown param", rpc: "nodes.list", params: `{"all":true}`, wantRPCError: -32602,
			want: []string{"invalid params: ", `unknown field \"all\"`}},
		{name: "nodes.list, store gone", setup: withClosedStore, rpc: "nodes.list", wantRPCError: -32603,
			want: []string{"internal error, request id "}, notWant: []string{"closed", "sql"}, check: internalErrorHidden},

		{name: "node.sysinfo", rpc: "node.sysinfo", params: `{"node_id":"{node}"}`, want: []string{`"node_id":"{node}"`, `"cpus":`}},
		{name: "node.sysinfo, bad id", rpc: "node.sysinfo", params: `{"node_id":"nope"}`, wantRPCError: -32602,
			want: []string{"node_id nope is not valid"}},
		{name: "node.sysinfo, unknown node", rpc: "node.sysinfo", params: `{"node_id":"` + unknownID + `"}`, wantRPCError: -32001,
			want: []string{"no node has id " + unknownID}},
		{name: "node.sysinfo, offline node", setup: withOfflineNode, rpc: "node.sysinfo", params: `{"node_id":"{offline}"}`, wantRPCError: -32002,
			want: []string{"node gone ({offline}) is offline"}},

		{name: "spiders.list", setup: withSpider, rpc: "spiders.list", want: []string{`"name":"hello"`, `"total":1`}},
		{name: "spiders.list, store gone", setup: withClosedStore, rpc: "spiders.list", wantRPCError: -32603,
			want: []string{"internal error, request id "}, notWant: []string{"closed"}, check: internalErrorHidden},

		{name: "tasks.list", setup: withEndedTask, rpc: "tasks.list", params: `{"filter":{"status":"finished"}}`,
			want: []string{`"id":"{ended}"`, `"total":1`}},
		{name: "tasks.list, bad filter", rpc: "tasks.list", params: `{"filter":{"limit":"ten"}}`, wantRPCError: -32602},

		{name: "task.run", setup: withSpider, subscribe: []string{"tasks"}, rpc: "task.run", params: `{"spider":"hello"}`,
			want:   []string{`"status":"pending"`, `"total":1`},
			events: []event{{"tasks", []string{`"task_id":"{id}"`, `"spider_id":"{spider}"`, `"status":"finished"`}}}},
		{name: "task.run, unknown spider", rpc: "task.run", params: `{"spider_id":"` + unknownID + `"}`, wantRPCError: -32001,
			want: []string{"no such spider"}},
		{name: "task.run, bad spider id", rpc: "task.run", params: `{"spider_id":"nope"}`, wantRPCError: -32602,
			want: []string{"spider_id nope is not valid"}},

		{name: "task.cancel", setup: withRunningTask, subscribe: []string{"tasks"}, rpc: "task.cancel",
			params: `{"task_id":"{running}","reason":"enough"}`, want: []string{`"id":"{running}"`},
			events: []event{{"tasks", []string{`"task_id":"{running}"`, `"status":"cancelled"`, "cancelled by websocket client", "enough"}}}},
		{name: "task.cancel, ended task", setup: withEndedTask, rpc: "task.cancel", params: `{"task_id":"{ended}"}`, wantRPCError: -32006,
			want: []string{"has already ended (finished)"}},

		{name: "task.log", setup: withEndedTask, rpc: "task.log", params: `{"task_id":"{ended}","from":1}`,
			want: []string{`"lines":["two"]`, `"total":2`}},
		{name: "task.log, unknown task", rpc: "task.log", params: `{"task_id":"` + unknownID + `"}`, wantRPCError: -32001},
		{name: "task.log, negative from", setup: withEndedTask, rpc: "task.log", params: `{"task_id":"{ended}","from":-1}`, wantRPCError: -32602,
			want: []string{"from and limit cannot be negative"}},
	} {
		t.Run(sc.name, func(t *testing.T) { t.Parallel(); sc.run(t) })
	}
}

// TestNodeEvents: a client watching the nodes channel learns when the
// agent stops, without waiting for missed heartbeats.
func TestNodeEvents(t *testing.T) {
	e := newEnv(t)
	ws := e.dial()
	ws.subscribe("nodes")
	status, _, _ := e.request("GET", "/api/nodes/"+e.agent.NodeID(), "", nil, nil)
	if status != http.StatusOK {
		t.Fatalf("node: %d", status)
	}
	// Stopping the agent is what a user does; it says goodbye on the bus.
	e.stopAgent()
	ws.expectAll([]event{{"nodes", []string{`"node_id":"` + e.agent.NodeID() + `"`, `"status":"offline"`}}})
}
