package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// TestCancelRacingClaim: a cancel sent while the agent claims the task is
// never lost. Each round runs a task and cancels it at once, while the
// agent takes it; the cancel either cancels the pending task (which then
// never runs), or finds it running (and it ends cancelled), or is refused
// with 409 while the agent is starting it (and a cancel sent again
// cancels it). Never a task cancelled in the store that runs anyway, nor
// an accepted cancel of a task that then runs to its end.
func TestCancelRacingClaim(t *testing.T) {
	e := newEnv(t)
	// "ran" is the first thing the task does; it would then run for 30 s.
	sp := e.spider("racer", "echo ran\nsleep 30\n")
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	outcomes := map[string]int{}
	type round struct {
		id      string
		outcome string
	}
	var all []round
	for i := range rounds {
		var l struct{ Items []store.Task }
		e.do("POST", "/api/tasks", map[string]any{"spider_id": sp.ID}, &l)
		id := l.Items[0].ID
		// Spread the cancel over the agent's claim (a few ms after the
		// nudge): at once in some rounds, a little later in others.
		time.Sleep(time.Duration(i%5) * 500 * time.Microsecond)
		outcome := ""
		for outcome == "" {
			code, _, body := e.request("POST", "/api/tasks/"+id+"/cancel", "", nil, nil)
			switch {
			case code == 202:
				var got store.Task
				json.Unmarshal([]byte(body), &got)
				outcome = got.Status // cancelled (while pending) or running (cancel_task sent)
			case code == 409 && strings.Contains(body, "is starting"):
				outcomes["refused while starting"]++
				// Try again once the agent has recorded its claim.
				e.tap.wait(func(env *wire.Envelope) bool { return isStatus(env, id, store.TaskRunning) })
			default:
				t.Fatalf("round %d: cancel: %d %s", i, code, body)
			}
		}
		outcomes[outcome]++
		all = append(all, round{id, outcome})
	}
	for _, r := range all {
		ended := e.tap.wait(func(env *wire.Envelope) bool {
			var ts wire.TaskStatus
			return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == r.id && store.TaskEnded(ts.Status)
		})
		var ts wire.TaskStatus
		json.Unmarshal(ended.Payload, &ts)
		if ts.Status != store.TaskCancelled {
			t.Errorf("task %s (cancel answered %q) ended %s: %s", r.id, r.outcome, ts.Status, ts.Reason)
		}
	}
	// Every task has ended; the agent has run what it ran.
	for _, r := range all {
		cur, err := e.st.Tasks().Get(e.ctx, r.id)
		if err != nil {
			t.Fatal(err)
		}
		lines, _ := e.st.Logs().ReadLog(e.ctx, r.id, 0, 10)
		ran := len(lines) > 0 || e.tap.seenWith(func(env *wire.Envelope) bool { return isStatus(env, r.id, store.TaskRunning) })
		switch {
		case cur.Status != store.TaskCancelled:
			t.Errorf("task %s is %s in the store, want cancelled", r.id, cur.Status)
		case r.outcome == store.TaskCancelled && ran:
			t.Errorf("task %s was cancelled while pending, and ran (log %q)", r.id, lines)
		}
	}
	t.Logf("%d rounds: %v", rounds, outcomes)
}

func isStatus(env *wire.Envelope, taskID, status string) bool {
	var ts wire.TaskStatus
	return env.Type == wire.EvTaskStatus && json.Unmarshal(env.Payload, &ts) == nil && ts.TaskID == taskID && ts.Status == status
}
