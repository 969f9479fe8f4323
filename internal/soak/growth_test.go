package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// series makes a series of n samples over dur seconds with value f(t).
func series(metric string, n int, dur float64, f func(t float64) float64) *Series {
	s := &Series{Proc: "p", Metric: metric}
	for i := range n {
		t := dur * float64(i) / float64(n-1)
		s.Points = append(s.Points, Point{T: t, V: f(t)})
	}
	return s
}

func TestJudge(t *testing.T) {
	const dur = 1800.0
	mib := float64(1 << 20)
	for _, tc := range []struct {
		name   string
		s      *Series
		grew   bool
		upward bool // the reported trend is upward
	}{
		// Warm-up in the first quarter, then flat: not a leak.
		{"warm-up then flat", series(MetricRSS, 120, dur, func(t float64) float64 {
			return 40*mib + min(t, dur/4)/(dur/4)*60*mib
		}), false, false},
		// Waves of the same height all run long: not a leak.
		{"steady waves", series(MetricGoroutines, 120, dur, func(t float64) float64 {
			return 200 + 150*float64(int(t/60)%2)
		}), false, false},
		// A small number growing a little: under the floor.
		{"small drift", series(MetricFDs, 120, dur, func(t float64) float64 { return 30 + t/dur*20 }), false, true},
		// 4 MiB a minute, steadily: a leak.
		{"steady leak", series(MetricRSS, 120, dur, func(t float64) float64 { return 50*mib + 4*t/60*mib }), true, true},
		// A goroutine per task never ended.
		{"goroutine leak", series(MetricGoroutines, 120, dur, func(t float64) float64 { return 100 + t/2 }), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.s, dur)
			if v.Grew != tc.grew {
				t.Errorf("grew = %v, want %v (%s)", v.Grew, tc.grew, v.Why())
			}
			if (v.SlopePerHour > 1e-3) != tc.upward {
				t.Errorf("trend %v per hour, want upward %v", v.SlopePerHour, tc.upward)
			}
		})
	}
	// Too few samples to compare quarters is a failure, not a pass.
	if v := judge(series(MetricRSS, 3, dur, func(float64) float64 { return 1 }), dur); !v.Missing || !v.Grew {
		t.Errorf("3 samples: %+v, want Missing and Grew", v)
	}
}

func TestLineIs(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		want bool
	}{
		{"~L0000000042T1234567890123456789 xxx", 42, true},
		{"~L0000000042T1234567890123456789 xxx", 41, false},
		{"~L00000000", 0, false},
		{"L0000000042", 42, false},
		{"~L00000000x2", 2, false},
	} {
		if got := lineIs(tc.line, tc.n); got != tc.want {
			t.Errorf("lineIs(%q, %d) = %v, want %v", tc.line, tc.n, got, tc.want)
		}
	}
}

// The report replaces its own section of the file and keeps the prose
// around it; a file without markers gets the section at its end.
func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "soak.md")
	r := &Result{Started: time.Now(), Duration: 3 * time.Minute, Interval: 2 * time.Second,
		Series:   []*Series{series(MetricRSS, 90, 180, func(float64) float64 { return 1 << 25 })},
		Load:     LoadStats{Tasks: map[string]int{kindShort: 3}, Ended: map[string]int{"finished": 3}},
		Verdicts: []Verdict{judge(series(MetricRSS, 90, 180, func(float64) float64 { return 1 << 25 }), 180)}}
	if err := os.WriteFile(path, []byte("# Soak\n\nprose before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, r, "soak.svg"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(mustRead(t, path), "\nprose after\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Losses = []string{"task x lost"}
	if err := writeReport(path, r, "soak.svg"); err != nil {
		t.Fatal(err)
	}
	got := string(mustRead(t, path))
	for _, want := range []string{"prose before", "prose after", "**failed**", "task x lost", "](soak.svg)", "| p | rss_bytes | 32.0 MiB | 32.0 MiB |"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, reportBegin); n != 1 {
		t.Errorf("%d report sections, want 1", n)
	}
	if svg := chartSVG(r); !strings.HasPrefix(svg, "<svg") || !strings.Contains(svg, "<polyline") {
		t.Errorf("chart is not an SVG with a line:\n%.300s", svg)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FerretDB's memory is charted but not judged; its open files are.
func TestNotJudged(t *testing.T) {
	leak := func(t float64) float64 { return 100 + t }
	if v := judge(&Series{Proc: "ferretdb", Metric: MetricRSS, Points: series(MetricRSS, 120, 1800, leak).Points}, 1800); v.Grew || v.NotJudged == "" {
		t.Errorf("ferretdb RSS: %+v, want not judged", v)
	}
	if v := judge(&Series{Proc: "ferretdb", Metric: MetricFDs, Points: series(MetricFDs, 120, 1800, leak).Points}, 1800); !v.Grew {
		t.Errorf("ferretdb open files: %+v, want grew", v)
	}
}

// A run's samples written out make the same report again, judged anew.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Samples: filepath.Join(dir, "soak.json"), Report: filepath.Join(dir, "soak.md"), Chart: filepath.Join(dir, "soak.svg")}
	r := &Result{Started: time.Now(), Duration: 30 * time.Minute, Interval: 15 * time.Second,
		Series: []*Series{series(MetricGoroutines, 120, 1800, func(t float64) float64 { return 100 + t })}}
	if err := Write(r, cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cfg.Report); err != nil {
		t.Fatal(err)
	}
	got, err := Render(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Verdicts) != 1 || !got.Verdicts[0].Grew || got.Failed() == nil {
		t.Errorf("rendered verdicts %+v, want one that grew", got.Verdicts)
	}
	if md := string(mustRead(t, cfg.Report)); !strings.Contains(md, "| p | goroutines |") || !strings.Contains(md, "](soak.svg)") {
		t.Errorf("rendered report:\n%s", md)
	}
}

// A run shorter than MinJudged is not judged on growth (its quarters are
// shorter than the load's waves), only on losses and missing samples; a
// run of MinJudged is.
func TestShortRunNotJudged(t *testing.T) {
	leak := func(t float64) float64 { return 100 + 10*t }
	short := judgeAll([]*Series{series(MetricGoroutines, 90, 180, leak)}, 3*time.Minute)
	if v := short[0]; v.Grew || v.NotJudged == "" {
		t.Errorf("3 minutes: %+v, want not judged", v)
	}
	few := judgeAll([]*Series{series(MetricGoroutines, 3, 180, leak)}, 3*time.Minute)
	if v := few[0]; !v.Missing || !v.Grew {
		t.Errorf("3 minutes, 3 samples: %+v, want missing", v)
	}
	long := judgeAll([]*Series{series(MetricGoroutines, 120, 600, leak)}, MinJudged)
	if v := long[0]; !v.Grew {
		t.Errorf("10 minutes: %+v, want grew", v)
	}
}
