package scheduler_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server/scheduler"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// cluster is a store, an in-process broker and the events of any number
// of schedulers ("masters") started on them.
type cluster struct {
	t      *testing.T
	st     store.Store
	broker *bus.MemoryBroker
	events chan wire.ScheduleFired
	// fire, when set, replaces the default task creation of the masters
	// started after it is set.
	fire scheduler.FireFunc
	// claims, when set, wraps the bus of the masters started after it is
	// set.
	claims func(scheduler.Claimer) scheduler.Claimer
}

func newCluster(t *testing.T) *cluster {
	st, err := sqlite.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return &cluster{t: t, st: st, broker: bus.NewMemoryBroker(), events: make(chan wire.ScheduleFired, 10000)}
}

// createTasks is what the server does on a fire: for each fire time a
// task with the id it names, all in one write.
func (c *cluster) createTasks(ctx context.Context, fires []scheduler.Fire) []scheduler.FireResult {
	out := make([]scheduler.FireResult, len(fires))
	ts := make([]store.Task, len(fires))
	for i, f := range fires {
		ts[i] = store.Task{
			ID: scheduler.TaskID(f.Schedule.ID, f.At, ""), SpiderID: f.Schedule.SpiderID,
			SpiderName: f.Schedule.SpiderName, Mode: "any", Status: store.TaskPending,
			ScheduleID: f.Schedule.ID, WaitFor: f.WaitFor, Created: store.Now(),
		}
	}
	created, err := c.st.Tasks().CreateMany(ctx, ts)
	for i := range fires {
		switch {
		case err != nil:
			out[i].Err = err
		case !created[i]:
			out[i].Err = store.ErrConflict
		default:
			out[i].Tasks = ts[i : i+1]
		}
	}
	return out
}

// master starts a scheduler; stop ends it and waits for it.
func (c *cluster) master(ttl time.Duration) (s *scheduler.Scheduler, stop func()) {
	b := c.broker.Connect(func(string, []byte) {})
	fire := c.fire
	if fire == nil {
		fire = c.createTasks
	}
	var claimer scheduler.Claimer = b
	if c.claims != nil {
		claimer = c.claims(b)
	}
	s = scheduler.New(scheduler.Config{
		Store: c.st, Bus: claimer, Fire: fire, ClaimTTL: ttl, Log: quiet(),
		Emit: func(_ context.Context, ev wire.ScheduleFired) { c.events <- ev },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				c.t.Error(err)
			}
			b.Close()
		})
	}
	c.t.Cleanup(stop)
	return s, stop
}

func (c *cluster) schedule(s store.Schedule) *store.Schedule {
	c.t.Helper()
	s.ID = store.NewID()
	if s.Name == "" {
		s.Name = "s-" + s.ID
	}
	s.SpiderID, s.SpiderName, s.Mode = store.NewID(), "spider", "any"
	if s.Overlap == "" {
		s.Overlap = store.OverlapAllow
	}
	if s.Misfire == "" {
		s.Misfire = store.MisfireSkip
	}
	if s.Created.IsZero() {
		s.Created = store.Now()
	}
	s.Updated = s.Created
	if err := c.st.Schedules().Create(c.t.Context(), &s); err != nil {
		c.t.Fatal(err)
	}
	return &s
}

// next waits for the next event.
func (c *cluster) next(within time.Duration) wire.ScheduleFired {
	c.t.Helper()
	select {
	case ev := <-c.events:
		return ev
	case <-time.After(within):
		c.t.Fatalf("no schedule event within %v", within)
		return wire.ScheduleFired{}
	}
}

func (c *cluster) tasksOf(id string) []store.Task {
	c.t.Helper()
	ts, _, err := c.st.Tasks().List(c.t.Context(), store.TaskFilter{ScheduleID: id})
	if err != nil {
		c.t.Fatal(err)
	}
	return ts
}

