package soak

import (
	"fmt"
	"time"
)

// The rule for "grows without bound". The load is the same from start to
// end, so a process that keeps what it should let go holds more at the end
// than in the middle. The first quarter is warm-up (heaps and caches fill,
// connections open), so it is left out:
//
//	a series grew when max(last quarter) > max(second quarter) × (1 + GrowthRatio) + floor
//
// with an absolute floor per metric, so that the noise of a small number
// (a few goroutines, a few files) is not a leak. Maxima rather than means,
// because the load comes in waves (a long task starts, 50 browsers join
// it): the peaks of two quarters of the same load compare like with like.
// The least-squares slope over the second half is reported beside it, per
// hour, to show the trend; it does not decide.
const GrowthRatio = 0.20

// floors are the absolute allowance per metric, on top of GrowthRatio.
var floors = map[string]float64{
	MetricRSS:        32 << 20,
	MetricGoroutines: 100,
	MetricFDs:        50,
	MetricRedisMem:   16 << 20,
}

// notJudged are the series charted and tabled but not judged, and why.
// FerretDB stands in for MongoDB, and its memory grows with the data it
// holds, which grows by design (every task and its log are kept): FerretDB
// v1 scans a whole collection for every query, and each of its SQLite
// connections caches pages of a growing file. That is the store server's
// nature, not a leak in crawlhub; crawlhub's side of it, its connections,
// shows in FerretDB's open files, which are judged.
var notJudged = map[string]string{
	"ferretdb/" + MetricRSS: "FerretDB's memory grows with the data it holds (it scans a collection for every query)",
}

// Verdict is the rule applied to one series.
type Verdict struct {
	Proc, Metric string
	Q2Max, Q4Max float64 // the maxima of the second and the last quarter
	Limit        float64 // what Q4Max may reach
	SlopePerHour float64 // least squares over the second half
	Samples      int
	Grew         bool
	NotJudged    string // why the rule is not applied, or empty
	Missing      bool   // too few samples to judge: a failure too
}

// Why says the numbers behind a verdict.
func (v Verdict) Why() string {
	if v.Missing {
		return fmt.Sprintf("only %d samples", v.Samples)
	}
	return fmt.Sprintf("last quarter's max %s > limit %s (second quarter's max %s × %.2f + %s)",
		format(v.Metric, v.Q4Max), format(v.Metric, v.Limit), format(v.Metric, v.Q2Max), 1+GrowthRatio, format(v.Metric, floors[v.Metric]))
}

// MinJudged is the shortest load the growth rule is applied to. Its
// quarters must be longer than the load's waves (a long task runs up to 2
// minutes, and the browsers following it move with it from master to
// master), or the peaks of two quarters do not compare like with like: a
// 3-minute run's quarters are 45 s, and a wave of reconnections alone
// moves a master's goroutines by more than the floor. A shorter run (make
// test's) is still judged on what it lost, and its series are tabled.
const MinJudged = 10 * time.Minute

// tooShort is the reason a shorter run's series are not judged.
const tooShort = "a run shorter than 10 minutes has quarters shorter than the load's waves, so its peaks do not compare like with like; it is judged on what it lost"

func judgeAll(ss []*Series, d time.Duration) []Verdict {
	var vs []Verdict
	for _, s := range ss {
		v := judge(s, d.Seconds())
		if d < MinJudged && !v.Missing && v.NotJudged == "" {
			v.Grew, v.NotJudged = false, tooShort
		}
		vs = append(vs, v)
	}
	return vs
}

// judge applies the rule to s, sampled over a load of dur seconds.
func judge(s *Series, dur float64) Verdict {
	v := Verdict{Proc: s.Proc, Metric: s.Metric, Samples: len(s.Points)}
	var q2, q4 []Point
	var half []Point
	for _, p := range s.Points {
		switch {
		case p.T > dur/4 && p.T <= dur/2:
			q2 = append(q2, p)
		case p.T > dur*3/4:
			q4 = append(q4, p)
		}
		if p.T > dur/2 {
			half = append(half, p)
		}
	}
	if len(q2) < 2 || len(q4) < 2 {
		v.Missing, v.Grew = true, true
		return v
	}
	v.Q2Max, v.Q4Max = maxOf(q2), maxOf(q4)
	v.Limit = v.Q2Max*(1+GrowthRatio) + floors[s.Metric]
	v.SlopePerHour = slope(half) * 3600
	if v.NotJudged = notJudged[s.Proc+"/"+s.Metric]; v.NotJudged == "" {
		v.Grew = v.Q4Max > v.Limit
	}
	return v
}

func maxOf(ps []Point) float64 {
	m := ps[0].V
	for _, p := range ps[1:] {
		m = max(m, p.V)
	}
	return m
}

// slope is the least-squares slope of V over T, per second.
func slope(ps []Point) float64 {
	n := float64(len(ps))
	if n < 2 {
		return 0
	}
	var st, sv, stt, stv float64
	for _, p := range ps {
		st += p.T
		sv += p.V
		stt += p.T * p.T
		stv += p.T * p.V
	}
	den := n*stt - st*st
	if den == 0 {
		return 0
	}
	return (n*stv - st*sv) / den
}

// format writes a value in the metric's unit.
func format(metric string, v float64) string {
	switch metric {
	case MetricRSS, MetricRedisMem:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	default:
		return fmt.Sprintf("%.0f", v)
	}
}
