package server_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// TestRunNamesTasks: a master creating a task names it in the
// task_available it sends the nodes that may run it, so they claim it
// without looking for it in the store.
func TestRunNamesTasks(t *testing.T) {
	e := newEnv(t)
	named := make(chan wire.TaskAvailable, 16)
	b := e.broker.Connect(func(_ string, payload []byte) {
		var env wire.Envelope
		var ta wire.TaskAvailable
		if json.Unmarshal(payload, &env) == nil && env.Type == wire.OpTaskAvailable && json.Unmarshal(env.Payload, &ta) == nil {
			select {
			case named <- ta:
			default: // the test has what it waits for
			}
		}
	})
	defer b.Close()
	if err := b.Subscribe(context.Background(), wire.NodeChannel(e.agent.NodeID())); err != nil {
		t.Fatal(err)
	}
	sp := e.spider("named", "echo hi\n")
	var l struct{ Items []store.Task }
	e.do("POST", "/api/tasks", map[string]any{"spider_id": sp.ID}, &l)
	id := l.Items[0].ID
	deadline := time.After(wait)
	for {
		select {
		case ta := <-named:
			if slices.Contains(ta.TaskIDs, id) {
				return
			}
		case <-deadline:
			t.Fatalf("no task_available named task %s in %s", id, wait)
		}
	}
}
