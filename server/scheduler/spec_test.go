package scheduler

import (
	"strings"
	"testing"
	"time"
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSpecNext(t *testing.T) {
	anchor := mustTime(t, "2026-01-01T00:00:07Z")
	for _, tc := range []struct {
		cron, tz, after string
		want            []string
	}{
		{"*/15 * * * *", "", "2026-03-01T10:07:30Z", []string{"2026-03-01T10:15:00Z", "2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z"}},
		{"30 */20 * * * *", "", "2026-03-01T10:07:30Z", []string{"2026-03-01T10:20:30Z", "2026-03-01T10:40:30Z", "2026-03-01T11:00:30Z"}},
		{"@hourly", "", "2026-03-01T10:07:30Z", []string{"2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"}},
		{"@daily", "Asia/Tokyo", "2026-03-01T10:07:30Z", []string{"2026-03-01T15:00:00Z", "2026-03-02T15:00:00Z"}},
		{"0 9 * * MON-FRI", "Europe/Berlin", "2026-03-06T12:00:00Z", []string{"2026-03-09T08:00:00Z", "2026-03-10T08:00:00Z"}},
		// @every counts from the schedule's creation, whatever the moment
		// the master asks: every master names the same fire times.
		{"@every 30s", "", "2026-03-01T10:07:30.9Z", []string{"2026-03-01T10:07:37Z", "2026-03-01T10:08:07Z"}},
		{"@every 30s", "", "2026-03-01T10:07:37Z", []string{"2026-03-01T10:08:07Z"}},
		{"@every 1h", "", "2025-12-31T00:00:00Z", []string{"2026-01-01T00:00:07Z", "2026-01-01T01:00:07Z"}},
		// New York, spring forward (2026-03-08 02:00 EST → 03:00 EDT): as
		// the cron library documents, a fire time in the skipped hour does
		// not happen that day; hourly jumps from 01:00 EST to 03:00 EDT.
		{"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", []string{"2026-03-09T06:00:00Z"}},
		{"0 * * * *", "America/New_York", "2026-03-08T05:30:00Z", []string{"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z"}},
		// Fall back (2026-11-01 02:00 EDT → 01:00 EST): 01:00 happens twice,
		// and a daily 01:00 schedule fires at both.
		{"0 1 * * *", "America/New_York", "2026-11-01T04:00:00Z", []string{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-02T06:00:00Z"}},
	} {
		spec, err := Parse(tc.cron, tc.tz, anchor)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tc.cron, tc.tz, err)
			continue
		}
		got := spec.NextN(mustTime(t, tc.after), len(tc.want))
		var gotS []string
		for _, g := range got {
			gotS = append(gotS, g.UTC().Format(time.RFC3339))
		}
		if strings.Join(gotS, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q in %q after %s: got %v, want %v", tc.cron, tc.tz, tc.after, gotS, tc.want)
		}
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct{ cron, tz, want string }{
		{"", "", "cron is empty"},
		{"* * *", "", `cron "* * *"`},
		{"61 * * * *", "", "61"},
		{"@fortnightly", "", "@fortnightly"},
		{"@every soon", "", `"soon" is not a duration`},
		{"@every 500ms", "", "whole seconds"},
		{"* * * * *", "Mars/Olympus", `timezone "Mars/Olympus" is not an IANA timezone`},
		{"* * * * *", "Local", `timezone "Local"`},
		{"CRON_TZ=UTC * * * * *", "", "set timezone instead"},
	} {
		_, err := Parse(tc.cron, tc.tz, time.Time{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q, %q) = %v, want an error containing %q", tc.cron, tc.tz, err, tc.want)
		}
	}
}

func TestSpecPrev(t *testing.T) {
	anchor := mustTime(t, "2026-01-01T00:00:00Z")
	now := mustTime(t, "2026-03-01T10:07:30Z")
	for _, tc := range []struct{ cron, since, want string }{
		{"*/15 * * * *", "2026-02-28T10:07:30Z", "2026-03-01T10:00:00Z"},
		{"*/15 * * * *", "2026-03-01T10:00:00Z", ""}, // the last one is not after since
		{"@every 1m", "2026-02-28T10:07:30Z", "2026-03-01T10:07:00Z"},
		{"@every 1m", "2026-03-01T10:07:00Z", ""},
		{"0 0 1 1 *", "2026-02-28T10:07:30Z", ""}, // once a year: nothing in the last day
	} {
		spec, err := Parse(tc.cron, "", anchor)
		if err != nil {
			t.Fatal(err)
		}
		got := spec.Prev(now, mustTime(t, tc.since))
		gotS := ""
		if !got.IsZero() {
			gotS = got.UTC().Format(time.RFC3339)
		}
		if gotS != tc.want {
			t.Errorf("Prev(%q since %s) = %q, want %q", tc.cron, tc.since, gotS, tc.want)
		}
	}
}
