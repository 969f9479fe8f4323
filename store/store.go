// Package store defines crawlhub's durable state: one small interface per
// aggregate (nodes, spiders, tasks, files, task logs, schedules, items,
// users, credentials, the audit log). Two
// implementations exist, store/mongo (production, cluster mode) and
// store/sqlite (the all-in-one default); both pass the conformance suite in
// store/storetest.
//
// The store is never used for mutual exclusion: FerretDB's filtered updates
// are not atomic, so claims go through the bus (see bus.Bus.Claim) and are
// then recorded here, with Tasks.UpdateIf so that a status change never
// overwrites another made meanwhile where the backend is atomic.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Implementations wrap them with %w.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrLogGap means AppendLog was given lines that start past the end of
	// the stored log: storing them would leave a hole.
	ErrLogGap = errors.New("log lines would leave a gap")
	// ErrStale means a compare-and-set found the record changed: its status
	// was no longer the one expected (see Tasks.UpdateIf).
	ErrStale = errors.New("changed meanwhile")
	// ErrUnavailable means the store's server could not be reached, or did
	// not answer in time: the call may succeed once it is back.
	ErrUnavailable = errors.New("the store is unavailable")
)

// Unreachable is implemented by a store whose driver can tell, from an
// error one of its calls returned, that the server could not be reached
// (store/mongo: a network error or no server to select). A caller wraps
// such an error in ErrUnavailable, so that it needs no driver to know.
type Unreachable interface {
	Unreachable(err error) bool
}

// Now is the store's clock precision: milliseconds, UTC (MongoDB's).
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// Node statuses.
const (
	NodeOnline  = "online"
	NodeOffline = "offline"
)

// Node is a machine that runs an agent (or the all-in-one).
type Node struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Hostname string    `json:"hostname"`
	IP       string    `json:"ip"`
	MAC      string    `json:"mac"`
	OS       string    `json:"os"`
	Arch     string    `json:"arch"`
	Version  string    `json:"version"`
	IsMaster bool      `json:"is_master"`
	Status   string    `json:"status"`
	LastSeen time.Time `json:"last_seen"`
	Created  time.Time `json:"created"`
}

// Nodes stores nodes. Safe for concurrent use.
type Nodes interface {
	// Register inserts n, or replaces the node with n.ID keeping its
	// Created time. A zero n.Created is set to now on insert.
	Register(ctx context.Context, n *Node) error
	// Get returns ErrNotFound for an unknown id.
	Get(ctx context.Context, id string) (*Node, error)
	// List returns every node, ordered by name then id.
	List(ctx context.Context) ([]Node, error)
	// Touch records a heartbeat: status online, LastSeen = at.
	// ErrNotFound for an unknown id.
	Touch(ctx context.Context, id string, at time.Time) error
	// SetOffline marks one node offline (a graceful agent shutdown).
	SetOffline(ctx context.Context, id string) error
	// MarkStale marks offline every online node whose LastSeen is before
	// before, and returns the nodes it changed (with Status offline).
	MarkStale(ctx context.Context, before time.Time) ([]Node, error)
}

