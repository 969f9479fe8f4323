package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Claimer is the part of the bus the scheduler claims fire times with.
type Claimer interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Fire is one fire time of one schedule, to become its tasks.
type Fire struct {
	Schedule *store.Schedule
	At       time.Time
	// WaitFor is the task the fire's tasks wait for (overlap "queue"), or
	// "" when none of the schedule's tasks is pending or running.
	WaitFor string
}

// FireResult is what became of one Fire: its tasks, or why there are none.
type FireResult struct {
	Tasks []store.Task
	// Err is store.ErrConflict (wrapped) when the fire's tasks exist
	// already: another master made them.
	Err error
}

// FireFunc creates the tasks of fires, with the ids TaskID gives and
// ScheduleID set, as few store writes as it can (a minute's fires of
// thousands of schedules come in a few calls), and returns one result per
// fire, in order.
type FireFunc func(ctx context.Context, fires []Fire) []FireResult

// Config configures a Scheduler. Zero values mean the documented default.
type Config struct {
	Store store.Store
	Bus   Claimer
	Fire  FireFunc
	// Emit tells every master (and through them the browsers) that a
	// schedule fired or skipped a fire time.
	Emit func(ctx context.Context, ev wire.ScheduleFired)
	// ClaimTTL is how long the claim of a fire time holds. Zero means 10 s.
	// A master that claimed a fire time and died is replaced by another
	// about this long after the fire time, so it must exceed how long a
	// fire takes and how far masters' clocks drift apart.
	ClaimTTL time.Duration
	// Workers fire due schedules concurrently. Zero means 16.
	Workers int
	// MisfireWindow is how far back a schedule with misfire "once" looks
	// for a fire time missed while no master ran. Zero means 24 h.
	MisfireWindow time.Duration
	Log           *slog.Logger
	// Now is the clock. Zero means time.Now.
	Now func() time.Time
}

// Scheduler fires the enabled schedules of one store. Create it with New,
// then Run it; call Changed when a schedule changes.
type Scheduler struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{} // capacity 1: the loop has something to look at
	work chan []job    // batches of at most batchSize

	mu      sync.Mutex
	items   queue               // fire times and retries, soonest first
	entries map[string]*item    // each enabled schedule's next fire time
	changed map[string]struct{} // schedules to reload
}

// job is one fire time to fire, or to look at again (retry).
type job struct {
	id    string
	at    time.Time
	retry bool
	// sch is the schedule as last loaded (Changed keeps it current), for
	// a first fire; a retry that completes a fire reads it again.
	sch *store.Schedule
}

