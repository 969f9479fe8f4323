// Package wsapi is the contract of crawlhub's WebSocket API (/ws) as a
// client sees it: the JSON-RPC method names, the channels a client
// subscribes to, the error and close codes, and the shapes of what the
// server pushes. The master's hub, the Go client and the command line all
// take these names from here, and docs/websocket-api.md describes them for
// everyone else. The bus between masters and agents has its own contract,
// in package wire.
package wsapi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Methods a client calls.
const (
	MethodSubscribe   = "subscribe"   // SubscribeParams → {"channel", "since"}
	MethodUnsubscribe = "unsubscribe" // UnsubscribeParams → {"channel"}
	MethodNodesList   = "nodes.list"
	MethodNodeSysinfo = "node.sysinfo"
	MethodTasksList   = "tasks.list"
	MethodTaskRun     = "task.run"
	MethodTaskCancel  = "task.cancel"
	MethodTaskLog     = "task.log"
	MethodTaskItems   = "task.items" // {"task_id", "from", "limit"} → {"task_id", "from", "items", "total"}
	MethodSpidersList = "spiders.list"

	MethodSchedulesList   = "schedules.list"
	MethodScheduleGet     = "schedule.get"     // {"id"}
	MethodScheduleCreate  = "schedule.create"  // the body of POST /api/schedules
	MethodScheduleUpdate  = "schedule.update"  // {"id", and the fields to change}
	MethodScheduleDelete  = "schedule.delete"  // {"id"}
	MethodScheduleRun     = "schedule.run"     // {"id"}: fire now
	MethodSchedulePreview = "schedule.preview" // {"cron", "timezone"}: the next five fire times

	MethodMe        = "me"         // who the connection acts as: the body of GET /api/me
	MethodAuditList = "audit.list" // {"action", "user_id", "target", "limit", "offset"} (admin)

	// Insight: the overview, node history, log search, alerts.
	MethodStats         = "stats"           // {"from", "to", "bucket"}: the body of GET /api/stats
	MethodNodeMetrics   = "node.metrics"    // {"id", "range": "1h"|"24h"|"7d"}: the body of GET /api/nodes/:id/metrics
	MethodTaskLogSearch = "task.log.search" // {"task_id", "q", "regex", "from", "limit"}: the body of GET /api/tasks/:id/log/search
	MethodWebhooksList  = "webhooks.list"
	MethodWebhookCreate = "webhook.create"     // the body of POST /api/webhooks
	MethodWebhookUpdate = "webhook.update"     // {"id", and the fields to change}
	MethodWebhookDelete = "webhook.delete"     // {"id"}
	MethodWebhookTest   = "webhook.test"       // {"id"}: send a test delivery now
	MethodDeliveries    = "webhook.deliveries" // {"id", "limit"}: a webhook's last deliveries
)

// MethodPublish is the method of the notifications the server pushes on a
// subscribed channel; their params are a Publication.
const MethodPublish = "publish"

// Channels a client subscribes to. A task's log has a channel of its own:
// see LogChannel.
const (
	ChannelNodes     = "nodes"     // nodes coming and going; each heartbeat's load ({"event": "metrics"})
	ChannelTasks     = "tasks"     // task state changes
	ChannelSpiders   = "spiders"   // outcomes of spider syncs on nodes
	ChannelSchedules = "schedules" // schedules created, updated, deleted, fired, skipped
	ChannelAudit     = "audit"     // audit entries as they are recorded, on every master (admin only)
	ChannelWebhooks  = "webhooks"  // webhook deliveries as they are attempted (admin only)
	// ChannelSystem is the master's own state: {"bus": "up"|"down", …}
	// first on subscribing, then at every change.
	ChannelSystem = "system"
)

const (
	logPrefix   = "task:"
	logSuffix   = ":log"
	itemsSuffix = ":items"
)

// LogChannel is the channel of a task's log: "task:<task_id>:log". Its
// publications carry LogData.
func LogChannel(taskID string) string { return logPrefix + taskID + logSuffix }

// TaskOfLogChannel is the task whose log channel is ch; ok is false when
// ch is not a log channel.
func TaskOfLogChannel(ch string) (taskID string, ok bool) {
	if !strings.HasPrefix(ch, logPrefix) || !strings.HasSuffix(ch, logSuffix) {
		return "", false
	}
	id := strings.TrimSuffix(strings.TrimPrefix(ch, logPrefix), logSuffix)
	return id, id != ""
}

// ItemsChannel is the channel of a task's items: "task:<task_id>:items".
// Its publications carry ItemsData, with the same contract as a log's: gap
// free, each item once, resumable with since.
func ItemsChannel(taskID string) string { return logPrefix + taskID + itemsSuffix }

// TaskOfItemsChannel is the task whose items channel is ch; ok is false
// when ch is not an items channel.
func TaskOfItemsChannel(ch string) (taskID string, ok bool) {
	if !strings.HasPrefix(ch, logPrefix) || !strings.HasSuffix(ch, itemsSuffix) {
		return "", false
	}
	id := strings.TrimSuffix(strings.TrimPrefix(ch, logPrefix), itemsSuffix)
	return id, id != ""
}