// Three masters evaluate one schedule firing every second: each fire time
// makes one task, whichever master wins it, and a master stopped and
// started again fires nothing another fired.
func TestEachFireTimeOnce(t *testing.T) {
	c := newCluster(t)
	sch := c.schedule(store.Schedule{Cron: "@every 1s", Enabled: true})
	_, stop1 := c.master(0)
	c.master(0)
	c.master(0)
	fired := map[time.Time]int{}
	for i := range 6 {
		ev := c.next(5 * time.Second)
		if ev.Skipped || ev.ScheduleID != sch.ID {
			t.Fatalf("event %+v", ev)
		}
		fired[ev.At]++
		if i == 2 {
			stop1()
			c.master(0)
		}
	}
	for at, n := range fired {
		if n != 1 {
			t.Errorf("fire time %s fired %d times", at, n)
		}
	}
	// Tasks are what users see: one per fire time, with the fire's id.
	byAt := map[string]bool{}
	for _, task := range c.tasksOf(sch.ID) {
		byAt[task.ID] = true
	}
	for at := range fired {
		if !byAt[scheduler.TaskID(sch.ID, at, "")] {
			t.Errorf("no task for fire time %s", at)
		}
	}
}

// waitingClaimer holds the claims of fire times until release is closed.
type waitingClaimer struct {
	scheduler.Claimer
	release chan struct{}
}

