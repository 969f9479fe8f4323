package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server/scheduler"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// RunRequest asks for a spider to run: mode "any" (one task, the first
// free node takes it), "all" (one task per online node) or "nodes" (one
// task per listed node).
type RunRequest struct {
	SpiderID string            `json:"spider_id"`
	Spider   string            `json:"spider,omitempty"` // a name, instead of SpiderID
	Mode     string            `json:"mode"`
	NodeIDs  []string          `json:"node_ids,omitempty"`
	Params   string            `json:"params,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	Timeout  int64             `json:"timeout,omitempty"` // seconds; zero means none
	// Queue lets tasks for offline nodes wait until the node is back,
	// instead of refusing them.
	Queue bool `json:"queue,omitempty"`
}

// RunTasks creates the tasks of req and nudges the nodes that may take
// them. It is shared by the REST and WebSocket APIs.
func (s *Server) RunTasks(ctx context.Context, req RunRequest) ([]store.Task, error) {
	if s.busDown() {
		// No node could claim it, and no other master would hear of it.
		return nil, errBusDown("no task was created")
	}
	tasks, err := s.runTasks(ctx, req, origin{by: actor(ctx)})
	for _, t := range tasks {
		s.audit(ctx, AuditTaskRun, t.ID, "spider "+t.SpiderName+onNode(t.NodeID))
	}
	return tasks, err
}

// onNode says where a task runs, for the audit log.
func onNode(id string) string {
	if id == "" {
		return " on any node"
	}
	return " on node " + id
}

// origin is what made tasks: a person or a script (fresh ids), or a
// schedule, run now (fresh ids) or at a fire time (ids derived from the
// fire, so that masters racing for it make each task once).
type origin struct {
	scheduleID string
	at         time.Time
	// waitFor is the task the new tasks wait for (overlap "queue").
	waitFor string
	// by names who asked (Task.CreatedBy).
	by string
}

func (o origin) taskID(node string) string {
	if o.at.IsZero() {
		return store.NewID()
	}
	return scheduler.TaskID(o.scheduleID, o.at, node)
}

func (s *Server) runTasks(ctx context.Context, req RunRequest, o origin) ([]store.Task, error) {
	tasks, err := s.planner().plan(ctx, req, o)
	if err != nil {
		return nil, err
	}
	created, err := s.store.Tasks().CreateMany(ctx, tasks)
	if err != nil {
		return nil, err
	}
	for i := range tasks {
		if !created[i] { // fresh ids: cannot happen short of a broken store
			return nil, fmt.Errorf("task %s: %w", tasks[i].ID, store.ErrConflict)
		}
	}
	s.started(ctx, tasks)
	return tasks, nil
}

// started tells every master's clients about new tasks and nudges the
// nodes that may run them.
func (s *Server) started(ctx context.Context, tasks []store.Task) {
	for i := range tasks {
		s.emitTaskStatus(ctx, &tasks[i])
	}
	s.nudge(ctx, tasks)
}

// nudge tells the nodes that may run tasks which new tasks they may
// claim, so a task starts at once rather than at the next poll, and
// without a node reading the store to find it. A task that waits for
// another is not named (the node must look at what it waits for first):
// its nodes are only told to look.
func (s *Server) nudge(ctx context.Context, tasks []store.Task) {
	ids := map[string][]string{} // by node: the ids it may claim
	look := map[string]bool{}    // nodes told to look in the store
	var anyIDs []string
	anyLook := false
	for _, t := range tasks {
		switch {
		case t.WaitFor != "" && t.NodeID != "":
			look[t.NodeID] = true
		case t.WaitFor != "":
			anyLook = true
		case t.NodeID != "":
			ids[t.NodeID] = append(ids[t.NodeID], t.ID)
		default:
			anyIDs = append(anyIDs, t.ID)
		}
	}
	if len(anyIDs) > 0 || anyLook {
		on, err := s.onlineNodes(ctx)
		if err != nil {
			s.log.Warn("could not list nodes to nudge", "err", err)
			return
		}
		for _, n := range on {
			ids[n.ID] = append(ids[n.ID], anyIDs...)
			look[n.ID] = look[n.ID] || anyLook
		}
	}
	for id := range look {
		if _, ok := ids[id]; !ok {
			ids[id] = nil
		}
	}
	for id, list := range ids {
		if look[id] || len(list) > wire.MaxTaskAvailableIDs {
			list = nil
		}
		if err := s.caller.Send(ctx, id, wire.OpTaskAvailable, wire.TaskAvailable{TaskIDs: list}); err != nil {
			s.log.Warn("task_available not sent; the node will find the task at its next poll", "node_id", id, "err", err)
		}
	}
}

// CancelTask stops a task: a pending one is cancelled here, a running one
// by its node (the outcome arrives as a task_status event).
//
// A pending task may be being claimed by an agent at the same moment, so
// the master takes the task's claim itself (the one agents take, through
// the bus) before it records the cancel: if it wins, no agent will run
// the task, and the cancel is stored only if the task is still pending.
// If it loses, an agent has the task: a running one gets cancel_task; one
// still pending in the store (its agent between claiming and recording
// it) is refused with a conflict saying to try again, never reported as
// cancelled while it goes on to run.
func (s *Server) CancelTask(ctx context.Context, id, by, reason string) (*store.Task, error) {
	t, err := s.taskByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if store.TaskEnded(t.Status) {
		return nil, conflict(fmt.Sprintf("task %s has already ended (%s)", t.ID, t.Status))
	}
	why := "cancelled by " + by
	if reason != "" {
		why += ": " + reason
	}
	if t.Status == store.TaskPending {
		won, err := s.bus.Claim(ctx, wire.TaskClaimKey(t.ID), wire.TaskClaimTTL)
		if err != nil {
			if errors.Is(err, bus.ErrUnavailable) {
				return nil, fmt.Errorf("task %s was not cancelled: %w", t.ID, err)
			}
			return nil, unavailable(fmt.Sprintf("task %s was not cancelled: the bus is unavailable (%v); try again", t.ID, err))
		}
		if won {
			t.Status, t.Reason, t.Finished, t.CancelledBy = store.TaskCancelled, why, store.Now(), by
			if err := s.store.Tasks().UpdateIf(ctx, t, store.TaskPending); err != nil {
				if errors.Is(err, store.ErrStale) {
					return nil, conflict(fmt.Sprintf("task %s changed while it was being cancelled; look at it again", t.ID))
				}
				return nil, err
			}
			s.emitTaskStatus(ctx, t)
			s.endLog(ctx, t)
			s.audit(ctx, AuditTaskCancel, t.ID, reason)
			return t, nil
		}
		// An agent has claimed it: see what it has recorded.
		if t, err = s.taskByID(ctx, id); err != nil {
			return nil, err
		}
		switch {
		case store.TaskEnded(t.Status):
			return nil, conflict(fmt.Sprintf("task %s has already ended (%s)", t.ID, t.Status))
		case t.Status == store.TaskPending:
			return nil, conflict(fmt.Sprintf("task %s is starting; cancel it again in a moment", t.ID))
		}
	}
	if err := s.caller.Send(ctx, t.NodeID, wire.OpCancelTask, wire.CancelTask{TaskID: t.ID, By: by, Reason: reason}); err != nil {
		return nil, err
	}
	s.audit(ctx, AuditTaskCancel, t.ID, reason)
	return t, nil
}

func (s *Server) taskByID(ctx context.Context, id string) (*store.Task, error) {
	if !store.ValidID(id) {
		return nil, badRequest("task id " + id + " is not valid: ids are 24 hex digits")
	}
	t, err := s.store.Tasks().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no task has id " + id)
	}
	return t, err
}

// rangeOf checks a read of a task's log or items from from, of up to
// limit (zero or more than most: most), and returns the task and the
// limit to use.
func (s *Server) rangeOf(ctx context.Context, id string, from int64, limit, most int) (*store.Task, int, error) {
	t, err := s.taskByID(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	if from < 0 || limit < 0 {
		return nil, 0, badRequest("from and limit cannot be negative")
	}
	if limit == 0 || limit > most {
		limit = most
	}
	return t, limit, nil
}

// ReadLog returns lines from..from+limit of a task's log (at most
// wire.MaxReadEntries, and fewer when they pass wire.MaxReadBytes): a
// running task's newest lines from its node, everything else from the
// store (which also serves when the node is gone).
func (s *Server) ReadLog(ctx context.Context, id string, from int64, limit int) (*wire.LogBatch, error) {
	t, limit, err := s.rangeOf(ctx, id, from, limit, wire.MaxReadEntries)
	if err != nil {
		return nil, err
	}
	if t.Status == store.TaskRunning && t.NodeID != "" {
		var ll wire.LogBatch
		err := s.caller.Call(ctx, t.NodeID, wire.OpGetLog, wire.GetLog{TaskID: id, From: from, Limit: limit}, &ll)
		if err == nil {
			return &ll, nil
		}
		s.log.Debug("log from node failed; reading the stored copy", "task_id", id, "err", err)
	}
	// Bounded in bytes as the node's reply is (wire.MaxReadBytes): long
	// lines make a shorter page, and the caller reads on from its end.
	lines, err := wire.ReadLines(from, limit, func(from int64, n int) ([]string, error) {
		return s.store.Logs().ReadLog(ctx, id, from, n)
	})
	if err != nil {
		return nil, err
	}
	total, err := s.store.Logs().LogLen(ctx, id)
	if err != nil {
		return nil, err
	}
	if lines == nil {
		lines = []string{}
	}
	return &wire.LogBatch{TaskID: id, From: from, Lines: lines, Total: total}, nil
}

// --- REST handlers -----------------------------------------------------------

func (s *Server) runTasksHTTP(c echo.Context) error {
	var req RunRequest
	if err := bindJSON(c, &req, `a JSON object like {"spider_id": "…", "mode": "any"}`); err != nil {
		return err
	}
	tasks, err := s.RunTasks(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, list[store.Task]{Items: tasks, Total: len(tasks)})
}

func (s *Server) listTasks(c echo.Context) error {
	f := store.TaskFilter{Status: c.QueryParam("status"), SpiderID: c.QueryParam("spider_id"), NodeID: c.QueryParam("node_id"), ScheduleID: c.QueryParam("schedule_id")}
	var err error
	if f.Limit, err = limitParam(c); err != nil {
		return err
	}
	if f.Offset, err = intParam(c, "offset", 0); err != nil {
		return err
	}
	tasks, total, err := s.store.Tasks().List(c.Request().Context(), f)
	if err != nil {
		return err
	}
	if tasks == nil {
		tasks = []store.Task{}
	}
	s.withLiveCounts(c.Request().Context(), tasks)
	return c.JSON(http.StatusOK, list[store.Task]{Items: tasks, Total: total})
}

func intParam(c echo.Context, name string, def int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest(name + " must be a whole number ≥ 0")
	}
	return n, nil
}

func (s *Server) getTask(c echo.Context) error {
	t, err := s.taskByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	one := []store.Task{*t}
	s.withLiveCounts(c.Request().Context(), one)
	return c.JSON(http.StatusOK, one[0])
}

// withLiveCounts sets a running task's counts to what it has saved so
// far: its log lines and its items.
func (s *Server) withLiveCounts(ctx context.Context, tasks []store.Task) {
	s.withSavedLines(ctx, tasks)
	s.withItemCounts(ctx, tasks)
}

// withSavedLines sets a running task's log_lines to the lines saved so
// far: its agent saves the log every 2 s while it runs, and sets the final
// count when it ends.
func (s *Server) withSavedLines(ctx context.Context, tasks []store.Task) {
	for i := range tasks {
		if tasks[i].Status != store.TaskRunning {
			continue
		}
		if n, err := s.store.Logs().LogLen(ctx, tasks[i].ID); err == nil && n > tasks[i].LogLines {
			tasks[i].LogLines = n
		}
	}
}

func (s *Server) cancelTaskHTTP(c echo.Context) error {
	var body struct {
		Reason string `json:"reason"`
	}
	if c.Request().ContentLength > 0 {
		if err := bindJSON(c, &body, `{"reason": "…"} or no body`); err != nil {
			return err
		}
	}
	ctx := c.Request().Context()
	t, err := s.CancelTask(ctx, c.Param("id"), actor(ctx), strings.TrimSpace(body.Reason))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, t)
}

func (s *Server) restartTask(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := s.taskByID(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	req := RunRequest{SpiderID: t.SpiderID, Mode: "any", Params: t.Params, Env: t.Env, Timeout: t.Timeout, Queue: true}
	if t.Mode != "any" && t.NodeID != "" {
		req.Mode, req.NodeIDs = "nodes", []string{t.NodeID}
	}
	tasks, err := s.runTasks(ctx, req, origin{by: actor(ctx)})
	if err != nil {
		return err
	}
	s.audit(ctx, AuditTaskRestart, t.ID, "as task "+tasks[0].ID+", spider "+t.SpiderName)
	return c.JSON(http.StatusCreated, tasks[0])
}

func (s *Server) taskLog(c echo.Context) error {
	from, err := intParam(c, "from", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1000)
	if err != nil {
		return err
	}
	ll, err := s.ReadLog(c.Request().Context(), c.Param("id"), int64(from), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ll)
}
