package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

const clusterSecret = "the-cluster-secret-of-this-test"

// TestMasterIgnoresForgedMessages: with a cluster secret, a master passes
// on nothing it hears without a good signature: no node comes online on a
// forged heartbeat, no task changes on a forged task_status, no line
// reaches a log's viewers from a forged batch. What the agent and the
// master sign themselves works as before.
func TestMasterIgnoresForgedMessages(t *testing.T) {
	e := newSignedEnv(t, clusterSecret)
	c := e.dial()
	c.subscribe("nodes")
	c.subscribe("tasks")

	// Signed end to end: a task runs, its log and status reach the client.
	task := e.runningTask()
	c.subscribe("task:" + task.ID + ":log")
	c.expect("task:"+task.ID+":log", `"line 0"`)

	right, _ := wire.NewSigner(clusterSecret, nil)
	wrong, _ := wire.NewSigner(strings.ToUpper(clusterSecret), nil)
	forge := func(channel string, msg string) {
		t.Helper()
		for _, b := range [][]byte{[]byte(msg), wrong.Sign([]byte(msg))} {
			if err := e.tap.bus.Publish(e.ctx, channel, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	const fake = "0000000000000000000000f0"
	forge(wire.MasterChannel, `{"id":"f-1","type":"heartbeat","node_id":"`+fake+`","payload":{"name":"forged","at":"2026-01-01T00:00:00Z"}}`)
	forge(wire.MasterChannel, `{"id":"f-2","type":"task_status","node_id":"`+fake+`","payload":{"task_id":"`+task.ID+`","status":"finished","reason":"FORGED"}}`)
	// A line far ahead of the task's: were it taken, the viewer would get
	// it (after catching up) and the end below.
	forge(wire.LogChannel(task.ID), `{"task_id":"`+task.ID+`","from":0,"lines":["FORGED"],"end":true,"status":"finished","total":1}`)

	// Fences, signed with the secret, after the forgeries on each channel:
	// once the client has them, the master has passed the forgeries by.
	const fence = "0000000000000000000000fe"
	e.tap.bus.Publish(e.ctx, wire.MasterChannel, right.Sign([]byte(`{"id":"ok","type":"heartbeat","node_id":"`+fence+`","payload":{"name":"fence","at":"2026-01-01T00:00:00Z"}}`)))
	for {
		p := <-c.pushes
		if strings.Contains(string(p.Data), "FORGED") || strings.Contains(string(p.Data), fake) {
			t.Fatalf("the master passed on a forged message: %s %s", p.Channel, p.Data)
		}
		if p.Channel == "nodes" && strings.Contains(string(p.Data), fence) {
			break
		}
	}
	cur, err := e.st.Tasks().Get(e.ctx, task.ID)
	if err != nil || cur.Status != store.TaskRunning {
		t.Fatalf("task after forged messages: %+v, %v", cur, err)
	}
	// The log keeps coming from the agent, and the forged line never does.
	data := c.expect("task:"+task.ID+":log", `"line 5"`)
	if strings.Contains(string(data), "FORGED") {
		t.Fatalf("forged line in the log: %s", data)
	}
	var nodes struct{ Items []store.Node }
	e.do("GET", "/api/nodes", nil, &nodes)
	for _, n := range nodes.Items {
		if n.ID == fake {
			t.Errorf("the forged node is listed: %+v", n)
		}
	}
	// The agent still obeys the master's signed cancel.
	e.do("POST", "/api/tasks/"+task.ID+"/cancel", nil, nil)
	e.tap.wait(func(env *wire.Envelope) bool {
		var ts wire.TaskStatus
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == task.ID && ts.Status == store.TaskCancelled
	})
	if !strings.Contains(e.logs.String(), "dropped a bus message") {
		t.Errorf("the forgeries were not logged")
	}
}
