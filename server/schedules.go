package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/server/scheduler"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// ScheduleRequest creates a schedule (POST) or changes one (PUT): on a
// change, a field left out keeps its value. The task fields mean what they
// mean in RunRequest.
type ScheduleRequest struct {
	Name     *string            `json:"name,omitempty"`
	SpiderID *string            `json:"spider_id,omitempty"`
	Spider   *string            `json:"spider,omitempty"` // a name, instead of SpiderID
	Cron     *string            `json:"cron,omitempty"`
	Timezone *string            `json:"timezone,omitempty"`
	Mode     *string            `json:"mode,omitempty"`
	NodeIDs  *[]string          `json:"node_ids,omitempty"`
	Params   *string            `json:"params,omitempty"`
	Env      *map[string]string `json:"env,omitempty"`
	Timeout  *int64             `json:"timeout,omitempty"` // seconds; zero means none
	Overlap  *string            `json:"overlap,omitempty"`
	Misfire  *string            `json:"misfire,omitempty"`
	Enabled  *bool              `json:"enabled,omitempty"`
}

const scheduleExample = `a JSON object like {"spider": "sample", "cron": "*/5 * * * *", "timezone": "Europe/Berlin"}`

// ScheduleView is a schedule as the APIs show it: with its next fire time,
// the next five (for one schedule) and the status of the task it fired
// last.
type ScheduleView struct {
	store.Schedule
	NextFire       time.Time   `json:"next_fire,omitzero"`
	NextFires      []time.Time `json:"next_fires,omitempty"`
	LastTaskStatus string      `json:"last_task_status,omitempty"`
}

// ScheduleEvent is a push on the schedules channel: a schedule was
// created, updated or deleted (with the schedule, but for a deletion), or
// it fired (with its tasks) or skipped a fire time (with the reason).
type ScheduleEvent struct {
	Event      string          `json:"event"`
	ScheduleID string          `json:"schedule_id"`
	Name       string          `json:"name,omitempty"`
	Schedule   json.RawMessage `json:"schedule,omitempty"`
	At         time.Time       `json:"at,omitzero"`
	TaskIDs    []string        `json:"task_ids,omitempty"`
	Reason     string          `json:"reason,omitempty"`
}

// nextFires is how many fire times a schedule shows.
const nextFires = 5

func (s *Server) view(ctx context.Context, sch *store.Schedule, n int) ScheduleView {
	v := ScheduleView{Schedule: *sch}
	if spec, err := scheduler.Parse(sch.Cron, sch.Timezone, sch.Created); err == nil {
		v.NextFires = spec.NextN(time.Now(), max(n, 1))
		if len(v.NextFires) > 0 {
			v.NextFire = v.NextFires[0]
		}
		if n == 0 {
			v.NextFires = nil
		}
	}
	if !sch.Enabled {
		v.NextFire = time.Time{}
	}
	if sch.LastTaskID != "" {
		if t, err := s.store.Tasks().Get(ctx, sch.LastTaskID); err == nil {
			v.LastTaskStatus = t.Status
		}
	}
	return v
}

// Schedules lists every schedule.
func (s *Server) Schedules(ctx context.Context) ([]ScheduleView, error) {
	all, err := s.store.Schedules().List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleView, len(all))
	for i := range all {
		out[i] = s.view(ctx, &all[i], 0)
	}
	return out, nil
}

// Schedule returns one schedule with its next five fire times.
func (s *Server) Schedule(ctx context.Context, id string) (*ScheduleView, error) {
	if !store.ValidID(id) {
		return nil, badRequest("schedule id " + id + " is not valid: ids are 24 hex digits, as listed by GET /api/schedules")
	}
	sch, err := s.store.Schedules().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no schedule has id " + id)
	}
	if err != nil {
		return nil, err
	}
	v := s.view(ctx, sch, nextFires)
	return &v, nil
}

// CreateSchedule checks req and stores the schedule it describes.
func (s *Server) CreateSchedule(ctx context.Context, req ScheduleRequest) (*ScheduleView, error) {
	now := store.Now()
	sch := &store.Schedule{ID: store.NewID(), Mode: "any", Overlap: store.OverlapSkip, Misfire: store.MisfireSkip,
		Enabled: true, Created: now, Updated: now}
	if req.Cron == nil {
		return nil, badRequest(`say when to run: cron, e.g. "0 * * * *" (hourly), "@daily" or "@every 30s"`)
	}
	if req.SpiderID == nil && req.Spider == nil {
		return nil, badRequest("say which spider to run: spider_id, or spider (its name)")
	}
	if err := s.applySchedule(ctx, sch, req); err != nil {
		return nil, err
	}
	if sch.Name == "" {
		sch.Name = sch.SpiderName + " " + sch.Cron
	}
	if err := s.store.Schedules().Create(ctx, sch); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil, conflict("a schedule named " + sch.Name + " exists: choose another name")
		}
		return nil, err
	}
	s.audit(ctx, AuditScheduleCreate, sch.ID, sch.Name+": "+sch.SpiderName+" at "+sch.Cron)
	return s.scheduleChanged(ctx, sch, wire.ScheduleCreated), nil
}

