package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// runStats prints the overview of a window (GET /api/stats).
func runStats(ctx context.Context, args []string) error {
	fs := newFlags("stats", "crawlhub stats [--from T] [--to T] [--bucket hour|day] [--json]: how tasks ended, by hour\n"+
		"or day, and per spider (the last 24 hours by default; RFC 3339 times).")
	var cf clientFlags
	cf.register(fs)
	from := fs.String("from", "", "start of the window, e.g. 2026-12-01T00:00:00Z (default: 24 hours, or 30 days by day, before --to)")
	to := fs.String("to", "", "end of the window (default: now)")
	bucket := fs.String("bucket", "hour", "hour or day")
	asJSON := fs.Bool("json", false, "print the overview as JSON, as the API returns it")
	if err := parse(fs, args); err != nil {
		return quietHelp(err)
	}
	q := url.Values{}
	for k, v := range map[string]string{"from": *from, "to": *to, "bucket": *bucket} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var st store.TaskStats
	if err := cf.rest(ctx, http.MethodGet, "/api/stats?"+q.Encode(), nil, &st); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStats(&st)
}

// statuses are the final statuses, in the order the summary shows them.
var statuses = []string{store.TaskFinished, store.TaskError, store.TaskAbnormal, store.TaskCancelled}

func printStats(st *store.TaskStats) error {
	var ended int64
	for _, c := range st.Totals {
		ended += c
	}
	fmt.Printf("Tasks that ended from %s to %s: %d", stamp(st.From), stamp(st.To), ended)
	if ended > 0 {
		fmt.Printf(" (%.1f%% finished)", 100*st.SuccessRate)
	}
	fmt.Printf("\n  %s\nNow: %d running, %d pending. Items saved: %d.\n\n", countsLine(st.Totals), st.Running, st.Pending, st.Items)

	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, strings.ToUpper(st.Bucket)+"\t"+strings.ToUpper(strings.Join(statuses, "\t"))+"\t")
	for _, b := range st.Buckets {
		if len(b.Counts) == 0 {
			continue
		}
		layout := "2006-01-02 15:04"
		if st.Bucket == "day" {
			layout = "2006-01-02"
		}
		row := []string{b.Start.UTC().Format(layout)}
		for _, s := range statuses {
			row = append(row, fmt.Sprint(b.Counts[s]))
		}
		fmt.Fprintln(w, strings.Join(row, "\t")+"\t")
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(st.Spiders) == 0 {
		return nil
	}
	fmt.Println()
	w = tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SPIDER\tENDED\tFAILED\tAVG\tP95\tITEMS")
	for _, sp := range st.Spiders {
		var n int64
		for _, c := range sp.Counts {
			n += c
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%d\n", sp.SpiderName, n, sp.Failed, seconds(sp.AvgSeconds), seconds(sp.P95Seconds), sp.Items)
	}
	return w.Flush()
}

func countsLine(m map[string]int64) string {
	var parts []string
	for _, s := range statuses {
		parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if !slices.Contains(statuses, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func seconds(s float64) string {
	if s == 0 {
		return "-"
	}
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}
