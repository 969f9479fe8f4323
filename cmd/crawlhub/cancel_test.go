package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClusterCancelRacingClaim: on Redis and the MongoDB-compatible store,
// with two agents racing to claim each task, a cancel sent at once is
// never lost: the task ends cancelled, and one cancelled while pending
// never ran.
func TestClusterCancelRacingClaim(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "a1", "a2")
	sp := c.spider("racer", "sh run.sh", map[string]string{"run.sh": "echo ran\nsleep 30\n"})
	type round struct{ id, answer string }
	var rounds []round
	for i := range 12 {
		id := c.run(map[string]any{"spider_id": sp.ID})[0].ID
		answer := ""
		eventually(t, 20*time.Second, "cancel of task "+id, func() error {
			var got taskJSON
			code, e, err := c.api.postJSON("/api/tasks/"+id+"/cancel", nil, &got)
			switch {
			case err != nil:
				return err
			case code == http.StatusAccepted:
				answer = got.Status
				return nil
			case code == http.StatusConflict && strings.Contains(e.Message, "is starting"):
				return fmt.Errorf("round %d: %s", i, e.Message) // try again
			}
			t.Fatalf("round %d: cancel: %d %+v", i, code, e)
			return nil
		})
		rounds = append(rounds, round{id, answer})
	}
	answers := map[string]int{}
	for _, r := range rounds {
		answers[r.answer]++
		got := c.waitTask(r.id, 30*time.Second, "cancelled", "finished", "error", "abnormal")
		if got.Status != "cancelled" {
			t.Errorf("task %s (cancel answered %q) ended %s: %s", r.id, r.answer, got.Status, got.Reason)
		}
		if lines := c.logOf(r.id); r.answer == "cancelled" && len(lines) > 0 {
			t.Errorf("task %s was cancelled while pending, and ran: %q", r.id, lines)
		}
	}
	t.Logf("cancel answered: %v", answers)
}
