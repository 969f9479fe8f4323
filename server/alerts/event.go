package alerts

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Event is something a webhook may be told about. Key names the
// occurrence: every master seeing the same occurrence builds the same Key
// (so the same delivery ids), and no other occurrence has it.
type Event struct {
	Name string    `json:"event"`
	Key  string    `json:"-"`
	Time time.Time `json:"time"`
	// SpiderID is the spider of a task's or schedule's event, for the
	// webhooks' spider filters ("" for a node's).
	SpiderID string    `json:"-"`
	Task     *Task     `json:"task,omitempty"`
	Node     *Node     `json:"node,omitempty"`
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Task is a task in a payload.
type Task struct {
	ID         string           `json:"id"`
	Status     string           `json:"status"`
	SpiderID   string           `json:"spider_id"`
	SpiderName string           `json:"spider_name,omitempty"`
	NodeID     string           `json:"node_id,omitempty"`
	NodeName   string           `json:"node_name,omitempty"`
	ExitCode   *int             `json:"exit_code,omitempty"`
	Reason     string           `json:"reason,omitempty"`
	ScheduleID string           `json:"schedule_id,omitempty"`
	CreatedBy  string           `json:"created_by,omitempty"`
	Started    time.Time        `json:"started,omitzero"`
	Finished   time.Time        `json:"finished,omitzero"`
	Duration   float64          `json:"duration_seconds,omitempty"`
	LogLines   int64            `json:"log_lines"`
	LogLevels  *store.LogLevels `json:"log_levels,omitempty"`
	ItemCount  int64            `json:"item_count"`
	URL        string           `json:"url,omitempty"`
}

// Node is a node in a payload.
type Node struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Status   string    `json:"status"`
	Hostname string    `json:"hostname,omitempty"`
	IP       string    `json:"ip,omitempty"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	URL      string    `json:"url,omitempty"`
}

// Schedule is a schedule's skipped fire in a payload.
type Schedule struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"`
	SpiderID   string    `json:"spider_id,omitempty"`
	SpiderName string    `json:"spider_name,omitempty"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason,omitempty"`
	URL        string    `json:"url,omitempty"`
}

// TaskEvent is the event of a task's status change, if it is one a
// webhook may want (the task ended).
func TaskEvent(ts wire.TaskStatus) (Event, bool) {
	var name string
	switch ts.Status {
	case store.TaskFinished:
		name = store.EventTaskFinished
	case store.TaskError, store.TaskAbnormal:
		name = store.EventTaskFailed
	case store.TaskCancelled:
		name = store.EventTaskCancelled
	default:
		return Event{}, false
	}
	at := ts.Finished
	if at.IsZero() {
		at = store.Now()
	}
	// A task ends once: its id and final status name the occurrence.
	return Event{Name: name, Key: "task\x00" + ts.TaskID + "\x00" + ts.Status, Time: at, SpiderID: ts.SpiderID,
		Task: &Task{ID: ts.TaskID, Status: ts.Status, SpiderID: ts.SpiderID, NodeID: ts.NodeID, ExitCode: ts.ExitCode,
			Reason: ts.Reason, Started: ts.Started, Finished: ts.Finished, LogLines: ts.LogLines, ItemCount: ts.ItemCount}}, true
}

// NodeEvent is a node going online or offline. beat is the time the
// node's agent put on the heartbeat that decided it (the first one heard,
// or the last): every master hears the same heartbeats, so it names the
// occurrence on all of them.
func NodeEvent(id, name, status string, beat time.Time) Event {
	ev := store.EventNodeOnline
	if status == store.NodeOffline {
		ev = store.EventNodeOffline
	}
	return Event{Name: ev, Key: "node\x00" + id + "\x00" + status + "\x00" + strconv.FormatInt(beat.UnixMilli(), 10),
		Time: store.Now(), Node: &Node{ID: id, Name: name, Status: status, LastSeen: beat.UTC()}}
}

// ScheduleSkipped is a schedule's fire at at, skipped for reason.
func ScheduleSkipped(id, name string, at time.Time, reason string) Event {
	return Event{Name: store.EventScheduleSkipped, Key: "schedule\x00" + id + "\x00" + strconv.FormatInt(at.UnixNano(), 10),
		Time: store.Now(), Schedule: &Schedule{ID: id, Name: name, At: at.UTC(), Reason: reason}}
}

// own returns ev with copies of what it points to, which complete then
// changes: the one who notified may still hold ev.
func (ev Event) own() Event {
	if ev.Task != nil {
		t := *ev.Task
		ev.Task = &t
	}
	if ev.Node != nil {
		n := *ev.Node
		ev.Node = &n
	}
	if ev.Schedule != nil {
		s := *ev.Schedule
		ev.Schedule = &s
	}
	return ev
}

// complete fills in what the event's source did not carry (a task's
// spider and node names, a schedule's spider) from the store, and the
// dashboard links.
func (a *Alerts) complete(ctx context.Context, ev *Event) error {
	var errs []error
	st := a.cfg.Store
	if t := ev.Task; t != nil {
		if full, err := st.Tasks().Get(ctx, t.ID); err != nil {
			errs = append(errs, err)
		} else {
			t.SpiderID, t.SpiderName, t.NodeID, t.ScheduleID = full.SpiderID, full.SpiderName, full.NodeID, full.ScheduleID
			t.CreatedBy, t.Reason, t.ExitCode = full.CreatedBy, full.Reason, full.ExitCode
			if !full.Started.IsZero() {
				t.Started = full.Started
			}
			if !full.Finished.IsZero() {
				t.Finished = full.Finished
			}
			t.LogLines, t.ItemCount = max(t.LogLines, full.LogLines), max(t.ItemCount, full.ItemCount)
			if full.LogLevels != (store.LogLevels{}) {
				lv := full.LogLevels
				t.LogLevels = &lv
			}
			ev.SpiderID = full.SpiderID
		}
		if !t.Started.IsZero() && !t.Finished.IsZero() {
			t.Duration = t.Finished.Sub(t.Started).Seconds()
		}
		if t.NodeID != "" {
			if n, err := st.Nodes().Get(ctx, t.NodeID); err == nil {
				t.NodeName = n.Name
			}
		}
		t.URL = a.link("tasks", t.ID)
	}
	if n := ev.Node; n != nil {
		if full, err := st.Nodes().Get(ctx, n.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		} else if err == nil {
			n.Hostname, n.IP = full.Hostname, full.IP
			if n.Name == "" {
				n.Name = full.Name
			}
		}
		n.URL = a.link("nodes", n.ID)
	}
	if s := ev.Schedule; s != nil {
		if full, err := st.Schedules().Get(ctx, s.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		} else if err == nil {
			s.SpiderID, s.SpiderName = full.SpiderID, full.SpiderName
			if s.Name == "" {
				s.Name = full.Name
			}
			ev.SpiderID = full.SpiderID
		}
		s.URL = a.link("schedules", s.ID)
	}
	return errors.Join(errs...)
}

// link is the dashboard's page of a thing, when the dashboard's address is
// known.
func (a *Alerts) link(section, id string) string {
	if a.cfg.PublicURL == "" {
		return ""
	}
	return a.cfg.PublicURL + "/#/" + section + "/" + id
}
