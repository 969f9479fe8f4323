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

// batchSize bounds the fire times one worker fires together: their
// tasks are created in one store write and their outcomes recorded in
// another. A minute's fires of 10,000 schedules are a few dozen batches,
// spread over the workers.
const batchSize = 256

// fireBatch fires the fire times of jobs this master claims, and looks
// again later at those another master claimed.
func (s *Scheduler) fireBatch(ctx context.Context, jobs []job) {
	var won []job
	for _, j := range jobs {
		if j.retry {
			s.lookAgain(ctx, j)
			continue
		}
		ok, err := s.cfg.Bus.Claim(ctx, wire.FireClaimKey(j.id, j.at), s.cfg.ClaimTTL)
		switch {
		case err != nil:
			s.busDown(ctx, s.log.With("schedule_id", j.id, "at", j.at), j, err)
		case !ok:
			s.retryLater(j)
		default:
			won = append(won, j)
		}
	}
	if len(won) == 0 {
		return
	}
	// The schedules as this master last loaded them: a change reaches
	// every master as an event, and reading each again for thousands of
	// fire times at once was the costliest step of a fire.
	s.fireAll(ctx, won, true)
	for _, j := range won {
		ok, err := s.cfg.Bus.Claim(ctx, wire.FireDoneKey(j.id, j.at), s.doneTTL())
		if err == nil && !ok {
			s.log.Warn("this fire took longer than the claim holds (ClaimTTL); another master looked at it too",
				"schedule_id", j.id, "at", j.at)
		}
	}
}

// lookAgain looks at a fire time another master claimed: the winner claims
// the done key once it has finished; if nobody has, it died on the way,
// and this master completes the fire.
func (s *Scheduler) lookAgain(ctx context.Context, j job) {
	log := s.log.With("schedule_id", j.id, "at", j.at)
	won, err := s.cfg.Bus.Claim(ctx, wire.FireDoneKey(j.id, j.at), s.doneTTL())
	if err != nil {
		s.busDown(ctx, log, j, err)
		return
	}
	if !won {
		return
	}
	log.Warn("the master that claimed this fire time did not complete it; completing it here")
	// The schedule as it is now: it may have been disabled or deleted
	// since. Overlap is not looked at: the winner may have created the
	// fire's tasks before dying, and those would read as an overlap; the
	// task ids make a second creation fail instead.
	sch, err := s.cfg.Store.Schedules().Get(ctx, j.id)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		log.Error("schedule not fired: could not read it", "err", err)
	case sch.Enabled:
		j.sch = sch
		s.fireAll(ctx, []job{j}, false)
	}
}

// fireAll creates the tasks of jobs, the fire times this master won, and
// records and tells what each did. With overlap set, a schedule with
// overlap "skip" skips its fire time while a task it fired is still
// pending or running.
func (s *Scheduler) fireAll(ctx context.Context, jobs []job, overlap bool) {
	// The newest task not ended of each schedule that asks about it: skip
	// looks for one, queue waits for it.
	asks := func(j job) bool {
		return j.sch.Overlap == store.OverlapQueue || (overlap && j.sch.Overlap == store.OverlapSkip)
	}
	var ask []string
	for _, j := range jobs {
		if asks(j) {
			ask = append(ask, j.id)
		}
	}
	active, activeErr := s.cfg.Store.Tasks().Active(ctx, ask)
	outcomes := make([]store.Outcome, 0, len(jobs))
	skip := func(j job, reason string) {
		outcomes = append(outcomes, store.Outcome{ScheduleID: j.id, At: j.at, Skipped: true, Reason: reason})
	}
	var fires []Fire
	var firing []job
	for _, j := range jobs {
		t, busy := active[j.id]
		switch {
		case asks(j) && activeErr != nil:
			skip(j, "could not check for a task still running: "+activeErr.Error())
		case busy && overlap && j.sch.Overlap == store.OverlapSkip:
			skip(j, fmt.Sprintf("task %s of this schedule is still %s (overlap: skip)", t.ID, t.Status))
		default:
			f := Fire{Schedule: j.sch, At: j.at}
			if busy && j.sch.Overlap == store.OverlapQueue {
				f.WaitFor = t.ID
			}
			fires, firing = append(fires, f), append(firing, j)
		}
	}
	fired := map[int][]string{} // index in outcomes: task ids
	if len(fires) > 0 {
		for i, r := range s.cfg.Fire(ctx, fires) {
			j := firing[i]
			switch {
			case errors.Is(r.Err, store.ErrConflict):
				s.log.Info("fire time already fired by another master", "schedule_id", j.id, "at", j.at)
			case r.Err != nil:
				skip(j, "could not create the task: "+r.Err.Error())
			default:
				ids := make([]string, len(r.Tasks))
				for k, t := range r.Tasks {
					ids[k] = t.ID
				}
				o := store.Outcome{ScheduleID: j.id, At: j.at}
				if len(ids) > 0 {
					o.TaskID = ids[0]
				}
				fired[len(outcomes)] = ids
				outcomes = append(outcomes, o)
			}
		}
	}
	if err := s.cfg.Store.Schedules().Record(ctx, outcomes...); err != nil {
		s.log.Warn("fires not recorded on their schedules", "fires", len(outcomes), "err", err)
	}
	names := make(map[string]string, len(jobs))
	for _, j := range jobs {
		names[j.id] = j.sch.Name
	}
	for i, o := range outcomes {
		ev := wire.ScheduleFired{ScheduleID: o.ScheduleID, Name: names[o.ScheduleID], At: o.At}
		if o.Skipped {
			s.log.Info("schedule skipped a fire time", "schedule_id", o.ScheduleID, "at", o.At, "reason", o.Reason)
			ev.Skipped, ev.Reason = true, o.Reason
		} else {
			ev.TaskIDs = fired[i]
			s.log.Info("schedule fired", "schedule_id", o.ScheduleID, "at", o.At, "tasks", len(ev.TaskIDs))
		}
		s.cfg.Emit(ctx, ev)
	}
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