// New returns a Scheduler.
func New(cfg Config) *Scheduler {
	if cfg.ClaimTTL == 0 {
		cfg.ClaimTTL = 10 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 16
	}
	if cfg.MisfireWindow == 0 {
		cfg.MisfireWindow = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Emit == nil {
		cfg.Emit = func(context.Context, wire.ScheduleFired) {}
	}
	return &Scheduler{
		cfg: cfg, log: cfg.Log,
		wake:    make(chan struct{}, 1),
		work:    make(chan []job, cfg.Workers),
		entries: map[string]*item{},
		changed: map[string]struct{}{},
	}
}

// Changed says schedule id was created, edited or deleted: the loop reads
// it again from the store. It never blocks.
func (s *Scheduler) Changed(id string) {
	s.mu.Lock()
	s.changed[id] = struct{}{}
	s.mu.Unlock()
	s.poke()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run loads the schedules, fires what misfire "once" asks for, then fires
// each fire time as it comes until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for range s.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case jobs := <-s.work:
					s.fireBatch(ctx, jobs)
				}
			}
		})
	}
	// A store that cannot be read at start (it is still starting, or a
	// network blip) must not stop the master: keep trying, meanwhile
	// firing nothing.
	for wait := time.Second; ; wait = min(2*wait, 30*time.Second) {
		err := s.load(ctx)
		if err == nil {
			break
		}
		s.log.Error("schedules not loaded; nothing fires until they are; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.reload(ctx)
		if !s.hand(ctx, s.due(s.cfg.Now())) {
			return nil
		}
		timer.Reset(s.untilNext())
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// load reads every schedule; a schedule with misfire "once" that missed a
// fire time within MisfireWindow fires it now.
func (s *Scheduler) load(ctx context.Context) error {
	all, err := s.cfg.Store.Schedules().List(ctx)
	if err != nil {
		return fmt.Errorf("scheduler: load schedules: %w", err)
	}
	now := s.cfg.Now()
	var missed []job
	s.mu.Lock()
	for i := range all {
		sch := &all[i]
		if at := s.set(sch, now); !at.IsZero() && sch.Misfire == store.MisfireOnce {
			missed = append(missed, job{id: sch.ID, at: at, sch: sch})
		}
	}
	s.mu.Unlock()
	for _, j := range missed {
		s.log.Info("schedule missed a fire time while no master ran; firing it once", "schedule_id", j.id, "at", j.at)
	}
	s.hand(ctx, missed)
	return nil
}

// hand gives jobs to the workers in batches; false if ctx ended first.
func (s *Scheduler) hand(ctx context.Context, jobs []job) bool {
	for len(jobs) > 0 {
		n := min(len(jobs), batchSize)
		// The workers keep what they are given: a batch gets its own
		// backing array.
		batch := slices.Clone(jobs[:n])
		jobs = jobs[n:]
		select {
		case s.work <- batch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// set puts sch's next fire time after now in the queue (or takes sch out
// if it is disabled or broken) and returns the last fire time it missed
// since it last fired or skipped, within MisfireWindow. s.mu must be held.
func (s *Scheduler) set(sch *store.Schedule, now time.Time) (missed time.Time) {
	from := now
	if it, ok := s.entries[sch.ID]; ok {
		// A fire time that came while the change was on its way is still
		// due: an edit does not swallow it.
		if it.at.Before(now) {
			from = it.at.Add(-time.Nanosecond)
		}
		heap.Remove(&s.items, it.index)
		delete(s.entries, sch.ID)
	}
	if !sch.Enabled {
		return time.Time{}
	}
	spec, err := Parse(sch.Cron, sch.Timezone, sch.Created)
	if err != nil {
		// The API refuses such schedules; one written by an older or
		// newer version is reported, not fired.
		s.log.Warn("schedule not scheduled: its cron is invalid", "schedule_id", sch.ID, "err", err)
		return time.Time{}
	}
	if next := spec.Next(from); !next.IsZero() {
		it := &item{job: job{id: sch.ID, at: next, sch: sch}, spec: spec}
		heap.Push(&s.items, it)
		s.entries[sch.ID] = it
	}
	since := now.Add(-s.cfg.MisfireWindow)
	for _, t := range []time.Time{sch.LastFire, sch.LastSkip, sch.Created} {
		if t.After(since) {
			since = t
		}
	}
	// A fire time at or before the last recorded fire or skip was seen to
	// by the master that recorded it.
	return spec.Prev(now, since)
}

// reload reads again the schedules Changed named.
func (s *Scheduler) reload(ctx context.Context) {
	s.mu.Lock()
	ids := s.changed
	s.changed = map[string]struct{}{}
	s.mu.Unlock()
	for id := range ids {
		sch, err := s.cfg.Store.Schedules().Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			sch = &store.Schedule{ID: id} // deleted: disabled, so set drops it
		} else if err != nil {
			s.log.Warn("schedule change not loaded; retrying", "schedule_id", id, "err", err)
			s.mu.Lock()
			s.changed[id] = struct{}{}
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.set(sch, s.cfg.Now()) // an edit is no misfire: what it missed stays missed
		s.mu.Unlock()
	}
}

// due takes the jobs whose time has come and queues each schedule's next
// fire time.
func (s *Scheduler) due(now time.Time) []job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []job
	for len(s.items) > 0 && !s.items[0].when().After(now) {
		it := s.items[0]
		out = append(out, it.job)
		if it.spec == nil { // a retry: once
			heap.Pop(&s.items)
			continue
		}
		next := it.spec.Next(it.at)
		if next.IsZero() {
			heap.Pop(&s.items)
			delete(s.entries, it.id)
			continue
		}
		it.at = next
		heap.Fix(&s.items, 0)
	}
	return out
}

// untilNext is how long the loop may sleep. A reload or a Changed wakes it
// earlier; the cap keeps a clock jump from stalling it for long.
func (s *Scheduler) untilNext() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := time.Minute
	if len(s.items) > 0 {
		d = min(d, s.items[0].when().Sub(s.cfg.Now()))
	}
	return max(d, 0)
}

// retryLater looks at j again once its claim has expired.
func (s *Scheduler) retryLater(j job) {
	j.retry = true
	s.mu.Lock()
	j.sch = nil
	heap.Push(&s.items, &item{job: j, retryAt: j.at.Add(s.cfg.ClaimTTL + time.Second)})
	s.mu.Unlock()
	s.poke()
}
