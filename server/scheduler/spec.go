package scheduler

import (
	"errors"
	"fmt"
	"strings"
	"time"
	// The IANA timezone database, built in: schedules name zones, and a
	// machine without tzdata installed must read them the same.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// parser reads the standard five fields, an optional sixth (first) for
// seconds, and the descriptors (@hourly, @daily, @every 30s, …).
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a parsed schedule: its cron expression in its timezone. Its fire
// times depend on the expression alone, never on when a master computed
// them, so every master agrees on them: that is what the claim of a fire
// time names.
type Spec struct {
	sched cron.Schedule
	// every is set for "@every D": fire times are anchor + k·D, so they
	// do not drift with the moment each master looked (the library's own
	// @every counts from the time it is given).
	every  time.Duration
	anchor time.Time
	loc    *time.Location
}

// Parse reads expr in the IANA timezone tz ("" means UTC). anchor is when
// the schedule was created: "@every D" fires at anchor + D, anchor + 2D, ….
// The error names the problem, for the person who typed it.
func Parse(expr, tz string, anchor time.Time) (*Spec, error) {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return nil, errors.New("cron is empty: give five fields (minute hour day month weekday), six with seconds first, or a descriptor such as @hourly or @every 30s")
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errors.New("cron may not carry a TZ= prefix: set timezone instead")
	}
	loc := time.UTC
	if tz != "" {
		var err error
		if loc, err = time.LoadLocation(tz); err != nil || tz == "Local" {
			return nil, fmt.Errorf("timezone %q is not an IANA timezone name such as UTC, Europe/Berlin or America/New_York", tz)
		}
	}
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		dur, err := time.ParseDuration(strings.TrimSpace(d))
		if err != nil {
			return nil, fmt.Errorf("cron %q: %q is not a duration such as 30s, 5m or 1h30m", expr, strings.TrimSpace(d))
		}
		if dur < time.Second || dur%time.Second != 0 {
			return nil, fmt.Errorf("cron %q: @every takes whole seconds, at least 1s", expr)
		}
		return &Spec{every: dur, anchor: anchor.Truncate(time.Second), loc: loc}, nil
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cron %q: %v", expr, err)
	}
	if ss, ok := sched.(*cron.SpecSchedule); ok {
		ss.Location = loc
	}
	return &Spec{sched: sched, loc: loc}, nil
}

// Location is the spec's timezone.
func (s *Spec) Location() *time.Location { return s.loc }

// Next returns the first fire time after t, in the spec's timezone, or the
// zero time if there is none within five years (an expression such as
// "0 0 30 2 *").
func (s *Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		if t.Before(s.anchor) {
			return s.anchor.In(s.loc)
		}
		k := t.Sub(s.anchor)/s.every + 1
		return s.anchor.Add(k * s.every).In(s.loc)
	}
	next := s.sched.Next(t)
	if next.IsZero() {
		return next
	}
	return next.In(s.loc)
}

// NextN returns the first n fire times after t (fewer if the expression
// has fewer).
func (s *Spec) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// maxPrevSteps bounds Prev's walk: a day of an every-second expression.
const maxPrevSteps = 86400

// Prev returns the last fire time at or before t and after since, or the
// zero time if there is none: what a master that was down missed.
func (s *Spec) Prev(t, since time.Time) time.Time {
	if s.every > 0 {
		if t.Before(s.anchor) {
			return time.Time{}
		}
		last := s.anchor.Add(t.Sub(s.anchor) / s.every * s.every)
		if !last.After(since) {
			return time.Time{}
		}
		return last.In(s.loc)
	}
	var last time.Time
	next := s.Next(since)
	for range maxPrevSteps {
		if next.IsZero() || next.After(t) {
			break
		}
		last, next = next, s.Next(next)
	}
	return last
}