// UpdateSchedule changes the fields req sets.
func (s *Server) UpdateSchedule(ctx context.Context, id string, req ScheduleRequest) (*ScheduleView, error) {
	cur, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	sch := cur.Schedule
	if err := s.applySchedule(ctx, &sch, req); err != nil {
		return nil, err
	}
	if sch.Name == "" {
		return nil, badRequest("name cannot be empty")
	}
	sch.Updated = store.Now()
	if err := s.store.Schedules().Update(ctx, &sch); err != nil {
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil, conflict("a schedule named " + sch.Name + " exists: choose another name")
		case errors.Is(err, store.ErrNotFound):
			return nil, notFound("no schedule has id " + id)
		}
		return nil, err
	}
	s.audit(ctx, AuditScheduleUpdate, sch.ID, sch.Name)
	return s.scheduleChanged(ctx, &sch, wire.ScheduleUpdated), nil
}

// DeleteSchedule deletes a schedule; the tasks it fired stay.
func (s *Server) DeleteSchedule(ctx context.Context, id string) error {
	cur, err := s.Schedule(ctx, id)
	if err != nil {
		return err
	}
	if err := s.store.Schedules().Delete(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("no schedule has id " + id)
		}
		return err
	}
	s.audit(ctx, AuditScheduleDelete, id, cur.Name)
	s.scheduleChanged(ctx, &cur.Schedule, wire.ScheduleDeleted)
	return nil
}

// RunSchedule fires a schedule now, whatever its cron, overlap and enabled
// switch say: a person asked.
func (s *Server) RunSchedule(ctx context.Context, id string) ([]store.Task, error) {
	cur, err := s.Schedule(ctx, id)
	if err != nil {
		return nil, err
	}
	sch := &cur.Schedule
	at := store.Now()
	tasks, err := s.runTasks(ctx, s.scheduleRun(sch), origin{scheduleID: sch.ID, by: actor(ctx)})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	if err := s.store.Schedules().Record(ctx, store.Outcome{ScheduleID: sch.ID, At: at, TaskID: ids[0]}); err != nil {
		s.log.Warn("fire not recorded on the schedule", "schedule_id", sch.ID, "err", err)
	}
	s.audit(ctx, AuditScheduleRun, sch.ID, sch.Name+": tasks "+strings.Join(ids, ", "))
	s.emitScheduleFired(ctx, wire.ScheduleFired{ScheduleID: sch.ID, Name: sch.Name, At: at, TaskIDs: ids})
	return tasks, nil
}

// fireSchedules is the scheduler's FireFunc: the tasks of fire times,
// planned one by one and created in one store write. With overlap "queue"
// they wait for the task the scheduler names, so that the schedule's runs
// follow one another.
func (s *Server) fireSchedules(ctx context.Context, fires []scheduler.Fire) []scheduler.FireResult {
	out := make([]scheduler.FireResult, len(fires))
	pl := s.planner()
	var all []store.Task
	var of []int // of[k] is the fire all[k] belongs to
	for i, f := range fires {
		ts, err := pl.plan(ctx, s.scheduleRun(f.Schedule), origin{scheduleID: f.Schedule.ID, at: f.At, waitFor: f.WaitFor, by: "schedule " + f.Schedule.Name})
		if err != nil {
			out[i].Err = err
			continue
		}
		all = append(all, ts...)
		for range ts {
			of = append(of, i)
		}
	}
	created, err := s.store.Tasks().CreateMany(ctx, all)
	if err != nil {
		for _, i := range of {
			out[i].Err = err
		}
		return out
	}
	var made []store.Task
	for k, t := range all {
		i := of[k]
		if created[k] {
			out[i].Tasks = append(out[i].Tasks, t)
			made = append(made, t)
		} else if len(out[i].Tasks) == 0 {
			// Another master made them; if it made only some (the nodes
			// online differed), those this one made still count.
			out[i].Err = fmt.Errorf("task %s: %w", t.ID, store.ErrConflict)
		}
	}
	for i := range out {
		if len(out[i].Tasks) > 0 {
			out[i].Err = nil
		}
	}
	s.started(ctx, made)
	return out
}

