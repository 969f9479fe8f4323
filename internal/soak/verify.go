package soak

import (
	"context"
	"fmt"
	"strconv"

	"github.com/crawlhub/crawlhub/internal/bench"
)

// verifyStore checks every task the load created: it has a final status,
// the one its kind should end with; its stored log (read back through the
// REST API, which reads an ended task's log from the store) has every
// line exactly once and in order, as many as the task counted; and every
// browser that followed it to its end saw that many.
func (l *load) verifyStore(ctx context.Context) []string {
	l.mu.Lock()
	tasks := append([]*task(nil), l.tasks...)
	follows := append([]*follow(nil), l.follows...)
	l.mu.Unlock()
	var out []string
	lost := func(format string, a ...any) {
		if len(out) < 100 {
			out = append(out, fmt.Sprintf(format, a...))
		}
	}
	stored := map[string]int64{}
	for _, t := range tasks {
		var ti bench.TaskInfo
		if err := l.master().API(ctx, "GET", "/api/tasks/"+t.id, nil, &ti); err != nil {
			lost("task %s (%s): %v", t.id, t.kind, err)
			continue
		}
		l.mu.Lock()
		l.ended[ti.Status]++
		l.mu.Unlock()
		want := "finished"
		if t.kind == kindCancel {
			want = "cancelled"
		}
		if ti.Status != want {
			lost("task %s (%s) ended %q, not %q: %s", t.id, t.kind, ti.Status, want, ti.Reason)
			continue
		}
		if t.kind != kindCancel && ti.LogLines != t.lines {
			lost("task %s (%s) counts %d log lines; it wrote %d", t.id, t.kind, ti.LogLines, t.lines)
		}
		n, err := l.readStoredLog(ctx, t.id, ti.LogLines)
		if err != nil {
			lost("task %s (%s): %v", t.id, t.kind, err)
			continue
		}
		stored[t.id] = n
		l.mu.Lock()
		l.storedLns += n
		l.mu.Unlock()
	}
	for _, f := range follows {
		if n, ok := stored[f.taskID]; ok && f.ended && f.total != n {
			lost("a browser saw task %s end with %d lines; the store has %d", f.taskID, f.total, n)
		}
	}
	return out
}

// readStoredLog reads a task's log page by page and checks that line i is
// the emitter's line i, for all want lines and no more.
func (l *load) readStoredLog(ctx context.Context, id string, want int64) (int64, error) {
	var next int64
	for {
		var b struct {
			From  int64    `json:"from"`
			Lines []string `json:"lines"`
			Total int64    `json:"total"`
		}
		if err := l.master().API(ctx, "GET", "/api/tasks/"+id+"/log?from="+strconv.FormatInt(next, 10)+"&limit=10000", nil, &b); err != nil {
			return next, err
		}
		if b.Total != want {
			return next, fmt.Errorf("the store holds %d log lines; the task counts %d", b.Total, want)
		}
		for i, line := range b.Lines {
			if n := next + int64(i); !lineIs(line, n) {
				return next, fmt.Errorf("stored line %d is %.30q: a line lost, repeated or out of order", n, line)
			}
		}
		next += int64(len(b.Lines))
		if len(b.Lines) == 0 || next >= b.Total {
			return next, nil
		}
	}
}
