package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

type nodeMetricsBody struct {
	NodeID string            `json:"node_id"`
	Range  string            `json:"range"`
	Step   int64             `json:"step"`
	Points []store.NodePoint `json:"points"`
}

// TestNodeMetrics: the agent's heartbeats become its history, read by
// REST and JSON-RPC at each range's resolution, and each new point is
// pushed on the nodes channel next to the status changes.
func TestNodeMetrics(t *testing.T) {
	e := newEnv(t)
	id := e.agent.NodeID()
	ws := e.dial()
	ws.subscribe("nodes")

	// The agent beats once at start, then every 5 s: the first is in the
	// store within moments.
	var got nodeMetricsBody
	deadline := time.Now().Add(wait)
	for len(got.Points) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no point recorded in %s: %+v", wait, got)
		}
		e.do("GET", "/api/nodes/"+id+"/metrics?range=1h", nil, &got)
		if len(got.Points) == 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	p := got.Points[0]
	if got.NodeID != id || got.Range != "1h" || got.Step != 10 || p.MemTotal == 0 || p.DiskTotal == 0 || p.At.UnixMilli()%10_000 != 0 {
		t.Errorf("1h history = %+v, want 10 s points with memory and disk", got)
	}

	// The next heartbeat's point is pushed, marked apart from status changes.
	data := ws.expect("nodes", `"event":"metrics"`, `"node_id":"`+id+`"`)
	var ev struct {
		Event  string          `json:"event"`
		Status *string         `json:"status"`
		Point  store.NodePoint `json:"point"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Status != nil || ev.Point.MemTotal == 0 || ev.Point.At.IsZero() {
		t.Errorf("metrics push = %s (%v), want a point and no status", data, err)
	}

	// Coarser ranges read coarser tiers (nothing has closed yet); JSON-RPC
	// answers the same body.
	for _, rng := range []struct {
		name string
		step int64
	}{{"24h", 60}, {"7d", 600}} {
		var b nodeMetricsBody
		e.do("GET", "/api/nodes/"+id+"/metrics?range="+rng.name, nil, &b)
		if b.Step != rng.step || b.Points == nil {
			t.Errorf("%s: step %d, points %v; want step %d and a list", rng.name, b.Step, b.Points, rng.step)
		}
	}
	if r := ws.call("node.metrics", `{"id":"`+id+`","range":"1h"}`); !strings.Contains(r, `"step":10`) || !strings.Contains(r, `"mem_total"`) {
		t.Errorf("node.metrics = %s", r)
	}

	for _, bad := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/api/nodes/" + id + "/metrics?range=2h", http.StatusBadRequest, "1h, 24h and 7d"},
		{"/api/nodes/" + unknownID + "/metrics", http.StatusNotFound, ""},
		{"/api/nodes/nope/metrics", http.StatusBadRequest, "24 hex digits"},
	} {
		status, _, body := e.request("GET", bad.path, "", nil, nil)
		if status != bad.status || !strings.Contains(body, bad.msg) {
			t.Errorf("GET %s = %d %s, want %d with %q", bad.path, status, body, bad.status, bad.msg)
		}
	}
	if r := ws.call("node.metrics", `{"id":"`+id+`","range":"1y"}`); !strings.Contains(r, `-32602`) {
		t.Errorf("node.metrics with a bad range = %s, want -32602", r)
	}
	if r := ws.call("node.metrics", `{"id":"`+unknownID+`"}`); !strings.Contains(r, `-32001`) {
		t.Errorf("node.metrics of an unknown node = %s, want -32001", r)
	}
}
