package server_test

import (
	"net/http"
	"testing"
)

func TestJSONRPC(t *testing.T) {
	for _, sc := range []scenario{
		{name: "unknown method", rpc: "nodes.delete", wantRPCError: -32601, want: []string{`unknown method \"nodes.delete\"`}},

		{name: "subscribe", rpc: "subscribe", params: `{"channel":"nodes"}`, want: []string{`"channel":"nodes"`}},
		{name: "subscribe, unknown channel", rpc: "subscribe", params: `{"channel":"weather"}`, wantRPCError: -32602,
			want: []string{`unknown channel \"weather\"`}},
		{name: "subscribe, since on a plain channel", rpc: "subscribe", params: `{"channel":"tasks","since":3}`, wantRPCError: -32602,
			want: []string{"since applies to task log and items channels only"}},
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
			events: []event{{"tasks", []string{`"task_id":"{running}"`, `"status":"cancelled"`, "cancelled by admin (start token): enough"}}}},
		{name: "task.cancel, ended task", setup: withEndedTask, rpc: "task.cancel", params: `{"task_id":"{ended}"}`, wantRPCError: -32006,
			want: []string{"has already ended (finished)"}},

		{name: "task.log", setup: withEndedTask, rpc: "task.log", params: `{"task_id":"{ended}","from":1}`,
			want: []string{`"lines":["two"]`, `"total":2`}},
		{name: "task.log, unknown task", rpc: "task.log", params: `{"task_id":"` + unknownID + `"}`, wantRPCError: -32001},
		{name: "task.log, negative from", setup: withEndedTask, rpc: "task.log", params: `{"task_id":"{ended}","from":-1}`, wantRPCError: -32602,
			want: []string{"from and limit cannot be negative"}},

		{name: "task.items", setup: withItems, rpc: "task.items", params: `{"task_id":"{ended}","from":2}`,
			want: []string{`"task_id":"{ended}"`, `"from":2`, `"items":[` + sampleItems[2] + `]`, `"total":3`}},
		{name: "task.items, a running task", setup: withSavingTask, rpc: "task.items", params: `{"task_id":"{running}","from":1,"limit":1}`,
			want: []string{`"from":1`, `"items":[{"n":1}]`}},
		{name: "task.items, unknown task", rpc: "task.items", params: `{"task_id":"` + unknownID + `"}`, wantRPCError: -32001,
			want: []string{"no task has id " + unknownID}},
		{name: "task.items, negative limit", setup: withItems, rpc: "task.items", params: `{"task_id":"{ended}","limit":-1}`, wantRPCError: -32602,
			want: []string{"from and limit cannot be negative"}},
		{name: "task.items, unknown param", rpc: "task.items", params: `{"task":"x"}`, wantRPCError: -32602,
			want: []string{`unknown field \"task\"`}},
		{name: "subscribe to an ended task's items", setup: withItems, rpc: "subscribe", params: `{"channel":"task:{ended}:items","since":1}`,
			want: []string{`"since":1`},
			events: []event{
				{"task:{ended}:items", []string{`"from":1`, `"items":[` + sampleItems[1] + `,` + sampleItems[2] + `]`}},
				{"task:{ended}:items", []string{`"end":true`, `"status":"finished"`, `"total":3`}},
			}},
		{name: "subscribe to the items of a task that saved none", setup: withEndedTask, rpc: "subscribe", params: `{"channel":"task:{ended}:items"}`,
			events: []event{{"task:{ended}:items", []string{`"end":true`, `"status":"finished"`, `"total":0`}}}},
		{name: "subscribe to a running task's items", setup: withSavingTask, rpc: "subscribe", params: `{"channel":"task:{running}:items","since":1}`,
			events: []event{
				{"task:{running}:items", []string{`"from":1`, `"items":[{"n":1}`}},
				{"task:{running}:items", []string{`{"n":10}`}},
			}},
		{name: "subscribe, items of an unknown task", rpc: "subscribe", params: `{"channel":"task:` + unknownID + `:items"}`, wantRPCError: -32001,
			want: []string{"no task has id " + unknownID}},
		{name: "subscribe, items with a negative since", rpc: "subscribe", params: `{"channel":"task:` + unknownID + `:items","since":-1}`, wantRPCError: -32602,
			want: []string{"since is a line or item number, 0 or more"}},
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
