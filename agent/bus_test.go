package agent_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

const clusterSecret = "the-cluster-secret-of-this-test"

// TestAgentIgnoresForgedCommands: on a real Redis, with a cluster secret,
// commands published straight to the agent's channel without a signature,
// with another secret's, or signed for another node, do nothing: a
// cancel_task does not cancel, a ping gets no reply. The master's signed
// calls and the agent's signed events work end to end.
func TestAgentIgnoresForgedCommands(t *testing.T) {
	rd := testenv.StartRedis(t)
	n := startNode(t, config{redisURL: rd.URL, secret: clusterSecret})
	node := n.agent.NodeID()
	if err := n.caller.Call(n.ctx, node, wire.OpPing, nil, nil); err != nil {
		t.Fatalf("signed ping: %v", err)
	}

	// Everything on nodes:master, as anyone with access to Redis sees it.
	rc := redis.NewClient(&redis.Options{Addr: rd.Addr})
	defer rc.Close()
	ps := rc.Subscribe(n.ctx, wire.MasterChannel)
	defer ps.Close()
	if _, err := ps.Receive(n.ctx); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var heard []string
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for m := range ps.Channel() {
			mu.Lock()
			heard = append(heard, m.Payload)
			mu.Unlock()
		}
	}()

	// A task that ends by itself after a while, unless cancelled.
	task := n.run(n.spider("slow", "echo started\nsleep 2\necho done\n"))
	n.logBatch(task.ID, func(b wire.LogBatch) bool { return len(b.Lines) > 0 })

	wrong, _ := wire.NewSigner(strings.ToUpper(clusterSecret), nil)
	right, _ := wire.NewSigner(clusterSecret, nil)
	forged := func(id, typ, to, payload string) string {
		return `{"id":"` + id + `","type":"` + typ + `","node_id":"` + to + `","payload":` + payload + `}`
	}
	cancel := `{"task_id":"` + task.ID + `","by":"a forger"}`
	for _, msg := range [][]byte{
		[]byte(forged("forged-1", wire.OpCancelTask, node, cancel)),
		wrong.Sign([]byte(forged("forged-2", wire.OpCancelTask, node, cancel))),
		right.Sign([]byte(forged("forged-3", wire.OpCancelTask, "0000000000000000000000b0", cancel))),
		[]byte(forged("forged-4", wire.OpPing, node, "{}")),
		wrong.Sign([]byte(forged("forged-5", wire.OpPing, node, "{}"))),
		right.Sign([]byte(forged("forged-6", wire.OpPing, "0000000000000000000000b0", "{}"))),
	} {
		if err := rc.Publish(n.ctx, wire.NodeChannel(node), msg).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// After them on the same channel, a signed ping: it is answered.
	if err := n.caller.Call(n.ctx, node, wire.OpPing, nil, nil); err != nil {
		t.Fatalf("signed ping after the forgeries: %v", err)
	}
	ts := n.taskStatus(task.ID, store.TaskFinished)
	if ts.Reason != "" {
		t.Errorf("task ended with reason %q", ts.Reason)
	}
	ps.Close()
	<-watched
	mu.Lock()
	defer mu.Unlock()
	for _, m := range heard {
		if strings.Contains(m, `"re":"forged-`) {
			t.Errorf("a forged request was answered: %s", m)
		}
		if !strings.Contains(m, `,"sig":"`) {
			t.Errorf("the agent published an unsigned message: %s", m)
		}
	}
	// Logged once: the others within DropLogEvery are only counted.
	if strings.Count(n.logs.String(), "dropped a") != 1 {
		t.Errorf("the forged commands were not logged once")
	}
}