func (w waitingClaimer) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if strings.HasPrefix(key, wire.FireClaimKey("", time.Time{})[:len("crawlhub:claim:fire:")]) {
		select {
		case <-w.release:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return w.Claimer.Claim(ctx, key, ttl)
}

// A master that claims a fire time and dies before making its task is
// replaced: another master makes the task once the claim has expired.
func TestDeadWinnerReplaced(t *testing.T) {
	c := newCluster(t)
	sch := c.schedule(store.Schedule{Cron: "@every 1h", Enabled: true, Created: store.Now().Add(-time.Hour + 1500*time.Millisecond)})
	claimed := make(chan time.Time, 1)
	c.fire = func(ctx context.Context, fires []scheduler.Fire) []scheduler.FireResult {
		claimed <- fires[0].At
		<-ctx.Done() // it dies here: no task, no done claim
		out := make([]scheduler.FireResult, len(fires))
		for i := range out {
			out[i].Err = ctx.Err()
		}
		return out
	}
	_, stopDying := c.master(time.Second)
	c.fire = nil
	release := make(chan struct{})
	c.claims = func(b scheduler.Claimer) scheduler.Claimer { return waitingClaimer{b, release} }
	c.master(time.Second) // loses the claim: the first master holds it
	var at time.Time
	select {
	case at = <-claimed:
		close(release)
	case <-time.After(5 * time.Second):
		t.Fatal("the first master did not fire")
	}
	ev := c.next(10 * time.Second)
	if ev.At != at || len(ev.TaskIDs) != 1 || ev.TaskIDs[0] != scheduler.TaskID(sch.ID, at, "") {
		t.Fatalf("event %+v, want the task of %s", ev, at)
	}
	stopDying()
	if n := len(c.tasksOf(sch.ID)); n != 1 {
		t.Fatalf("%d tasks, want 1", n)
	}
}

// With overlap "skip", a fire time that finds the schedule's last task
// still running is skipped, and the skip is recorded with its reason.
func TestOverlapSkip(t *testing.T) {
	c := newCluster(t)
	sch := c.schedule(store.Schedule{Cron: "@every 1s", Enabled: true, Overlap: store.OverlapSkip})
	c.master(0)
	first := c.next(5 * time.Second)
	if first.Skipped || len(first.TaskIDs) != 1 {
		t.Fatalf("first fire %+v", first)
	}
	// Nothing runs the task: it stays pending, so the next fires skip.
	for range 2 {
		ev := c.next(5 * time.Second)
		if !ev.Skipped || !strings.Contains(ev.Reason, first.TaskIDs[0]) || !strings.Contains(ev.Reason, "still pending") {
			t.Fatalf("fire while the task is pending: %+v", ev)
		}
	}
	got, err := c.st.Schedules().Get(t.Context(), sch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastTaskID != first.TaskIDs[0] || !got.LastFire.Equal(first.At) || got.LastSkip.IsZero() || !strings.Contains(got.LastSkipReason, "still pending") {
		t.Fatalf("schedule record %+v", got)
	}
	// The task ends: the schedule fires again.
	task, err := c.st.Tasks().Get(t.Context(), first.TaskIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	task.Status = store.TaskFinished
	if err := c.st.Tasks().Update(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	for {
		ev := c.next(5 * time.Second)
		if !ev.Skipped {
			break
		}
	}
	if n := len(c.tasksOf(sch.ID)); n != 2 {
		t.Fatalf("%d tasks, want 2", n)
	}
}

// Many schedules due at the same second, more than one batch, on two
// masters: each fires once, and one that finds its task still pending
// skips, among the others that fire.
func TestManyDueTogether(t *testing.T) {
	c := newCluster(t)
	const n = 600 // over two batches
	all := map[string]bool{}
	for range n {
		all[c.schedule(store.Schedule{Cron: "* * * * * *", Enabled: true}).ID] = true
	}
	busy := c.schedule(store.Schedule{Cron: "* * * * * *", Enabled: true, Overlap: store.OverlapSkip})
	pending := store.Task{ID: store.NewID(), SpiderID: busy.SpiderID, Mode: "any", Status: store.TaskPending,
		ScheduleID: busy.ID, Created: store.Now()}
	if err := c.st.Tasks().Create(t.Context(), &pending); err != nil {
		t.Fatal(err)
	}
	c.master(0)
	c.master(0)
	// The events of one fire time, the first both masters saw whole.
	byAt := map[time.Time]map[string]wire.ScheduleFired{}
	var at time.Time
	for at.IsZero() {
		ev := c.next(10 * time.Second)
		m := byAt[ev.At]
		if m == nil {
			m = map[string]wire.ScheduleFired{}
			byAt[ev.At] = m
		}
		if _, twice := m[ev.ScheduleID]; twice {
			t.Fatalf("schedule %s fired twice at %s", ev.ScheduleID, ev.At)
		}
		m[ev.ScheduleID] = ev
		if len(m) == n+1 {
			at = ev.At
		}
	}
	for id, ev := range byAt[at] {
		switch {
		case id == busy.ID:
			if !ev.Skipped || !strings.Contains(ev.Reason, pending.ID) {
				t.Errorf("the schedule with a pending task: %+v, want a skip naming the task", ev)
			}
		case !all[id]:
			t.Errorf("event of an unknown schedule %s", id)
		case ev.Skipped || len(ev.TaskIDs) != 1 || ev.TaskIDs[0] != scheduler.TaskID(id, at, ""):
			t.Errorf("schedule %s at %s: %+v, want one task", id, at, ev)
		}
	}
	// The fires are recorded on their schedules.
	list, err := c.st.Schedules().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, sch := range list {
		if all[sch.ID] && sch.LastFire.Before(at) {
			t.Errorf("schedule %s: last fire %s, want %s or later", sch.ID, sch.LastFire, at)
		}
		if sch.ID == busy.ID && (sch.LastSkip.Before(at) || !strings.Contains(sch.LastSkipReason, "still pending")) {
			t.Errorf("the skipping schedule: last skip %s (%q)", sch.LastSkip, sch.LastSkipReason)
		}
	}
}

// A schedule with misfire "once" fires the last fire time it missed while
// no master ran, once however many masters start; with "skip" it does not.
func TestMisfire(t *testing.T) {
	c := newCluster(t)
	created := store.Now().Add(-10 * time.Minute)
	once := c.schedule(store.Schedule{Cron: "@every 1m", Enabled: true, Misfire: store.MisfireOnce, Created: created})
	skip := c.schedule(store.Schedule{Cron: "@every 1m", Enabled: true, Misfire: store.MisfireSkip, Created: created})
	if err := c.st.Schedules().Record(t.Context(), store.Outcome{ScheduleID: once.ID, At: created.Add(2 * time.Minute), TaskID: store.NewID()}); err != nil {
		t.Fatal(err)
	}
	c.master(0)
	c.master(0)
	ev := c.next(5 * time.Second)
	if ev.ScheduleID != once.ID || ev.Skipped {
		t.Fatalf("event %+v, want a fire of %s", ev, once.ID)
	}
	now := time.Now()
	if ev.At.After(now) || now.Sub(ev.At) > time.Minute {
		t.Fatalf("misfire fired %s, want the last fire time before now (%s)", ev.At, now)
	}
	select {
	case ev := <-c.events:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}
	if n := len(c.tasksOf(once.ID)); n != 1 {
		t.Fatalf("misfire once: %d tasks, want 1", n)
	}
	if n := len(c.tasksOf(skip.ID)); n != 0 {
		t.Fatalf("misfire skip: %d tasks, want 0", n)
	}
}

// A disabled schedule does not fire; enabling it (and telling the
// scheduler, as the bus event does) makes it fire; editing its cron moves
// its fire times; deleting it stops it.
func TestChanges(t *testing.T) {
	c := newCluster(t)
	sch := c.schedule(store.Schedule{Cron: "@every 1s", Enabled: false})
	m, _ := c.master(0)
	select {
	case ev := <-c.events:
		t.Fatalf("disabled schedule fired: %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
	sch.Enabled = true
	if err := c.st.Schedules().Update(t.Context(), sch); err != nil {
		t.Fatal(err)
	}
	m.Changed(sch.ID)
	c.next(3 * time.Second)
	sch.Cron = "0 0 1 1 *" // once a year
	if err := c.st.Schedules().Update(t.Context(), sch); err != nil {
		t.Fatal(err)
	}
	m.Changed(sch.ID)
	drain(c, 1100*time.Millisecond) // a fire already on its way may land
	select {
	case ev := <-c.events:
		t.Fatalf("edited schedule fired at its old times: %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
	sch.Cron = "@every 1s"
	if err := c.st.Schedules().Update(t.Context(), sch); err != nil {
		t.Fatal(err)
	}
	m.Changed(sch.ID)
	c.next(3 * time.Second)
	if err := c.st.Schedules().Delete(t.Context(), sch.ID); err != nil {
		t.Fatal(err)
	}
	m.Changed(sch.ID)
	drain(c, 1100*time.Millisecond)
	select {
	case ev := <-c.events:
		t.Fatalf("deleted schedule fired: %+v", ev)
	case <-time.After(1500 * time.Millisecond):
	}
}

// drain discards the events that arrive within d.
func drain(c *cluster, d time.Duration) {
	deadline := time.After(d)
	for {
		select {
		case <-c.events:
		case <-deadline:
			return
		}
	}
}

// flakyStore fails the first listing of schedules, as a store still
// starting would.
type flakyStore struct {
	store.Store
	failed atomic.Bool
}

type flakySchedules struct {
	store.Schedules
	s *flakyStore
}

func (f *flakyStore) Schedules() store.Schedules { return flakySchedules{f.Store.Schedules(), f} }

func (f flakySchedules) List(ctx context.Context) ([]store.Schedule, error) {
	if f.s.failed.CompareAndSwap(false, true) {
		return nil, errors.New("store not ready")
	}
	return f.Schedules.List(ctx)
}

// A store that cannot be read when the master starts delays the schedules,
// it does not stop the master: they fire once it answers.
func TestLoadRetried(t *testing.T) {
	c := newCluster(t)
	sch := c.schedule(store.Schedule{Cron: "@every 1s", Enabled: true})
	c.st = &flakyStore{Store: c.st}
	c.master(0)
	if ev := c.next(10 * time.Second); ev.ScheduleID != sch.ID {
		t.Fatalf("event %+v", ev)
	}
}
