package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
)

// A JSON body with a misspelt field, trailing data, or no JSON at all is
// refused with 400 and a message naming the problem, as the WebSocket API
// does; nothing is started.
func TestRESTStrictJSON(t *testing.T) {
	e := allInOne(t)
	sp := e.spider("strict", "echo hi\n")
	post := func(path, body string) (int, string) {
		req, _ := http.NewRequest("POST", e.base(0)+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var apiErr struct {
			Message string `json:"message"`
		}
		json.Unmarshal(b, &apiErr)
		return resp.StatusCode, apiErr.Message
	}
	for _, tc := range []struct{ name, path, body, want string }{
		{"misspelt field", "/api/tasks", `{"spider_id":"` + sp.ID + `","mode":"any","timout":5}`, `unknown field "timout"`},
		{"two values", "/api/tasks", `{"spider_id":"` + sp.ID + `","mode":"any"} {}`, "more than one JSON value"},
		{"not JSON", "/api/tasks", `spider_id=` + sp.ID, "invalid JSON body"},
		{"cancel with a misspelt field", "/api/tasks/0123456789abcdef01234567/cancel", `{"raeson":"x"}`, `unknown field "raeson"`},
	} {
		code, msg := post(tc.path, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %q, want 400 mentioning %q", tc.name, code, msg, tc.want)
		}
	}
	var l struct {
		Total int `json:"total"`
	}
	e.get(0, "/api/tasks?spider_id="+sp.ID, &l)
	if l.Total != 0 {
		t.Fatalf("%d tasks started by refused requests", l.Total)
	}
	// The same request spelt right runs.
	if tasks := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "any", "timeout": 5}); len(tasks) != 1 {
		t.Fatalf("%d tasks, want 1", len(tasks))
	}
}

// A deploy's outcome on each node reaches clients on the spiders channel:
// downloaded the first time, already there the second.
func TestSpiderSyncPushed(t *testing.T) {
	e := allInOne(t)
	e.waitNodes(0, 1)
	var nodes struct {
		Items []store.Node `json:"items"`
	}
	e.get(0, "/api/nodes", &nodes)
	c := e.dial(0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Subscribe(ctx, "spiders", 0); err != nil {
		t.Fatal(err)
	}
	sp := e.spider("synced", "echo hi\n")
	for _, wantDownloaded := range []bool{true, false} {
		e.do(0, "POST", "/api/spiders/"+sp.ID+"/deploy", "", nil, nil)
		var ev server.SpiderSyncEvent
		for ev.SpiderID != sp.ID { // the sample spider's, from the agent's start, may come first
			select {
			case p := <-c.Publications():
				if p.Channel != "spiders" {
					t.Fatalf("publication on %s", p.Channel)
				}
				if err := json.Unmarshal(p.Data, &ev); err != nil {
					t.Fatal(err)
				}
			case <-ctx.Done():
				t.Fatal("no spider_synced publication")
			}
		}
		if ev.NodeID != nodes.Items[0].ID || ev.NodeName != nodes.Items[0].Name || ev.MD5 != sp.MD5 || ev.Error != "" || ev.Downloaded != wantDownloaded {
			t.Fatalf("%+v; want spider %s synced on node %s (downloaded %v)", ev, sp.ID, nodes.Items[0].ID, wantDownloaded)
		}
	}
}

// A running task's log_lines counts the lines saved so far, in the task
// list and on its own; it does not wait for the end.
func TestRunningTaskLines(t *testing.T) {
	e := allInOne(t)
	e.waitNodes(0, 1)
	sp := e.spider("lines", "i=0; while [ $i -lt 100 ]; do echo line $i; i=$((i+1)); done; sleep 60\n")
	task := e.run(0, map[string]any{"spider_id": sp.ID, "mode": "any"})[0]
	defer e.do(0, "POST", "/api/tasks/"+task.ID+"/cancel", "", nil, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var one store.Task
		e.get(0, "/api/tasks/"+task.ID, &one)
		var l struct {
			Items []store.Task `json:"items"`
		}
		e.get(0, "/api/tasks?spider_id="+sp.ID, &l)
		if one.Status == store.TaskRunning && one.LogLines == 100 && len(l.Items) == 1 && l.Items[0].LogLines == 100 {
			return
		}
		if one.Status != store.TaskPending && one.Status != store.TaskRunning {
			t.Fatalf("task %s before its lines were counted", one.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("running task: %d lines on its own, %+v in the list; want 100", one.LogLines, l.Items)
		}
		time.Sleep(100 * time.Millisecond) // the agent saves every 2 s: poll as a dashboard would
	}
}
