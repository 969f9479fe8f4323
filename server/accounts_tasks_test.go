package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// taskOf reads a task from the store.
func (e *env) taskOf(id string) store.Task {
	e.t.Helper()
	tk, err := e.st.Tasks().Get(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return *tk
}

// waitStatus waits for the task_status event of a task reaching status.
func (e *env) waitStatus(id, status string) store.Task {
	e.t.Helper()
	e.tap.wait(func(env *wire.Envelope) bool {
		var ts wire.TaskStatus
		return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == id && ts.Status == status
	})
	return e.taskOf(id)
}

// Tasks record who ran and who cancelled them, over REST and JSON-RPC
// alike, and the audit log says the same.
func TestTasksRecordWhoAsked(t *testing.T) {
	e := newEnv(t)
	_, secret := e.member("alice", auth.Operator)
	const alice = "alice (token alice-script)"
	sp := e.spider("quick", "echo hi\n")

	var l struct{ Items []store.Task }
	st, b := e.as(secret, "POST", "/api/tasks", map[string]any{"spider_id": sp.ID})
	if st != 201 || json.Unmarshal([]byte(b), &l) != nil || len(l.Items) != 1 {
		t.Fatalf("run over REST: %d %s", st, b)
	}
	if l.Items[0].CreatedBy != alice || e.taskOf(l.Items[0].ID).CreatedBy != alice {
		t.Errorf("run over REST: created_by %q, stored %q, want %q", l.Items[0].CreatedBy, e.taskOf(l.Items[0].ID).CreatedBy, alice)
	}
	e.wantAudit(server.AuditTaskRun, l.Items[0].ID, "spider quick")
	first := e.waitStatus(l.Items[0].ID, store.TaskFinished)

	ws, _ := e.dialAs(secret)
	r := ws.call(wsapi.MethodTaskRun, `{"spider_id":"`+sp.ID+`"}`)
	var rl struct {
		Result struct{ Items []store.Task }
	}
	if json.Unmarshal([]byte(r), &rl) != nil || len(rl.Result.Items) != 1 || rl.Result.Items[0].CreatedBy != alice {
		t.Errorf("run over JSON-RPC: %s, want created_by %q", r, alice)
	} else {
		e.wantAudit(server.AuditTaskRun, rl.Result.Items[0].ID)
	}

	st, b = e.as(secret, "POST", "/api/tasks/"+first.ID+"/restart", nil)
	var again store.Task
	if st != 201 || json.Unmarshal([]byte(b), &again) != nil || again.CreatedBy != alice {
		t.Errorf("restart: %d %s, want created_by %q", st, b, alice)
	} else {
		e.wantAudit(server.AuditTaskRestart, first.ID, "as task "+again.ID)
	}

	// A running task is stopped by its node, which records who asked.
	running := e.runningTask()
	if st, b := e.as(secret, "POST", "/api/tasks/"+running.ID+"/cancel", map[string]string{"reason": "enough"}); st != 202 {
		t.Fatalf("cancel over REST: %d %s", st, b)
	}
	got := e.waitStatus(running.ID, store.TaskCancelled)
	if got.CancelledBy != alice || got.Reason != "cancelled by "+alice+": enough" {
		t.Errorf("cancelled over REST: cancelled_by %q, reason %q", got.CancelledBy, got.Reason)
	}
	e.wantAudit(server.AuditTaskCancel, running.ID, "enough")

	running = e.runningTask()
	if r := ws.call(wsapi.MethodTaskCancel, `{"task_id":"`+running.ID+`"}`); !strings.Contains(r, `"result"`) {
		t.Fatalf("cancel over JSON-RPC: %s", r)
	}
	if got := e.waitStatus(running.ID, store.TaskCancelled); got.CancelledBy != alice || got.Reason != "cancelled by "+alice {
		t.Errorf("cancelled over JSON-RPC: cancelled_by %q, reason %q", got.CancelledBy, got.Reason)
	}

	// A pending task is cancelled by the master.
	e.stopAgent()
	st, b = e.as(secret, "POST", "/api/tasks", map[string]any{"spider_id": sp.ID})
	if st != 201 || json.Unmarshal([]byte(b), &l) != nil || len(l.Items) != 1 {
		t.Fatalf("run with no agent: %d %s", st, b)
	}
	if r := ws.call(wsapi.MethodTaskCancel, `{"task_id":"`+l.Items[0].ID+`"}`); !strings.Contains(r, `"cancelled_by":"`+alice+`"`) {
		t.Errorf("cancel of a pending task over JSON-RPC: %s", r)
	}
	if got := e.taskOf(l.Items[0].ID); got.CancelledBy != alice || got.Reason != "cancelled by "+alice {
		t.Errorf("pending task cancelled: cancelled_by %q, reason %q", got.CancelledBy, got.Reason)
	}
}

// A schedule's fires are the schedule's doing.
func TestScheduledTasksNameTheirSchedule(t *testing.T) {
	e := newEnv(t)
	_, secret := e.member("alice", auth.Operator)
	sp := e.spider("tick", "echo tick\n")
	st, b := e.as(secret, "POST", "/api/schedules", map[string]any{"spider_id": sp.ID, "cron": "@every 1s", "name": "ticker"})
	if st != 201 {
		t.Fatalf("create schedule: %d %s", st, b)
	}
	var sch struct{ ID string }
	json.Unmarshal([]byte(b), &sch)
	e.wantAudit(server.AuditScheduleCreate, sch.ID, "ticker")
	env := e.tap.wait(func(env *wire.Envelope) bool { return env.Type == wire.EvScheduleFired })
	var fired wire.ScheduleFired
	if err := json.Unmarshal(env.Payload, &fired); err != nil || len(fired.TaskIDs) == 0 {
		t.Fatalf("schedule_fired %s: %v", env.Payload, err)
	}
	if got := e.taskOf(fired.TaskIDs[0]); got.CreatedBy != "schedule ticker" {
		t.Errorf("a fired task's created_by is %q, want %q", got.CreatedBy, "schedule ticker")
	}
}
