package store

import (
	"context"
	"time"
)

// Overlap policies: what a schedule does at a fire time while a task it
// fired earlier is still pending or running.
const (
	OverlapAllow = "allow" // fire anyway
	OverlapSkip  = "skip"  // do not fire; record the skip (the default)
	OverlapQueue = "queue" // fire; the new task waits for a free slot
)

// Misfire policies: what a schedule does about fire times missed while no
// master was running.
const (
	MisfireSkip = "skip" // forget them (the default)
	MisfireOnce = "once" // fire once on start if one was missed within 24 h
)

// Schedule runs a spider at the fire times of a cron expression. The task
// fields (Mode, NodeIDs, Params, Env, Timeout) mean what they mean for a
// task run by hand.
type Schedule struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	SpiderID   string            `json:"spider_id"`
	SpiderName string            `json:"spider_name"`
	Cron       string            `json:"cron"`
	Timezone   string            `json:"timezone"` // an IANA name; "" means UTC
	Mode       string            `json:"mode"`
	NodeIDs    []string          `json:"node_ids,omitempty"`
	Params     string            `json:"params,omitempty"`
	Env        map[string]string `json:"env,omitempty"`
	Timeout    int64             `json:"timeout_seconds,omitempty"`
	Overlap    string            `json:"overlap"`
	Misfire    string            `json:"misfire"`
	Enabled    bool              `json:"enabled"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`

	// What the schedule last did; written by Record,
	// never by Create or Update.
	LastFire       time.Time `json:"last_fire,omitzero"`
	LastTaskID     string    `json:"last_task_id,omitempty"`
	LastSkip       time.Time `json:"last_skip,omitzero"`
	LastSkipReason string    `json:"last_skip_reason,omitempty"`
}

// Schedules stores schedules. Names are unique. Safe for concurrent use.
type Schedules interface {
	// Create stores s (s.ID must be set); ErrConflict if the name is taken.
	Create(ctx context.Context, s *Schedule) error
	// Get returns ErrNotFound for an unknown id.
	Get(ctx context.Context, id string) (*Schedule, error)
	// List returns every schedule, ordered by name then id.
	List(ctx context.Context) ([]Schedule, error)
	// Update replaces what a user sets (every field but ID, Created and
	// the Last* fields, which it leaves as they are, so an edit never
	// undoes a fire recorded meanwhile); ErrNotFound, or ErrConflict for a
	// name another schedule has.
	Update(ctx context.Context, s *Schedule) error
	// Delete returns ErrNotFound for an unknown id.
	Delete(ctx context.Context, id string) error
	// Record writes what schedules did at fire times (LastFire and
	// LastTaskID, or LastSkip and LastSkipReason), all in one write where
	// the store can: a minute's fires of thousands of schedules are one
	// call. An outcome of a schedule that is gone (deleted meanwhile) is
	// dropped.
	Record(ctx context.Context, outcomes ...Outcome) error
}

// Outcome is what a schedule did at one fire time: it fired and created
// TaskID (its first task, when it made several), or it skipped, for Reason.
type Outcome struct {
	ScheduleID string
	At         time.Time
	TaskID     string
	Skipped    bool
	Reason     string
}
