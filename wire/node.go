package wire

import (
	"context"
	"encoding/json"
	"fmt"
)

// Node is what an agent answers: one method per operation a master sends
// on the agent's NodeChannel. An agent implements it and hands it to a
// Responder, which decodes each request into the operation's payload type,
// calls the method and, for a bidirectional operation, publishes its result
// as the reply.
//
// Thread safety: the Responder calls methods from several workers at once,
// so an implementation must be safe for concurrent use.
//
// Errors: a bidirectional method's error text becomes the reply's error,
// which the master's Call returns as a *RemoteError; write it for the
// person who will read it. A one-way method's error is only logged by the
// agent: its outcome reaches masters as an event (task_status,
// spider_synced), not as a reply.
//
// Flow: a master calls GetLog, GetItems, SearchLog, SysInfo and Ping and waits for the reply
// (with a deadline); it sends CancelTask, SyncSpider and TaskAvailable and
// does not wait. ctx ends when the agent stops.
type Node interface {
	// Ping answers at once: liveness and round-trip time.
	Ping(ctx context.Context) error
	// SysInfo reports the machine: OS, CPUs, memory, disk, load, tools.
	SysInfo(ctx context.Context) (SysInfo, error)
	// GetLog returns lines req.From.. of a task's log (at most req.Limit)
	// and the log's current length.
	GetLog(ctx context.Context, req GetLog) (LogBatch, error)
	// GetItems returns items req.From.. of a task (at most req.Limit, and
	// fewer when they are large: ask again from From+len(Items)) and how
	// many the task has now.
	GetItems(ctx context.Context, req GetItems) (ItemBatch, error)
	// SearchLog searches a task's whole log (a running task's in its file
	// on this node) and returns a page of the matches.
	SearchLog(ctx context.Context, req SearchLog) (LogSearch, error)
	// CancelTask stops a running task and its whole process tree; a task
	// not running on this node is not an error.
	CancelTask(ctx context.Context, req CancelTask) error
	// SyncSpider fetches a spider's files (md5-checked) and reports the
	// outcome with an EvSpiderSynced event.
	SyncSpider(ctx context.Context, req SyncSpider) error
	// TaskAvailable says new work is queued: poll for it now.
	TaskAvailable(ctx context.Context, req TaskAvailable) error
}

// operation is one row of the table of what a Node answers.
type operation struct {
	// reply is set for bidirectional operations.
	reply bool
	// serve decodes the payload and calls the Node.
	serve func(ctx context.Context, n Node, payload json.RawMessage) (any, error)
}

// operations is the one table of the operations masters send to agents:
// adding one means a constant above, a method on Node and a row here.
var operations = map[string]operation{
	OpPing: {reply: true, serve: func(ctx context.Context, n Node, _ json.RawMessage) (any, error) {
		return struct{}{}, n.Ping(ctx)
	}},
	OpGetSysinfo: {reply: true, serve: func(ctx context.Context, n Node, _ json.RawMessage) (any, error) {
		return n.SysInfo(ctx)
	}},
	OpGetLog:        {reply: true, serve: request(OpGetLog, Node.GetLog)},
	OpGetItems:      {reply: true, serve: request(OpGetItems, Node.GetItems)},
	OpSearchLog:     {reply: true, serve: request(OpSearchLog, Node.SearchLog)},
	OpCancelTask:    {serve: command(OpCancelTask, Node.CancelTask)},
	OpSyncSpider:    {serve: command(OpSyncSpider, Node.SyncSpider)},
	OpTaskAvailable: {serve: command(OpTaskAvailable, Node.TaskAvailable)},
}

// Bidirectional reports whether op expects a reply.
func Bidirectional(op string) bool { return operations[op].reply }

func decode[Req any](op string, payload json.RawMessage) (Req, error) {
	var req Req
	if len(payload) == 0 {
		return req, nil
	}
	if err := json.Unmarshal(payload, &req); err != nil {
		return req, fmt.Errorf("bad %s payload: %w", op, err)
	}
	return req, nil
}

func request[Req, Rep any](op string, f func(Node, context.Context, Req) (Rep, error)) func(context.Context, Node, json.RawMessage) (any, error) {
	return func(ctx context.Context, n Node, payload json.RawMessage) (any, error) {
		req, err := decode[Req](op, payload)
		if err != nil {
			return nil, err
		}
		return f(n, ctx, req)
	}
}

func command[Req any](op string, f func(Node, context.Context, Req) error) func(context.Context, Node, json.RawMessage) (any, error) {
	return func(ctx context.Context, n Node, payload json.RawMessage) (any, error) {
		req, err := decode[Req](op, payload)
		if err != nil {
			return nil, err
		}
		return nil, f(n, ctx, req)
	}
}
