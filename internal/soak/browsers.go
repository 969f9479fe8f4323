package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/bench"
	"github.com/crawlhub/crawlhub/wsapi"
)

// follow is one browser following one task's log, across its reconnects.
type follow struct {
	taskID string
	next   int64 // the next line it needs
	ended  bool
	status string
	total  int64
	gaps   int64 // lines skipped
	dups   int64 // lines received twice
	bad    int64 // lines whose text is not the line its number says
	err    string
}

// browser follows a log as the dashboard does (a WebSocket speaking
// JSON-RPC, subscribing to task:<id>:log with since), leaving and coming
// back every 5 to 30 s, each time to either master, until the load ends;
// then it follows its last task to the end.
func (l *load) browser(loadCtx, drainCtx context.Context, i int) {
	rng := rand.New(rand.NewPCG(uint64(i), uint64(time.Now().UnixNano())))
	for loadCtx.Err() == nil {
		id := l.pickFollowable(rng)
		if id == "" {
			select {
			case <-loadCtx.Done():
			case <-time.After(time.Second): // no task to follow yet
			}
			continue
		}
		f := &follow{taskID: id}
		l.follow(drainCtx, rng, f)
		if f.ended {
			// Seen before the load's own check does: no browser should
			// pick it again and get nothing but its backlog and its end.
			l.unfollowable(id)
		}
		l.mu.Lock()
		l.follows = append(l.follows, f)
		l.mu.Unlock()
	}
}

// follow follows f.taskID from line 0 until its end or ctx ends.
func (l *load) follow(ctx context.Context, rng *rand.Rand, f *follow) {
	channel := wsapi.LogChannel(f.taskID)
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			l.reconnects.Add(1)
		}
		m := l.c.masters[rng.IntN(len(l.c.masters))]
		stay := time.Duration(5+rng.IntN(26)) * time.Second
		done, err := l.followOnce(ctx, m, channel, stay, f)
		if done {
			return
		}
		if err != nil {
			f.err = err.Error()
			l.drops.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond): // as the dashboard backs off
			}
		}
	}
	if !f.ended && f.err == "" {
		f.err = "the follow did not end before the drain's deadline"
	}
}

// followOnce connects to m, subscribes with since, and checks what comes
// until the end (done), stay has passed (a deliberate leave), or the
// connection ends (err).
func (l *load) followOnce(ctx context.Context, m *bench.Master, channel string, stay time.Duration, f *follow) (done bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := client.Dial(dctx, m.Base, bench.Token)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = conn.Subscribe(sctx, channel, f.next)
	cancel()
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	leave := time.NewTimer(stay)
	defer leave.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case <-leave.C:
			return false, nil
		case p, ok := <-conn.Publications():
			if !ok {
				return false, fmt.Errorf("connection lost: %v", conn.Err())
			}
			if p.Channel != channel {
				continue
			}
			var d wsapi.LogData
			if err := json.Unmarshal(p.Data, &d); err != nil {
				return false, fmt.Errorf("malformed log data: %w", err)
			}
			if d.End {
				f.ended, f.status, f.total = true, d.Status, d.Total
				return true, nil
			}
			l.check(f, d)
		}
	}
}

// check takes one batch: lines From, From+1, … must continue exactly
// where the browser is, each the line its number says.
func (l *load) check(f *follow, d wsapi.LogData) {
	switch {
	case d.From > f.next:
		f.gaps += d.From - f.next
	case d.From < f.next:
		f.dups += min(f.next-d.From, int64(len(d.Lines)))
	}
	var n int64
	for i, line := range d.Lines {
		num := d.From + int64(i)
		if num < f.next {
			continue
		}
		if !lineIs(line, num) {
			f.bad++
		}
		n++
	}
	f.next = max(f.next, d.From+int64(len(d.Lines)))
	l.followedLines.Add(n)
}

// lineIs reports whether line is the emitter's line number n (bench.Emit:
// "~L" then ten digits).
func lineIs(line string, n int64) bool {
	if len(line) < 12 || line[:2] != "~L" {
		return false
	}
	var v int64
	for _, c := range line[2:12] {
		if c < '0' || c > '9' {
			return false
		}
		v = v*10 + int64(c-'0')
	}
	return v == n
}

// followerLosses lists every follow that saw a gap, a repeat or a wrong
// line, or did not see its end.
func (l *load) followerLosses() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, f := range l.follows {
		switch {
		case f.gaps > 0 || f.dups > 0 || f.bad > 0:
			out = append(out, fmt.Sprintf("a browser following task %s missed %d lines, got %d twice and %d wrong", f.taskID, f.gaps, f.dups, f.bad))
		case !f.ended:
			out = append(out, fmt.Sprintf("a browser following task %s saw no end (at line %d): %s", f.taskID, f.next, f.err))
		case f.total != f.next:
			out = append(out, fmt.Sprintf("a browser following task %s got %d lines but the end says %d", f.taskID, f.next, f.total))
		}
	}
	return out
}
