package server_test

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
			if v = e.expand(v); h.Get(k) != v {
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

func TestREST(t *testing.T) {
	uploadCT, uploadBody := upload(map[string]string{"name": "uploaded", "command": "sh run.sh"}, zipOf("echo hi\n"))
	noFileCT, noFileBody := upload(map[string]string{"name": "nofile", "command": "sh run.sh"}, nil)
	dupCT, dupBody := upload(map[string]string{"name": "hello", "command": "sh run.sh"}, zipOf("echo hi\n"))
	evilCT, evilBody := upload(map[string]string{"name": "evil", "command": "sh run.sh"}, escaping())
	idNameCT, idNameBody := upload(map[string]string{"name": unknownID, "command": "sh run.sh"}, zipOf("echo hi\n"))
	updCT, updBody := upload(map[string]string{"command": "sh run.sh --fast"}, nil)
	badEnvCT, badEnvBody := upload(map[string]string{"env": "KEY=value"}, nil)
	noAuth := map[string]string{"Authorization": ""}
	dedupCT, dedupBody := upload(map[string]string{"name": "dedup", "command": "sh run.sh", "dedup_keys": `["url", "sku"]`, "dedup": "ignore"}, zipOf("echo hi\n"))
	noPolicyCT, noPolicyBody := upload(map[string]string{"name": "nopolicy", "command": "sh run.sh", "dedup_keys": "url"}, zipOf("echo hi\n"))
	noKeysCT, noKeysBody := upload(map[string]string{"name": "nokeys", "command": "sh run.sh", "dedup": "overwrite"}, zipOf("echo hi\n"))
	reservedCT, reservedBody := upload(map[string]string{"name": "reserved", "command": "sh run.sh", "dedup_keys": "url,_task_id", "dedup": "ignore"}, zipOf("echo hi\n"))
	emptyKeyCT, emptyKeyBody := upload(map[string]string{"name": "emptykey", "command": "sh run.sh", "dedup_keys": `["url", ""]`, "dedup": "ignore"}, zipOf("echo hi\n"))
	badKeysCT, badKeysBody := upload(map[string]string{"name": "badkeys", "command": "sh run.sh", "dedup_keys": `["url", 3]`, "dedup": "ignore"}, zipOf("echo hi\n"))
	overwriteCT, overwriteBody := upload(map[string]string{"dedup": "overwrite"}, nil)
	badPolicyCT, badPolicyBody := upload(map[string]string{"dedup": "newest"}, nil)
	dedupOffCT, dedupOffBody := upload(map[string]string{"dedup_keys": ""}, nil)

	for _, sc := range []scenario{
		// Probes and metrics.
		{name: "healthz", method: "GET", path: "/healthz", wantStatus: 200, want: []string{`"status":"ok"`}},
		{name: "healthz wrong method", method: "POST", path: "/healthz", wantStatus: 405, want: []string{`"code":"bad_request"`, "Method Not Allowed"}},
		{name: "readyz", method: "GET", path: "/readyz", wantStatus: 200, want: []string{`"status":"ready"`}},
		{name: "readyz store gone", setup: withClosedStore, method: "GET", path: "/readyz", wantStatus: 503,
			want: []string{`"code":"unavailable"`, `"message":"store unavailable"`}},
		{name: "metrics", method: "GET", path: "/metrics", wantStatus: 200, want: []string{"crawlhub_ws_clients 0", "crawlhub_nodes_online"}},
		{name: "metrics without token", method: "GET", path: "/metrics", headers: noAuth, wantStatus: 401,
			want: []string{`"code":"unauthorized"`, "missing or wrong credentials"}},

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
			want: []string{`"code":"unauthorized"`, "missing or wrong credentials"}},
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
		{name: "create spider with dedup", method: "POST", path: "/api/spiders", contentType: dedupCT, body: dedupBody, wantStatus: 201,
			want: []string{`"dedup_keys":["url","sku"]`, `"dedup":"ignore"`},
			check: func(e *env, body string) {
				if status, _, b := e.request("GET", e.expand("/api/spiders/{id}"), "", nil, nil); status != 200 || !strings.Contains(b, `"dedup_keys":["url","sku"]`) {
					e.t.Errorf("stored spider: %d %s", status, b)
				}
			}},
		{name: "create spider, dedup keys without a policy", method: "POST", path: "/api/spiders", contentType: noPolicyCT, body: noPolicyBody, wantStatus: 400,
			want: []string{"dedup_keys needs a policy: set dedup to ignore (keep the first item of a key) or overwrite (keep the newest)"}},
		{name: "create spider, dedup policy without keys", method: "POST", path: "/api/spiders", contentType: noKeysCT, body: noKeysBody, wantStatus: 400,
			want: []string{"dedup overwrite needs dedup_keys"}},
		{name: "create spider, reserved dedup key", method: "POST", path: "/api/spiders", contentType: reservedCT, body: reservedBody, wantStatus: 400,
			want: []string{"dedup_keys cannot use _task_id: the names _id, _task_id"}},
		{name: "create spider, empty dedup key", method: "POST", path: "/api/spiders", contentType: emptyKeyCT, body: emptyKeyBody, wantStatus: 400,
			want: []string{"dedup_keys has an empty field name"}},
		{name: "create spider, bad dedup keys", method: "POST", path: "/api/spiders", contentType: badKeysCT, body: badKeysBody, wantStatus: 400,
			want: []string{"dedup_keys must be a JSON array of field names"}},
		{name: "update spider, dedup policy", setup: withItems, method: "PUT", path: "/api/spiders/{spider}", contentType: overwriteCT, body: overwriteBody,
			wantStatus: 200, want: []string{`"dedup_keys":["url"]`, `"dedup":"overwrite"`}},
		{name: "update spider, bad dedup policy", setup: withItems, method: "PUT", path: "/api/spiders/{spider}", contentType: badPolicyCT, body: badPolicyBody,
			wantStatus: 400, want: []string{`dedup must be ignore (keep the first item of a key) or overwrite (keep the newest), not \"newest\"`}},
		{name: "update spider, dedup off", setup: withItems, method: "PUT", path: "/api/spiders/{spider}", contentType: dedupOffCT, body: dedupOffBody,
			wantStatus: 200, notWant: []string{`"dedup_keys"`, `"dedup":`}},
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
		{name: "list tasks, bad limit", method: "GET", path: "/api/tasks?limit=x", wantStatus: 400, want: []string{"limit must be a whole number"}},
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
		{name: "cancel a pending task ends its items", setup: withQueuedTask, subscribe: []string{"task:{queued}:items"},
			method: "POST", path: "/api/tasks/{queued}/cancel", wantStatus: 202,
			events: []event{{"task:{queued}:items", []string{`"end":true`, `"status":"cancelled"`, `"total":0`}}}},
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

		// Items.
		{name: "items of a task", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items", wantStatus: 200,
			want: []string{`"task_id":"{ended}"`, `"from":0`, `"total":3`, `"items":[` + sampleItems[0] + `,` + sampleItems[1] + `,` + sampleItems[2] + `]`}},
		{name: "items of a task, a range", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items?from=1&limit=1", wantStatus: 200,
			want: []string{`"from":1`, `"items":[` + sampleItems[1] + `]`, `"total":3`}},
		{name: "items of a task past its end", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items?from=10", wantStatus: 200,
			want: []string{`"items":[]`, `"total":3`}},
		{name: "items of a task that saved none", setup: withEndedTask, method: "GET", path: "/api/tasks/{ended}/items", wantStatus: 200,
			want: []string{`"items":[]`, `"total":0`}},
		{name: "items of a running task", setup: withSavingTask, method: "GET", path: "/api/tasks/{running}/items?limit=2", wantStatus: 200,
			want: []string{`"items":[{"n":0},{"n":1}]`, `"total":`}},
		{name: "items of a running task count live", setup: withRunningItems, method: "GET", path: "/api/tasks/{running}", wantStatus: 200,
			want: []string{`"status":"running"`, `"item_count":2`, `"item_stats":{"new":2,`}},
		{name: "items, unknown task", method: "GET", path: "/api/tasks/" + unknownID + "/items", wantStatus: 404,
			want: []string{`"code":"not_found"`, "no task has id " + unknownID}},
		{name: "items, bad from", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items?from=-1", wantStatus: 400,
			want: []string{"from must be a whole number ≥ 0"}},
		{name: "items of a spider, current only, newest first", setup: withItems, method: "GET", path: "/api/spiders/{spider}/items", wantStatus: 200,
			want:    []string{`"total":2`, `"task_id":"{ended}"`, `"n":2`, `"n":0`, `"data":` + sampleItems[0], `"data":` + sampleItems[2]},
			notWant: []string{`"Again"`},
			check: func(e *env, body string) {
				if strings.Index(body, `"n":2`) > strings.Index(body, `"n":0`) {
					e.t.Errorf("not newest first: %s", body)
				}
			}},
		{name: "items of a spider by name, a page", setup: withItems, method: "GET", path: "/api/spiders/items/items?limit=1&offset=1", wantStatus: 200,
			want: []string{`"total":2`, `"n":0`}, notWant: []string{`"n":2`}},
		{name: "items of a spider, unknown", method: "GET", path: "/api/spiders/nope/items", wantStatus: 404,
			want: []string{"no spider has id or name nope"}},
		{name: "items of a spider, bad limit", setup: withItems, method: "GET", path: "/api/spiders/{spider}/items?limit=x", wantStatus: 400,
			want: []string{"limit must be a whole number"}},
		{name: "export a task's items as CSV", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items/export?format=csv", wantStatus: 200,
			wantHeaders: map[string]string{"Content-Type": "text/csv; charset=utf-8", "Content-Disposition": `attachment; filename=task-{ended}-items.csv`},
			want: []string{"url,title,price,meta,in_stock\n" +
				"https://a.example/1,\"First, \"\"quoted\"\"\",1.5,,\n" +
				"https://a.example/1,Again,,\"{\"\"lang\"\":\"\"en\"\",\"\"tags\"\":[\"\"x\"\"]}\",\n" +
				"https://a.example/2,,,,true\n"}},
		{name: "export a task's items as JSON", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items/export?format=json", wantStatus: 200,
			wantHeaders: map[string]string{"Content-Type": "application/json", "Content-Disposition": `attachment; filename=task-{ended}-items.json`},
			check: func(e *env, body string) {
				var got []json.RawMessage
				if err := json.Unmarshal([]byte(body), &got); err != nil || len(got) != 3 || string(got[1]) != sampleItems[1] {
					e.t.Errorf("export %s: %v", body, err)
				}
			}},
		{name: "export a task's items as NDJSON (the default)", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items/export", wantStatus: 200,
			wantHeaders: map[string]string{"Content-Type": "application/x-ndjson"},
			check: func(e *env, body string) {
				if want := strings.Join(sampleItems, "\n") + "\n"; body != want {
					e.t.Errorf("export %q, want %q", body, want)
				}
			}},
		{name: "export a task that saved nothing as JSON", setup: withEndedTask, method: "GET", path: "/api/tasks/{ended}/items/export?format=json", wantStatus: 200,
			check: func(e *env, body string) {
				if strings.TrimSpace(body) != "[\n]" {
					e.t.Errorf("export %q, want an empty array", body)
				}
			}},
		{name: "export a task that saved nothing as CSV", setup: withEndedTask, method: "GET", path: "/api/tasks/{ended}/items/export?format=csv", wantStatus: 200,
			check: func(e *env, body string) {
				if body != "\n" {
					e.t.Errorf("export %q, want an empty header line", body)
				}
			}},
		{name: "export, bad format", setup: withItems, method: "GET", path: "/api/tasks/{ended}/items/export?format=xlsx", wantStatus: 400,
			want: []string{`"code":"bad_request"`, "format xlsx is not one of csv, json or ndjson"}},
		{name: "export, unknown task", method: "GET", path: "/api/tasks/" + unknownID + "/items/export?format=csv", wantStatus: 404,
			want: []string{"no task has id " + unknownID}},
		{name: "export a spider's items as CSV", setup: withItems, method: "GET", path: "/api/spiders/items/items/export?format=csv", wantStatus: 200,
			wantHeaders: map[string]string{"Content-Disposition": `attachment; filename=items-items.csv`},
			want:        []string{"url,title,in_stock,price\nhttps://a.example/2,,true,\nhttps://a.example/1,\"First, \"\"quoted\"\"\",,1.5\n"},
			notWant:     []string{"Again"}},
		{name: "export a spider's items as NDJSON", setup: withItems, method: "GET", path: "/api/spiders/{spider}/items/export?format=ndjson", wantStatus: 200,
			check: func(e *env, body string) {
				if want := sampleItems[2] + "\n" + sampleItems[0] + "\n"; body != want {
					e.t.Errorf("export %q, want %q", body, want)
				}
			}},
		{name: "export, unknown spider", method: "GET", path: "/api/spiders/nope/items/export", wantStatus: 404,
			want: []string{"no spider has id or name nope"}},
		{name: "export, store gone", setup: func(e *env) { withItems(e); withClosedStore(e) }, method: "GET", path: "/api/tasks/{ended}/items/export?format=csv",
			wantStatus: 500, want: []string{"internal error, request id "}, notWant: []string{"closed"}, check: internalErrorHidden},
	} {
		t.Run(sc.name, func(t *testing.T) { t.Parallel(); sc.run(t) })
	}
}
