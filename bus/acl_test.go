package bus_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
)

// The Redis ACL users of docs/security.md ("Redis ACLs and rediss://"),
// exactly as written there: a master may use every crawlhub channel and
// claim key; an agent only its own node channel, nodes:master, the task
// channels and task claims.
var aclUsers = []string{
	"ACL SETUSER crawlhub-master on >master-password resetchannels &nodes:* &logs:* &items:* resetkeys ~crawlhub:claim:* -@all +ping +hello +auth +select +publish +subscribe +unsubscribe +set",
	"ACL SETUSER crawlhub-agent-1 on >agent-password resetchannels &nodes:master &nodes:NODEID &logs:* &items:* resetkeys ~crawlhub:claim:task:* -@all +ping +hello +auth +select +publish +subscribe +unsubscribe +set",
}

// TestRedisACL: the bus works for the documented users, and the agent's
// user cannot publish on another node's channel nor take a schedule's
// claim.
func TestRedisACL(t *testing.T) {
	rd := testenv.StartRedis(t)
	testRedisACL(t, []string{rd.Addr}, "", func(user, pw string) string { return "redis://" + user + ":" + pw + "@" + rd.Addr + "/0" })
}

// clusterACL is what both users need more on Redis Cluster
// (docs/redis.md): the sharded PubSub commands, and CLUSTER SLOTS, which
// the client reads to route each command to the node owning its slot.
const clusterACL = " +ssubscribe +sunsubscribe +spublish +cluster|slots"

// TestRedisClusterACL: the same users, with clusterACL, on Redis Cluster
// (each node keeps its own ACL).
func TestRedisClusterACL(t *testing.T) {
	c := testenv.StartRedisCluster(t)
	testRedisACL(t, c.Addrs, clusterACL, func(user, pw string) string {
		return "redis+cluster://" + user + ":" + pw + "@" + strings.Join(c.Addrs, ",") + "/"
	})
}

func testRedisACL(t *testing.T, addrs []string, more string, url func(user, pw string) string) {
	ctx := context.Background()
	const node = "0123456789abcdef01234567"
	for _, addr := range addrs {
		admin := redis.NewClient(&redis.Options{Addr: addr})
		defer admin.Close()
		for _, cmd := range aclUsers {
			args := []any{}
			for _, f := range strings.Fields(strings.ReplaceAll(cmd, "NODEID", node) + more) {
				args = append(args, f)
			}
			if err := admin.Do(ctx, args...).Err(); err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
		}
	}
	mc, ac := newCollector(), newCollector()
	master, err := bus.NewRedis(ctx, url("crawlhub-master", "master-password"), mc.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	agent, err := bus.NewRedis(ctx, url("crawlhub-agent-1", "agent-password"), ac.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	if err := master.Subscribe(ctx, "nodes:master", "logs:t1"); err != nil {
		t.Fatal(err)
	}
	if err := agent.Subscribe(ctx, "nodes:"+node); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(master.Publish(ctx, "nodes:"+node, []byte("request")))
	must(agent.Publish(ctx, "nodes:master", []byte("reply")))
	must(agent.Publish(ctx, "logs:t1", []byte("lines")))
	if got := ac.waitN(t, 1, 5*time.Second); got[0] != "nodes:"+node+"=request" {
		t.Errorf("agent got %v", got)
	}
	mc.waitN(t, 2, 5*time.Second)
	for _, key := range []string{"crawlhub:claim:task:t1", "crawlhub:claim:fire:s1:1"} {
		if ok, err := master.Claim(ctx, key, time.Minute); err != nil || !ok {
			t.Errorf("master claim %s: %v, %v", key, ok, err)
		}
	}
	if _, err := agent.Claim(ctx, "crawlhub:claim:task:t2", time.Minute); err != nil {
		t.Errorf("agent task claim: %v", err)
	}
	// What the agent's user may not do.
	if err := agent.Publish(ctx, "nodes:fedcba9876543210fedcba98", []byte("forged")); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("agent publishing on another node's channel: %v, want NOPERM", err)
	}
	if _, err := agent.Claim(ctx, "crawlhub:claim:fire:s1:2", time.Minute); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("agent claiming a fire time: %v, want NOPERM", err)
	}
	// Refused, and said so: Subscribe does not wait for a confirmation
	// that never comes.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := agent.Subscribe(sctx, "nodes:fedcba9876543210fedcba98"); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("agent subscribing to another node's channel: %v, want NOPERM", err)
	}
	// And the bus goes on working.
	must(master.Publish(ctx, "nodes:"+node, []byte("again")))
	if got := ac.waitN(t, 2, 5*time.Second); got[1] != "nodes:"+node+"=again" {
		t.Errorf("agent got %v", got)
	}
}
