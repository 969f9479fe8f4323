package soak

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"
)

// The generated part of the report file lies between these markers; the
// rest of the file is prose, kept as it is.
const (
	reportBegin = "<!-- soak report: written by make soak; edit outside these markers -->"
	reportEnd   = "<!-- /soak report -->"
)

// writeReport puts the run's report between the markers of path (at its
// end when it has none).
func writeReport(path string, r *Result, chart string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	section := reportBegin + "\n" + reportMarkdown(r, chart) + reportEnd
	s := string(old)
	i, j := strings.Index(s, reportBegin), strings.Index(s, reportEnd)
	if i >= 0 && j > i {
		s = s[:i] + section + s[j+len(reportEnd):]
	} else {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\n" + section + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func reportMarkdown(r *Result, chart string) string {
	var b bytes.Buffer
	verdict := "**passed**"
	if r.Failed() != nil {
		verdict = "**failed**"
	}
	loadAvg := ""
	if r.LoadAvg != "" {
		loadAvg = ", load average at the end of the run " + r.LoadAvg
	}
	fmt.Fprintf(&b, "Run of %s: %v of load, drained in %v, a sample every %v; %d CPUs%s. The soak %s.\n\n",
		r.Started.UTC().Format("2006-01-02 15:04 UTC"), r.Duration, r.Drain.Round(time.Second), r.Interval, runtime.NumCPU(), loadAvg, verdict)
	if chart != "" {
		fmt.Fprintf(&b, "![Memory, goroutines, open files and Redis memory of every process over the run](%s)\n\n", chart)
	}
	b.WriteString("| process | metric | 2nd quarter max | last quarter max | limit | trend, 2nd half (per hour) | samples | grew? |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---|\n")
	var notes []string // the reasons series are not judged, numbered in order
	for _, v := range r.Verdicts {
		grew := "no"
		switch {
		case v.NotJudged != "":
			n := slices.Index(notes, v.NotJudged)
			if n < 0 {
				notes = append(notes, v.NotJudged)
				n = len(notes) - 1
			}
			grew = fmt.Sprintf("not judged (%d)", n+1)
		case v.Grew:
			grew = "**yes**"
		}
		if v.Missing {
			fmt.Fprintf(&b, "| %s | %s | | | | | %d | **too few samples** |\n", v.Proc, v.Metric, v.Samples)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %d | %s |\n", v.Proc, v.Metric,
			format(v.Metric, v.Q2Max), format(v.Metric, v.Q4Max), format(v.Metric, v.Limit), signed(v.Metric, v.SlopePerHour), v.Samples, grew)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "(%d) %s; charted, not judged.\n", i+1, n)
		}
	}
	l := r.Load
	fmt.Fprintf(&b, "\nThe load: %d tasks created (%d short, %d long, %d cancelled on purpose), ended %s; %d log lines read back from the store and checked; "+
		"browsers followed %d tasks to their end, reconnecting %d times (%d connections lost without asking), and received and checked %d lines; "+
		"%d JSON-RPC calls (%d failed); %d spider uploads; %d cancels.\n\n",
		sum(l.Tasks), l.Tasks[kindShort], l.Tasks[kindLong], l.Tasks[kindCancel], endedText(l.Ended), l.StoredLines,
		l.Follows, l.Reconnects, l.Drops, l.FollowedLines, l.RPCCalls, l.RPCErrors, l.Uploads, l.Cancels)
	if len(l.RPCErrorSample) > 0 {
		fmt.Fprintf(&b, "JSON-RPC errors, the first few: %s.\n\n", strings.Join(l.RPCErrorSample, "; "))
	}
	if len(r.Losses) == 0 {
		b.WriteString("Losses: none — every task reached the status it should, every stored log has each line once and in order, and every browser saw every line in order across its reconnections.\n")
	} else {
		fmt.Fprintf(&b, "Losses (%d):\n\n", len(r.Losses))
		for _, s := range r.Losses {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	if len(r.Problems) > 0 {
		b.WriteString("\nOther problems:\n\n")
		for _, s := range r.Problems {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	return b.String()
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func endedText(m map[string]int) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var parts []string
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func signed(metric string, v float64) string {
	s := format(metric, math.Abs(v))
	if v < 0 {
		return "−" + s
	}
	return "+" + s
}

// --- the chart ---------------------------------------------------------------

// panels are the chart's four plots, one metric each.
var panels = []struct {
	metric, title string
	scale         float64
}{
	{MetricRSS, "RSS (MiB)", 1 << 20},
	{MetricGoroutines, "goroutines", 1},
	{MetricFDs, "open files", 1},
	{MetricRedisMem, "Redis used_memory (MiB)", 1 << 20},
}

// palette colours the processes, the same in every panel.
var palette = []string{"#2563eb", "#0891b2", "#16a34a", "#65a30d", "#ca8a04", "#dc2626", "#9333ea", "#db2777"}

// chartSVG draws the samples: a panel per metric, a line per process, the
// quarters the growth rule compares marked.
func chartSVG(r *Result) string {
	const (
		w, pw, ph   = 1000, 420, 220
		left, top   = 60, 76
		gapX, gapY  = 70, 60
		legendY     = 22
		fontFamily  = "system-ui, sans-serif"
		totalHeight = top + 2*ph + gapY + 40
	)
	var procs []string
	seen := map[string]bool{}
	for _, s := range r.Series {
		if !seen[s.Proc] {
			seen[s.Proc] = true
			procs = append(procs, s.Proc)
		}
	}
	color := map[string]string{}
	for i, p := range procs {
		color[p] = palette[i%len(palette)]
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n", w, totalHeight, w, totalHeight, fontFamily)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#fff"/>`+"\n")
	x := left
	for _, p := range procs {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="14" height="4" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", x, legendY-4, color[p], x+18, legendY, html.EscapeString(p))
		x += 28 + 7*len(p) + 12
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">x: time since the load started; dashed: its quarters (the growth rule compares the maxima of the 2nd and the last)</text>`+"\n", left, legendY+20)
	dur := r.Duration.Seconds()
	for i, pn := range panels {
		px := left + (i%2)*(pw+gapX)
		py := top + (i/2)*(ph+gapY)
		var ss []*Series
		hi := 0.0
		for _, s := range r.Series {
			if s.Metric == pn.metric {
				ss = append(ss, s)
				for _, p := range s.Points {
					hi = max(hi, p.V/pn.scale)
				}
			}
		}
		hi = niceCeil(hi)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="600">%s</text>`+"\n", px, py-8, pn.title)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>`+"\n", px, py, pw, ph)
		for k := 0; k <= 4; k++ {
			gy := py + ph - k*ph/4
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#eee"/><text x="%d" y="%d" text-anchor="end" fill="#555">%s</text>`+"\n",
				px, px+pw, gy, gy, px-4, gy+4, tick(hi*float64(k)/4))
		}
		for q := 1; q <= 3; q++ {
			qx := px + q*pw/4
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4 4"/>`+"\n", qx, qx, py, py+ph)
		}
		for k := 0; k <= 4; k++ {
			tx := px + k*pw/4
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">%s</text>`+"\n", tx, py+ph+14, minutes(dur*float64(k)/4))
		}
		for _, s := range ss {
			var pts []string
			for _, p := range s.Points {
				fx := float64(px) + p.T/dur*float64(pw)
				fy := float64(py+ph) - (p.V/pn.scale)/hi*float64(ph)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", fx, fy))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color[s.Proc], strings.Join(pts, " "))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func tick(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

func minutes(s float64) string {
	if s < 120 {
		return fmt.Sprintf("%.0f s", s)
	}
	return fmt.Sprintf("%.0f min", s/60)
}
