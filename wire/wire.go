// Package wire is the node-communication contract shared by masters and
// agents: channel names, the message envelope, operation names and their
// payloads. Nothing else in crawlhub spells these out.
package wire

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Channel names, as in the original design.
const (
	// MasterChannel is subscribed by every master; agents publish replies and
	// events on it.
	MasterChannel = "nodes:master"
	nodePrefix    = "nodes:"
	logPrefix     = "logs:"
	itemsPrefix   = "items:"
)

// NodeChannel is the channel the agent with the given node id subscribes to;
// masters publish requests and one-way commands on it.
func NodeChannel(nodeID string) string { return nodePrefix + nodeID }

// LogChannel carries the live log batches of one task.
func LogChannel(taskID string) string { return logPrefix + taskID }

// IsLogChannel reports whether channel is a LogChannel.
func IsLogChannel(channel string) bool { return strings.HasPrefix(channel, logPrefix) }

// ItemsChannel carries the live item batches of one task.
func ItemsChannel(taskID string) string { return itemsPrefix + taskID }

// IsItemsChannel reports whether channel is an ItemsChannel.
func IsItemsChannel(channel string) bool { return strings.HasPrefix(channel, itemsPrefix) }

// Sharded reports whether channel travels on sharded PubSub (SSUBSCRIBE /
// SPUBLISH) when the bus is a Redis Cluster: the per-node and per-task
// channels, each heard by one process or a few, so their traffic stays on
// the shard that owns the channel instead of crossing every node.
// nodes:master, which every master hears, stays ordinary PubSub. On a
// single Redis every channel is ordinary PubSub.
func Sharded(channel string) bool {
	if channel == MasterChannel {
		return false
	}
	return strings.HasPrefix(channel, nodePrefix) || IsLogChannel(channel) || IsItemsChannel(channel)
}

// Claim keys (bus.Bus.Claim): whoever sets one first does the work it
// names, once across every master and agent.

// TaskClaimKey is claimed by the agent that runs the task, or by the
// master that cancels it while it is pending: whoever has it decides
// whether the task runs, and records that in the store.
func TaskClaimKey(taskID string) string { return "crawlhub:claim:task:" + taskID }

// TaskClaimTTL is how long a task's claim holds. Its winner records the
// outcome (running, or cancelled) right after claiming, so it only
// matters when the winner died in between: the task may then be claimed
// again once the claim expires.
const TaskClaimTTL = 2 * time.Minute

// FireClaimKey is claimed by the master that fires a schedule at a fire
// time; FireDoneKey by the master that completes that fire (the same one,
// unless it died on the way and another took over).
func FireClaimKey(scheduleID string, at time.Time) string {
	return "crawlhub:claim:fire:" + scheduleID + ":" + strconv.FormatInt(at.Unix(), 10)
}

// FireDoneKey: see FireClaimKey.
func FireDoneKey(scheduleID string, at time.Time) string {
	return "crawlhub:claim:fired:" + scheduleID + ":" + strconv.FormatInt(at.Unix(), 10)
}

// DeliveryClaimKey is claimed by the master that makes attempt number
// attempt (from 0) of a webhook delivery: each attempt is sent by one
// master, whichever masters saw the event.
func DeliveryClaimKey(deliveryID string, attempt int) string {
	return "crawlhub:claim:delivery:" + deliveryID + ":" + strconv.Itoa(attempt)
}

// DeliveryClaimTTL is how long an attempt's claim holds: longer than an
// attempt may take (its request's timeout) and the record of its outcome,
// so that it only expires, letting another master try again, when the
// master that claimed it died mid-attempt.
const DeliveryClaimTTL = 2 * time.Minute

// Operations (Envelope.Type). Requests go master → agent on NodeChannel;
// replies carry the same Type and set Re. What an agent does with each is
// the Node interface (node.go).
const (
	OpGetLog        = "get_log"        // bidirectional
	OpGetItems      = "get_items"      // bidirectional
	OpSearchLog     = "search_log"     // bidirectional: a running task's log, searched on its node
	OpGetSysinfo    = "get_sysinfo"    // bidirectional
	OpPing          = "ping"           // bidirectional, empty payload both ways
	OpCancelTask    = "cancel_task"    // one-way
	OpSyncSpider    = "sync_spider"    // one-way
	OpTaskAvailable = "task_available" // one-way
)

// Events, published on MasterChannel without Re: by agents, and by masters
// for each other (a task's status set by a master, schedule changes).
const (
	EvHeartbeat    = "heartbeat"
	EvTaskStatus   = "task_status"
	EvSpiderSynced = "spider_synced"
	// Published by masters, for the other masters.
	EvScheduleChanged = "schedule_changed"
	EvScheduleFired   = "schedule_fired"
	// EvCredentialsRevoked (CredentialsRevoked): sessions or tokens were
	// revoked; every master closes the WebSockets opened with them.
	EvCredentialsRevoked = "credentials_revoked"
	// EvAudit carries a store.AuditEntry a master recorded, for every
	// master's subscribers of the audit channel.
	EvAudit = "audit"
	// EvDelivery carries a store.Delivery a master attempted (its body
	// left out), for every master's subscribers of the webhooks channel.
	EvDelivery = "webhook_delivery"
)