// Spider is a crawler: an archive of files and the command that runs it.
type Spider struct {
	ID      string            `json:"id"`
	Name    string            `json:"name"`
	Command string            `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	// File is the name of the archive in Files; MD5 and Size describe it.
	File string `json:"file"`
	MD5  string `json:"md5"`
	Size int64  `json:"size"`
	// DedupKeys are the top-level fields that make one of its items
	// unique (e.g. ["url"]); none means every item is new. Dedup is the
	// policy, DedupIgnore or DedupOverwrite (see Item).
	DedupKeys []string  `json:"dedup_keys,omitempty"`
	Dedup     string    `json:"dedup,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// Spiders stores spiders. Names are unique.
type Spiders interface {
	// Create stores s (s.ID must be set); ErrConflict if the name is taken.
	Create(ctx context.Context, s *Spider) error
	Get(ctx context.Context, id string) (*Spider, error)
	GetByName(ctx context.Context, name string) (*Spider, error)
	// List returns every spider ordered by name.
	List(ctx context.Context) ([]Spider, error)
	// Update replaces the spider with s.ID; ErrNotFound, or ErrConflict for
	// a name another spider has.
	Update(ctx context.Context, s *Spider) error
	Delete(ctx context.Context, id string) error
}

// Task statuses.
const (
	TaskPending   = "pending"
	TaskRunning   = "running"
	TaskFinished  = "finished"
	TaskError     = "error"
	TaskCancelled = "cancelled"
	TaskAbnormal  = "abnormal"
)

// TaskEnded reports whether status is final.
func TaskEnded(status string) bool {
	switch status {
	case TaskFinished, TaskError, TaskCancelled, TaskAbnormal:
		return true
	}
	return false
}

// Task is one run of a spider's command on one node.
type Task struct {
	ID         string `json:"id"`
	SpiderID   string `json:"spider_id"`
	SpiderName string `json:"spider_name"`
	// NodeID is the node the task must run on, or "" for any node until an
	// agent claims it, then the node that runs it.
	NodeID   string            `json:"node_id"`
	Mode     string            `json:"mode"`
	Status   string            `json:"status"`
	Command  string            `json:"command"`
	Params   string            `json:"params,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Timeout  int64             `json:"timeout_seconds,omitempty"`
	ExitCode *int              `json:"exit_code,omitempty"`
	// Reason says why the task is in its status, for people: "exit code 2",
	// "cancelled by admin: …", "node X went offline", "waiting for node X".
	Reason   string `json:"reason,omitempty"`
	LogLines int64  `json:"log_lines"`
	// LogLevels counts the log's error and warning lines (live while the
	// task runs, like LogLines); ScrapyStats is the stats dump Scrapy
	// prints at its end, when the log has one.
	LogLevels   LogLevels      `json:"log_levels"`
	ScrapyStats map[string]any `json:"scrapy_stats,omitempty"`
	// ItemCount is how many items the task saved (live while it runs, like
	// LogLines), and ItemStats what deduplication made of them.
	ItemCount int64      `json:"item_count"`
	ItemStats ItemCounts `json:"item_stats"`
	// ScheduleID is the schedule that fired the task, if one did.
	ScheduleID string `json:"schedule_id,omitempty"`
	// WaitFor is a task this one waits for: it stays pending until that
	// task has ended (a schedule's overlap "queue").
	WaitFor string `json:"wait_for,omitempty"`
	// CreatedBy names who ran the task (auth.Principal.Actor, or
	// "schedule <name>"); CancelledBy who cancelled it.
	CreatedBy   string    `json:"created_by,omitempty"`
	CancelledBy string    `json:"cancelled_by,omitempty"`
	Created     time.Time `json:"created"`
	Started     time.Time `json:"started,omitzero"`
	Finished    time.Time `json:"finished,omitzero"`
}

// LogLevels counts a log's lines by level.
type LogLevels struct {
	Error   int64 `json:"error"`
	Warning int64 `json:"warning"`
}

// TaskFilter selects tasks; zero fields match everything. Limit zero means
// no limit.
type TaskFilter struct {
	Status   string `json:"status,omitempty"`
	SpiderID string `json:"spider_id,omitempty"`
	NodeID   string `json:"node_id,omitempty"`
	// ScheduleID selects the tasks one schedule fired.
	ScheduleID string `json:"schedule_id,omitempty"`
	Limit      int    `json:"limit,omitempty"`
	Offset     int    `json:"offset,omitempty"`
}

// Tasks stores tasks.
type Tasks interface {
	// Create stores t (t.ID must be set); ErrConflict if a task with that
	// id exists, which makes a task with an id derived from what caused
	// it (a schedule's fire time) impossible to create twice.
	Create(ctx context.Context, t *Task) error
	// CreateMany stores each of ts whose id is new, in one write where the
	// store can, and says which it stored: created[i] is false when a task
	// with ts[i].ID existed already (the Create's ErrConflict). On an
	// error, none of ts were stored (SQLite) or an unknown part of them
	// (MongoDB).
	CreateMany(ctx context.Context, ts []Task) (created []bool, err error)
	Get(ctx context.Context, id string) (*Task, error)
	// List returns the matching tasks, newest first (by Created, then id),
	// and how many match in all regardless of Limit and Offset.
	List(ctx context.Context, f TaskFilter) ([]Task, int, error)
	// Pending returns up to limit pending tasks that nodeID may run: those
	// targeted at it and those for any node (NodeID ""), oldest first.
	Pending(ctx context.Context, nodeID string, limit int) ([]Task, error)
	// Active returns, for each of scheduleIDs that has one, the newest
	// (by Created, then id) of its tasks that is pending or running.
	Active(ctx context.Context, scheduleIDs []string) (map[string]Task, error)
	// Update replaces the task with t.ID; ErrNotFound for an unknown id.
	Update(ctx context.Context, t *Task) error
	// UpdateIf replaces the task with t.ID only if its stored status is
	// status (a compare-and-set, so that a cancel and an agent's claim or
	// end cannot overwrite each other): ErrNotFound for an unknown id,
	// ErrStale (wrapped) if the stored status differs, in which case
	// nothing is written. On MongoDB the filter and the replace are one
	// atomic operation; FerretDB v1 does not make them atomic under
	// concurrency, which is why a task's claim still goes through the bus
	// (bus.Bus.Claim) and UpdateIf only guards the record.
	UpdateIf(ctx context.Context, t *Task, status string) error
	Delete(ctx context.Context, id string) error
}

// Files stores blobs by name (GridFS in MongoDB, plain files beside the
// SQLite database). Put replaces an existing blob of the same name.
type Files interface {
	Put(ctx context.Context, name string, r io.Reader) (md5hex string, size int64, err error)
	// Open returns ErrNotFound for an unknown name.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	Delete(ctx context.Context, name string) error
}

// MaxLogLineBytes is the longest line AppendLog takes, in every store:
// MongoDB's 16 MiB document limit sets the bound, and a line one store
// keeps should not be one the other refuses.
const MaxLogLineBytes = 8 << 20

// CheckAppend is what every store's AppendLog checks first: a line number
// of 0 or more, and no line longer than MaxLogLineBytes.
func CheckAppend(from int64, lines []string) error {
	if from < 0 {
		return errors.New("negative line number")
	}
	for i, line := range lines {
		if len(line) > MaxLogLineBytes {
			return fmt.Errorf("line %d is %d bytes, more than the %d a log line may have", from+int64(i), len(line), MaxLogLineBytes)
		}
	}
	return nil
}

// Logs stores task logs as numbered lines (from 0).
type Logs interface {
	// AppendLog stores lines as numbers from, from+1, …. Lines already
	// stored are skipped (appending is idempotent); from past the stored
	// length is ErrLogGap.
	AppendLog(ctx context.Context, taskID string, from int64, lines []string) error
	// ReadLog returns up to limit lines starting at line from (fewer at the
	// end of the log; none past it).
	ReadLog(ctx context.Context, taskID string, from int64, limit int) ([]string, error)
	// LogLen returns how many lines are stored (0 for an unknown task).
	LogLen(ctx context.Context, taskID string) (int64, error)
	// ScanLog calls fn with each stored line from line from on, in order,
	// until fn returns false or the log ends (a search reads the whole log
	// through it without holding it in memory).
	ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error
	DeleteLog(ctx context.Context, taskID string) error
}

// Store bundles the aggregates of one backend.
type Store interface {
	Nodes() Nodes
	Spiders() Spiders
	Tasks() Tasks
	Files() Files
	Logs() Logs
	Schedules() Schedules
	Items() Items
	Users() Users
	Credentials() Credentials
	Audit() Audit
	Stats() Stats
	NodeMetrics() NodeMetrics
	Webhooks() Webhooks
	// Ping checks the backend is reachable (for /readyz).
	Ping(ctx context.Context) error
	Close(ctx context.Context) error
}