// JSON-RPC error codes: the standard ones, then crawlhub's own. The
// message that comes with each says what to do next.
const (
	CodeParse          = -32700 // the frame is not JSON
	CodeInvalidRequest = -32600 // not a JSON-RPC request, or a batch
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602 // also an unknown channel or a malformed id
	CodeInternal       = -32603

	CodeNotFound          = -32001 // no such node, task or spider
	CodeNodeOffline       = -32002
	CodeTimeout           = -32003 // the node did not answer in time
	CodeUnauthorized      = -32004 // the WebSocket upgrade had no valid credential (an HTTP 401 before any JSON-RPC)
	CodeTooManySubs       = -32005 // past the subscriptions one connection may hold
	CodeConflict          = -32006 // e.g. cancelling a task that has ended
	CodeNodeError         = -32007 // the node answered with an error
	CodeUnavailable       = -32008 // the bus subscription failed (and was undone): retry
	CodeAlreadySubscribed = -32009
	CodeForbidden         = -32010 // the connection's role may not call this method: the message names the role it needs
	CodeStoreUnavailable  = -32011 // the store did not answer in time or could not be reached: retry shortly
	CodeBusUnavailable    = -32012 // the master cannot reach the cluster bus (Redis): retry once it is back
)

// Error is a JSON-RPC error object: a code from the list above and a
// message a person can act on.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

// Close codes the server ends a connection with.
const (
	CloseNormal     = 1000
	CloseGoingAway  = 1001 // the server is shutting down
	CloseTooLarge   = 1009 // the client sent a frame over the limit
	CloseSlowClient = 4008 // the client did not read what it was sent in time: reconnect and resubscribe with since
	// CloseRevoked: the credential the connection opened with was revoked
	// or expired, or its user was disabled or deleted: sign in again.
	CloseRevoked = 4001
	// CloseServiceRestart: this master is shutting down (draining):
	// reconnect at once, to another master or through the load balancer,
	// and resubscribe with since. Not an error of the client's.
	CloseServiceRestart = 1012
)

// SubscribeParams are the params of MethodSubscribe. Since applies to log
// channels only: the first line to send (default 0).
type SubscribeParams struct {
	Channel string `json:"channel"`
	Since   *int64 `json:"since,omitempty"`
}

// UnsubscribeParams are the params of MethodUnsubscribe.
type UnsubscribeParams struct {
	Channel string `json:"channel"`
}

// Publication is the params of a MethodPublish notification: data on a
// channel. The server sends Publication[any], with whatever the channel
// carries; a client reads Publication[json.RawMessage] and decodes Data by
// channel (LogData on a task's log).
type Publication[D any] struct {
	Channel string `json:"channel"`
	Data    D      `json:"data"`
}

// LogData is the data of a publication on a task's log channel: lines
// From, From+1, … (line numbers start at 0), or, once and last, the end
// (End true) with the task's final Status and the log's Total length.
//
// On the wire these are two shapes, {"from", "lines"} and {"end",
// "status", "total"}: MarshalJSON writes the one that applies, and
// decoding either fills the fields it has.
type LogData struct {
	From   int64    `json:"from"`
	Lines  []string `json:"lines"`
	End    bool     `json:"end"`
	Status string   `json:"status"`
	Total  int64    `json:"total"`
}

// ItemsData is the data of a publication on a task's items channel: items
// From, From+1, … (numbered from 0), each the JSON object the spider saved,
// or, once and last, the end (End true) with the task's final Status and
// the number of items, Total. On the wire: {"from", "items"} or {"end",
// "status", "total"}, as LogData.
type ItemsData struct {
	From   int64             `json:"from"`
	Items  []json.RawMessage `json:"items"`
	End    bool              `json:"end"`
	Status string            `json:"status"`
	Total  int64             `json:"total"`
}

type itemsBatch struct {
	From  int64             `json:"from"`
	Items []json.RawMessage `json:"items"`
}

// MarshalJSON writes items as {"from", "items"} and the end as {"end":
// true, "status", "total"}.
func (d ItemsData) MarshalJSON() ([]byte, error) {
	if d.End {
		return json.Marshal(logEnd{End: true, Status: d.Status, Total: d.Total})
	}
	return json.Marshal(itemsBatch{From: d.From, Items: d.Items})
}

type logLines struct {
	From  int64    `json:"from"`
	Lines []string `json:"lines"`
}

type logEnd struct {
	End    bool   `json:"end"`
	Status string `json:"status"`
	Total  int64  `json:"total"`
}

// MarshalJSON writes lines as {"from", "lines"} and the end as {"end":
// true, "status", "total"}.
func (d LogData) MarshalJSON() ([]byte, error) {
	if d.End {
		return json.Marshal(logEnd{End: true, Status: d.Status, Total: d.Total})
	}
	return json.Marshal(logLines{From: d.From, Lines: d.Lines})
}