// CredentialsRevoked is the payload of EvCredentialsRevoked: the ids of
// the revoked credentials (store.Credential.ID).
type CredentialsRevoked struct {
	IDs []string `json:"ids"`
	// Above, when set, limits the closing to connections acting at a
	// higher role than it (a demoted user's): the credentials stay valid,
	// and a connection reopened at the new role is left alone.
	Above string `json:"above,omitempty"`
}

// Envelope is one PubSub message.
type Envelope struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	NodeID  string          `json:"node_id,omitempty"`
	Re      string          `json:"re,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
	Error   string          `json:"error,omitempty"`
}

// Heartbeat is the payload of EvHeartbeat.
type Heartbeat struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
	// Stopping is set on the last heartbeat of an agent shutting down
	// cleanly, so masters mark it offline at once instead of after 3 beats.
	Stopping bool `json:"stopping,omitempty"`
	// Metrics is the node's load at At; absent from agents that do not
	// report it (older versions), and on the last heartbeat.
	Metrics *NodeMetrics `json:"metrics,omitempty"`
}

// NodeMetrics is a node's load as one heartbeat reports it. Rates and the
// CPU share are over the time since the previous heartbeat. A figure the
// node's system cannot give is zero.
type NodeMetrics struct {
	// CPU is the share of all CPUs busy, 0–100.
	CPU      float64 `json:"cpu"`
	MemUsed  uint64  `json:"mem_used"`
	MemTotal uint64  `json:"mem_total"`
	// DiskUsed and DiskTotal are of the file system holding the agent's
	// data directory; used is the total less what the agent may still
	// write (as SysInfo's DiskFree).
	DiskUsed  uint64 `json:"disk_used"`
	DiskTotal uint64 `json:"disk_total"`
	// NetRx and NetTx are bytes per second received and sent, over every
	// interface but loopback.
	NetRx float64 `json:"net_rx"`
	NetTx float64 `json:"net_tx"`
	Load1 float64 `json:"load1"`
}

// SysInfo is the reply payload of OpGetSysinfo.
type SysInfo struct {
	// NodeID and Name identify the answering node.
	NodeID      string       `json:"node_id"`
	Name        string       `json:"name"`
	Hostname    string       `json:"hostname"`
	OS          string       `json:"os"`
	Platform    string       `json:"platform,omitempty"`
	Arch        string       `json:"arch"`
	Kernel      string       `json:"kernel"`
	CPUs        int          `json:"cpus"`
	CPUModel    string       `json:"cpu_model"`
	MemTotal    uint64       `json:"mem_total"`
	MemUsed     uint64       `json:"mem_used"`
	MemFree     uint64       `json:"mem_available"`
	DiskPath    string       `json:"disk_path"`
	DiskTotal   uint64       `json:"disk_total"`
	DiskFree    uint64       `json:"disk_free"`
	Load1       float64      `json:"load1"`
	Load5       float64      `json:"load5"`
	Load15      float64      `json:"load15"`
	Uptime      uint64       `json:"uptime_seconds"`
	Executables []Executable `json:"executables"`
	Version     string       `json:"crawlhub_version"`
}

// Executable reports whether a tool spiders commonly need is installed.
type Executable struct {
	Name      string `json:"name"`
	Path      string `json:"path,omitempty"`
	Version   string `json:"version,omitempty"`
	Installed bool   `json:"installed"`
}

// GetLog is the request payload of OpGetLog.
type GetLog struct {
	TaskID string `json:"task_id"`
	From   int64  `json:"from"`
	Limit  int    `json:"limit"`
}

// SearchLog is the request payload of OpSearchLog: a search of a task's
// whole log (package logsearch has the semantics and the limits).
type SearchLog struct {
	TaskID string `json:"task_id"`
	// Q is a substring, matched ignoring case unless Case, or with Regex
	// an RE2 regular expression, as written ((?i) ignores case).
	Q     string `json:"q"`
	Regex bool   `json:"regex,omitempty"`
	Case  bool   `json:"case,omitempty"`
	// Level keeps only the lines counted as that level ("error" or
	// "warning"), with loglevel's rules.
	Level string `json:"level,omitempty"`
	// From is the first line whose matches are returned; Limit how many.
	From  int64 `json:"from"`
	Limit int   `json:"limit"`
}

// LogSearch is the reply of OpSearchLog, and the result of a log search
// on every API: the matches from line From on (at most Limit), Count the
// matches in the whole log, Next the line to continue from (-1: no more),
// Total the lines searched (the log's length when the search began).
type LogSearch struct {
	TaskID  string     `json:"task_id"`
	Matches []LogMatch `json:"matches"`
	Count   int64      `json:"count"`
	Next    int64      `json:"next"`
	Total   int64      `json:"total"`
}

// LogMatch is one matching line; Cut says Text is only the line's start.
type LogMatch struct {
	Line int64  `json:"line"`
	Text string `json:"text"`
	Cut  bool   `json:"cut,omitempty"`
}

// GetItems is the request payload of OpGetItems.
type GetItems struct {
	TaskID string `json:"task_id"`
	From   int64  `json:"from"`
	Limit  int    `json:"limit"`
}

// CancelTask is the payload of OpCancelTask.
type CancelTask struct {
	TaskID string `json:"task_id"`
	By     string `json:"by"`
	Reason string `json:"reason,omitempty"`
}

// SyncSpider is the payload of OpSyncSpider.
type SyncSpider struct {
	SpiderID string `json:"spider_id"`
}

// TaskAvailable is the payload of OpTaskAvailable.
type TaskAvailable struct {
	TaskID string `json:"task_id,omitempty"`
	// TaskIDs are new tasks the node may run, oldest first, none of them
	// waiting for another task: the node claims them without looking for
	// them in the store. Empty means "look in the store". At most
	// MaxTaskAvailableIDs; a master with more new tasks sends none and the
	// nodes look.
	TaskIDs []string `json:"task_ids,omitempty"`
}

// MaxTaskAvailableIDs bounds TaskAvailable.TaskIDs (about 27 KB of ids).
const MaxTaskAvailableIDs = 1000

// TaskStatus is the payload of EvTaskStatus: a task changed state.
type TaskStatus struct {
	TaskID   string `json:"task_id"`
	NodeID   string `json:"node_id"`
	SpiderID string `json:"spider_id"`
	Status   string `json:"status"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	LogLines int64  `json:"log_lines"`
	// LogLevels counts the log's error and warning lines so far; the
	// agent sends it again while the task runs, whenever it changes.
	LogLevels LogLevels `json:"log_levels"`
	// ItemCount is how many items the task has saved.
	ItemCount int64 `json:"item_count"`
	// Created is when the task was queued (zero from agents that predate
	// it); Started and Finished are set once it has started / ended.
	Created  time.Time `json:"created,omitzero"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// LogLevels counts a log's lines by level, as store.LogLevels does (the
// same fields, so one converts to the other).
type LogLevels struct {
	Error   int64 `json:"error"`
	Warning int64 `json:"warning"`
}

// SpiderSynced is the payload of EvSpiderSynced: the outcome of a sync.
type SpiderSynced struct {
	SpiderID string `json:"spider_id"`
	MD5      string `json:"md5"`
	// Downloaded is false when the node already had this version.
	Downloaded bool   `json:"downloaded"`
	Error      string `json:"error,omitempty"`
}

// LogBatch is lines From, From+1, … of a task's log (numbered from 0), as
// they cross the bus: each message on LogChannel, and the reply of
// OpGetLog. Total is how many lines the log had when the batch was made
// (at least From+len(Lines)). The agent's last message on LogChannel for
// a task has End set, with the task's final Status and Total, once every
// line was published.
type LogBatch struct {
	TaskID string   `json:"task_id"`
	From   int64    `json:"from"`
	Lines  []string `json:"lines"`
	End    bool     `json:"end,omitempty"`
	Status string   `json:"status,omitempty"`
	Total  int64    `json:"total"`
}

// ItemBatch is items From, From+1, … of a task (numbered from 0 in the
// order the spider saved them), as they cross the bus: each message on
// ItemsChannel, and the reply of OpGetItems. Each item is a compact JSON
// object. Total is how many items the task had when the batch was made.
// The agent's last message on ItemsChannel for a task has End set, with
// the task's final Status and Total, once every item was published.
type ItemBatch struct {
	TaskID string            `json:"task_id"`
	From   int64             `json:"from"`
	Items  []json.RawMessage `json:"items"`
	End    bool              `json:"end,omitempty"`
	Status string            `json:"status,omitempty"`
	Total  int64             `json:"total"`
}

// Schedule changes (ScheduleChanged.Change).
const (
	ScheduleCreated = "created"
	ScheduleUpdated = "updated"
	ScheduleDeleted = "deleted"
)

// ScheduleChanged is the payload of EvScheduleChanged: a schedule was
// created, edited or deleted; every master reloads it and passes it on to
// its WebSocket clients.
type ScheduleChanged struct {
	ScheduleID string `json:"schedule_id"`
	Change     string `json:"change"`
	// Schedule is the schedule as the API shows it (absent once deleted),
	// so that masters pass it on without reading the store.
	Schedule json.RawMessage `json:"schedule,omitempty"`
}

// ScheduleFired is the payload of EvScheduleFired: a schedule fired at a
// fire time (TaskIDs), or skipped it (Skipped, with the Reason).
type ScheduleFired struct {
	ScheduleID string    `json:"schedule_id"`
	Name       string    `json:"name"`
	At         time.Time `json:"at"`
	TaskIDs    []string  `json:"task_ids,omitempty"`
	Skipped    bool      `json:"skipped,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

// StatsFoldKey is claimed by the master that folds the overview's task
// ends into its rollups (store.Stats.Fold): one fold at a time in the
// cluster, for at most StatsFoldTTL.
const StatsFoldKey = "crawlhub:claim:stats-fold"

// StatsFoldTTL bounds a fold: its claim expires then, so the master that
// holds it stops folding before (see server/stats.go).
const StatsFoldTTL = 10 * time.Minute