// scheduleRun is the run a schedule asks for. Tasks for listed nodes that
// are offline wait for them: a schedule has nobody to tell.
func (s *Server) scheduleRun(sch *store.Schedule) RunRequest {
	return RunRequest{SpiderID: sch.SpiderID, Mode: sch.Mode, NodeIDs: sch.NodeIDs, Params: sch.Params,
		Env: sch.Env, Timeout: sch.Timeout, Queue: true}
}

// applySchedule sets what req sets on sch, checking each field.
func (s *Server) applySchedule(ctx context.Context, sch *store.Schedule, req ScheduleRequest) error {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&sch.Name, req.Name)
	set(&sch.Cron, req.Cron)
	set(&sch.Timezone, req.Timezone)
	set(&sch.Mode, req.Mode)
	set(&sch.Params, req.Params)
	set(&sch.Overlap, req.Overlap)
	set(&sch.Misfire, req.Misfire)
	if req.NodeIDs != nil {
		sch.NodeIDs = *req.NodeIDs
	}
	if req.Env != nil {
		if err := store.CheckEnv(*req.Env); err != nil {
			return badRequest(err.Error())
		}
		sch.Env = *req.Env
	}
	if req.Timeout != nil {
		sch.Timeout = *req.Timeout
	}
	if req.Enabled != nil {
		sch.Enabled = *req.Enabled
	}
	if req.SpiderID != nil || req.Spider != nil {
		var id, name string
		if req.SpiderID != nil {
			id = *req.SpiderID
		}
		if req.Spider != nil {
			name = *req.Spider
		}
		sp, err := s.findSpider(ctx, id, name)
		if err != nil {
			return err
		}
		sch.SpiderID, sch.SpiderName = sp.ID, sp.Name
	}
	if _, err := scheduler.Parse(sch.Cron, sch.Timezone, sch.Created); err != nil {
		return badRequest(err.Error())
	}
	if sch.Mode == "" {
		sch.Mode = "any"
	}
	switch sch.Mode {
	case "any", "all":
		sch.NodeIDs = nil
	case "nodes":
		if len(sch.NodeIDs) == 0 {
			return badRequest(`mode "nodes" needs node_ids`)
		}
		for _, id := range sch.NodeIDs {
			if !store.ValidID(id) {
				return badRequest("node id " + id + " is not valid: ids are 24 hex digits")
			}
		}
	default:
		return badRequest(`mode must be "any", "all" or "nodes"`)
	}
	if !slices.Contains([]string{store.OverlapSkip, store.OverlapAllow, store.OverlapQueue}, sch.Overlap) {
		return badRequest(`overlap must be "skip" (the default), "allow" or "queue"`)
	}
	if !slices.Contains([]string{store.MisfireSkip, store.MisfireOnce}, sch.Misfire) {
		return badRequest(`misfire must be "skip" (the default) or "once"`)
	}
	if sch.Timeout < 0 {
		return badRequest("timeout is in seconds and cannot be negative")
	}
	return nil
}

// findSpider resolves a spider by id, or by name.
func (s *Server) findSpider(ctx context.Context, id, name string) (*store.Spider, error) {
	var sp *store.Spider
	var err error
	switch {
	case id != "" && store.ValidID(id):
		sp, err = s.store.Spiders().Get(ctx, id)
	case id != "":
		return nil, badRequest("spider_id " + id + " is not valid: ids are 24 hex digits")
	case name != "":
		sp, err = s.store.Spiders().GetByName(ctx, name)
	default:
		return nil, badRequest("say which spider to run: spider_id, or spider (its name)")
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no such spider: " + id + name)
	}
	return sp, err
}

// scheduleChanged tells every master (their schedulers and their clients)
// and returns the schedule as the API shows it.
func (s *Server) scheduleChanged(ctx context.Context, sch *store.Schedule, change string) *ScheduleView {
	v := s.view(ctx, sch, nextFires)
	ev := wire.ScheduleChanged{ScheduleID: sch.ID, Change: change}
	if change != wire.ScheduleDeleted {
		ev.Schedule, _ = json.Marshal(v)
	}
	if err := s.caller.Emit(ctx, wire.EvScheduleChanged, ev); err != nil {
		// This master at least must know.
		s.log.Warn("schedule change not published; other masters see it at their next start", "schedule_id", sch.ID, "err", err)
		s.sched.Changed(sch.ID)
	}
	return &v
}

func (s *Server) emitScheduleFired(ctx context.Context, ev wire.ScheduleFired) {
	if err := s.caller.Emit(ctx, wire.EvScheduleFired, ev); err != nil {
		s.log.Warn("schedule fire not published", "schedule_id", ev.ScheduleID, "err", err)
	}
}
