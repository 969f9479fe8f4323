package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// TaskID is the id of the task that the fire of schedule scheduleID at at
// creates for node ("" for a task any node may take). Like store.NewID it
// is 12 bytes, the first 4 the time in seconds; the rest come from a hash of
// what caused the task, so every master derives the same id.
func TaskID(scheduleID string, at time.Time, node string) string {
	h := sha256.Sum256([]byte(scheduleID + "\x00" + strconv.FormatInt(at.UnixNano(), 10) + "\x00" + node))
	var b [12]byte
	binary.BigEndian.PutUint32(b[:4], uint32(at.Unix()))
	copy(b[4:], h[:8])
	return hex.EncodeToString(b[:])
}

// maxRetryAge bounds how late a fire time that could not be claimed (the
// bus was down) is still fired.
const maxRetryAge = time.Minute

// doneTTL is how long the done key of a fire holds: past the moment the
// losers look again (ClaimTTL after the fire time), with room to spare.
func (s *Scheduler) doneTTL() time.Duration { return 2*s.cfg.ClaimTTL + 30*time.Second }

// fire fires schedule j.id at j.at if this master claims it, or looks at
// it again later if another master did.
func (s *Scheduler) fire(ctx context.Context, j job) {
	log := s.log.With("schedule_id", j.id, "at", j.at)
	if j.retry {
		// The winner claims the done key once it has finished; if nobody
		// has, it died on the way, and this master completes the fire.
		won, err := s.cfg.Bus.Claim(ctx, wire.FireDoneKey(j.id, j.at), s.doneTTL())
		if err != nil {
			s.busDown(ctx, log, j, err)
			return
		}
		if won {
			log.Warn("the master that claimed this fire time did not complete it; completing it here")
			s.complete(ctx, log, j)
		}
		return
	}
	won, err := s.cfg.Bus.Claim(ctx, wire.FireClaimKey(j.id, j.at), s.cfg.ClaimTTL)
	if err != nil {
		s.busDown(ctx, log, j, err)
		return
	}
	if !won {
		s.retryLater(j)
		return
	}
	// The schedule as this master last loaded it: a change reaches every
	// master as an event, and reading it again for each of thousands of
	// fire times at once was the costliest step of a fire.
	sch := j.sch
	if reason := s.overlaps(ctx, sch); reason != "" {
		s.skip(ctx, log, sch, j.at, reason)
	} else {
		s.create(ctx, log, sch, j.at)
	}
	won, err = s.cfg.Bus.Claim(ctx, wire.FireDoneKey(j.id, j.at), s.doneTTL())
	if err == nil && !won {
		log.Warn("this fire took longer than the claim holds (ClaimTTL); another master looked at it too")
	}
}

// complete finishes a fire whose winner died. It does not look for
// overlap: the winner may have created the fire's tasks before dying, and
// those would read as an overlap; the task ids make a second creation fail
// instead.
func (s *Scheduler) complete(ctx context.Context, log *slog.Logger, j job) {
	if sch, ok := s.current(ctx, log, j.id); ok {
		s.create(ctx, log, sch, j.at)
	}
}

// current reads the schedule as it is now: it may have been disabled or
// deleted since its fire time was queued.
func (s *Scheduler) current(ctx context.Context, log *slog.Logger, id string) (*store.Schedule, bool) {
	sch, err := s.cfg.Store.Schedules().Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		log.Error("schedule not fired: could not read it", "err", err)
		return nil, false
	}
	return sch, sch.Enabled
}

// overlaps says why sch must not fire now, or "".
func (s *Scheduler) overlaps(ctx context.Context, sch *store.Schedule) string {
	if sch.Overlap == store.OverlapAllow || sch.Overlap == store.OverlapQueue {
		return ""
	}
	for _, status := range []string{store.TaskRunning, store.TaskPending} {
		ts, _, err := s.cfg.Store.Tasks().List(ctx, store.TaskFilter{ScheduleID: sch.ID, Status: status, Limit: 1})
		if err != nil {
			return "could not check for a task still running: " + err.Error()
		}
		if len(ts) > 0 {
			return fmt.Sprintf("task %s of this schedule is still %s (overlap: skip)", ts[0].ID, status)
		}
	}
	return ""
}

func (s *Scheduler) create(ctx context.Context, log *slog.Logger, sch *store.Schedule, at time.Time) {
	tasks, err := s.cfg.Fire(ctx, sch, at)
	if errors.Is(err, store.ErrConflict) {
		log.Info("fire time already fired by another master")
		return
	}
	if err != nil {
		s.skip(ctx, log, sch, at, "could not create the task: "+err.Error())
		return
	}
	ids := make([]string, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	last := ""
	if len(ids) > 0 {
		last = ids[0]
	}
	if err := s.cfg.Store.Schedules().RecordFire(ctx, sch.ID, at, last); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("fire not recorded on the schedule", "err", err)
	}
	log.Info("schedule fired", "tasks", len(ids))
	s.cfg.Emit(ctx, wire.ScheduleFired{ScheduleID: sch.ID, Name: sch.Name, At: at, TaskIDs: ids})
}

func (s *Scheduler) skip(ctx context.Context, log *slog.Logger, sch *store.Schedule, at time.Time, reason string) {
	log.Info("schedule skipped a fire time", "reason", reason)
	if err := s.cfg.Store.Schedules().RecordSkip(ctx, sch.ID, at, reason); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("skip not recorded on the schedule", "err", err)
	}
	s.cfg.Emit(ctx, wire.ScheduleFired{ScheduleID: sch.ID, Name: sch.Name, At: at, Skipped: true, Reason: reason})
}

// busDown: the claim could not be made. Every master is in the same
// position, so each looks again later; a fire time more than maxRetryAge
// old is given up, with a warning.
func (s *Scheduler) busDown(ctx context.Context, log *slog.Logger, j job, err error) {
	if ctx.Err() != nil {
		return
	}
	if s.cfg.Now().Sub(j.at) > maxRetryAge {
		log.Error("fire time given up: the bus was unavailable to claim it", "err", err)
		return
	}
	log.Warn("could not claim the fire time; trying again", "err", err)
	s.retryLater(job{id: j.id, at: j.at})
}
