package bus_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
)

const nodeID = "0123456789abcdef01234567"

// TestRedisClusterSharded: on a three-master Redis Cluster the per-node
// and per-task channels are sharded channels spread over the shards, and
// nodes:master an ordinary channel; every message arrives, in order per
// channel, and an unsubscribed sharded channel is silent.
func TestRedisClusterSharded(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartRedisCluster(t)
	sub := newCollector()
	a, err := bus.NewRedis(ctx, c.URL, sub.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewRedis(ctx, c.URL, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	sharded := []string{"nodes:" + nodeID}
	for i := range 30 {
		sharded = append(sharded, fmt.Sprintf("logs:task%d", i), fmt.Sprintf("items:task%d", i))
	}
	if err := a.Subscribe(ctx, append([]string{"nodes:master"}, sharded...)...); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"nodes:master"}, sharded...)
	var want []string
	for round := range 3 {
		for _, ch := range all {
			if err := b.Publish(ctx, ch, fmt.Appendf(nil, "%d", round)); err != nil {
				t.Fatal(err)
			}
			want = append(want, fmt.Sprintf("%s=%d", ch, round))
		}
	}
	got := sub.waitN(t, len(want), 10*time.Second)
	// Channels interleave across connections; within a channel, order holds.
	for _, ch := range all {
		var g, w []string
		for _, m := range got {
			if strings.HasPrefix(m, ch+"=") {
				g = append(g, m)
			}
		}
		for _, m := range want {
			if strings.HasPrefix(m, ch+"=") {
				w = append(w, m)
			}
		}
		if !slices.Equal(g, w) {
			t.Errorf("%s: got %v, want %v", ch, g, w)
		}
	}

	// Each node serves the sharded channels of its slots: the traffic is
	// spread, and nodes:master is an ordinary channel, the rest are not.
	perNode := map[string]int{}
	var seen []string
	ordinary := map[string]bool{}
	for _, addr := range c.Addrs {
		cl := redis.NewClient(&redis.Options{Addr: addr})
		chs, err := cl.PubSubShardChannels(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		perNode[addr] = len(chs)
		seen = append(seen, chs...)
		plain, err := cl.PubSubChannels(ctx, "*").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range plain {
			ordinary[ch] = true
		}
		cl.Close()
	}
	slices.Sort(seen)
	wantSharded := slices.Clone(sharded)
	slices.Sort(wantSharded)
	if !slices.Equal(seen, wantSharded) {
		t.Errorf("sharded channels on the nodes: %v, want %v", seen, wantSharded)
	}
	for addr, n := range perNode {
		if n == 0 {
			t.Errorf("node %s serves no sharded channel: %v", addr, perNode)
		}
	}
	if !ordinary["nodes:master"] || len(ordinary) != 1 {
		t.Errorf("ordinary channels: %v, want only nodes:master", ordinary)
	}

	// Unsubscribed, a sharded channel is silent; a marker on a channel of
	// another connection published after it proves nothing more comes.
	if err := a.Unsubscribe(ctx, "logs:task0", "items:task0"); err != nil {
		t.Fatal(err)
	}
	if err := a.Subscribe(ctx, "logs:marker"); err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, "logs:task0", []byte("dropped"))
	b.Publish(ctx, "items:task0", []byte("dropped"))
	b.Publish(ctx, "logs:marker", []byte("marker"))
	got = sub.waitN(t, len(want)+1, 5*time.Second)
	if last := got[len(want)]; last != "logs:marker=marker" {
		t.Fatalf("after unsubscribe got %q", last)
	}
	// Subscribed again, it is heard once per message.
	if err := a.Subscribe(ctx, "logs:task0"); err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, "logs:task0", []byte("again"))
	b.Publish(ctx, "logs:marker", []byte("end"))
	got = sub.waitN(t, len(want)+3, 5*time.Second)
	if tail := got[len(want)+1:]; !slices.Contains(tail, "logs:task0=again") || !slices.Contains(tail, "logs:marker=end") {
		t.Fatalf("after resubscribe got %q", tail)
	}

	// Two channels of one slot share a connection: one leaves and comes
	// straight back while the other stays, and both are heard.
	n := len(want) + 3
	if err := a.Subscribe(ctx, "logs:{t}1", "logs:{t}2"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := a.Unsubscribe(ctx, "logs:{t}1"); err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := a.Subscribe(sctx, "logs:{t}1")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	b.Publish(ctx, "logs:{t}1", []byte("one"))
	b.Publish(ctx, "logs:{t}2", []byte("two"))
	got = sub.waitN(t, n+2, 5*time.Second)
	if tail := got[n:]; !slices.Equal(tail, []string{"logs:{t}1=one", "logs:{t}2=two"}) {
		t.Fatalf("channels sharing a slot got %q", tail)
	}
}

// TestRedisSingleOrdinary: on a single Redis every channel stays ordinary
// PubSub, so `redis-cli PSUBSCRIBE 'nodes:*'` shows all node traffic, as
// the design promises, and the task channels are seen the same way.
func TestRedisSingleOrdinary(t *testing.T) {
	ctx := context.Background()
	r := testenv.StartRedis(t)
	watcher := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer watcher.Close()
	ps := watcher.PSubscribe(ctx, "nodes:*", "logs:*", "items:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil { // the first psubscribe confirmation
		t.Fatal(err)
	}
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := bus.NewRedis(ctx, r.URL, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	chans := []string{"nodes:" + nodeID, "nodes:master", "logs:t1", "items:t1"}
	for _, ch := range chans {
		if err := b.Publish(ctx, ch, []byte("hello "+ch)); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range chans {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := ps.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			t.Fatalf("PSUBSCRIBE saw nothing for %s: %v", ch, err)
		}
		if m.Channel != ch || m.Payload != "hello "+ch {
			t.Fatalf("PSUBSCRIBE saw %s %q, want %s", m.Channel, m.Payload, ch)
		}
	}
}

// TestRedisSentinel: a bus given a redis+sentinel:// URL finds the master
// through Sentinel and carries messages and claims; when the master dies
// and Sentinel promotes its replica, the bus follows and traffic flows
// again.
func TestRedisSentinel(t *testing.T) {
	ctx := context.Background()
	master := testenv.StartRedis(t)
	replica := testenv.StartReplica(t, master)
	s := testenv.StartSentinel(t, master, "crawlhub")
	url := "redis+sentinel://" + s.Addr + "/crawlhub/0"
	sub := newCollector()
	a, err := bus.NewRedis(ctx, url, sub.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewRedis(ctx, url, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Subscribe(ctx, "nodes:"+nodeID); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "nodes:"+nodeID, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := sub.waitN(t, 1, 5*time.Second); got[0] != "nodes:"+nodeID+"=hi" {
		t.Fatalf("got %q", got)
	}
	if ok, err := a.Claim(ctx, "crawlhub:claim:task:s1", time.Minute); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	// The claim is on the master Sentinel named.
	direct := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer direct.Close()
	if n, err := direct.Exists(ctx, "crawlhub:claim:task:s1").Result(); err != nil || n != 1 {
		t.Fatalf("claim key on the master: %d %v", n, err)
	}

	// The master dies once Sentinel knows its replica in sync; the replica
	// is promoted, and a subscriber hears again within 30 s.
	sentinel := redis.NewSentinelClient(&redis.Options{Addr: s.Addr})
	defer sentinel.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rs, err := sentinel.Replicas(ctx, "crawlhub").Result()
		if err == nil && len(rs) == 1 && rs[0]["master-link-status"] == "ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Sentinel does not know the replica: %v %v", rs, err)
		}
		time.Sleep(50 * time.Millisecond) // Sentinel learns replicas on its own time
	}
	master.Stop()
	deadline = time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		b.Publish(ctx, "nodes:"+nodeID, fmt.Appendf(nil, "after-%d", i))
		sub.mu.Lock()
		n := len(sub.got)
		sub.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message delivered within 30 s of the master dying")
		}
		select {
		case <-sub.wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if addr, err := sentinel.GetMasterAddrByName(ctx, "crawlhub").Result(); err != nil || addr[1] != strings.TrimPrefix(replica.Addr, "127.0.0.1:") {
		t.Errorf("master after failover: %v %v, want %s", addr, err, replica.Addr)
	}

	// A master name Sentinel does not know is a clear error at start.
	_, err = bus.NewRedis(ctx, "redis+sentinel://"+s.Addr+"/nosuch", func(string, []byte) {}, quiet())
	if err == nil || !strings.Contains(err.Error(), `know no master named "nosuch"`) {
		t.Fatalf("unknown master: %v", err)
	}
}

// TestRedisClusterSlotMoved: when the slot of a subscribed sharded channel
// moves to another node (resharding), Redis ends the subscription there;
// the bus subscribes again at the new owner and messages flow again.
func TestRedisClusterSlotMoved(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartRedisCluster(t)
	sub := newCollector()
	a, err := bus.NewRedis(ctx, c.URL, sub.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewRedis(ctx, c.URL, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const ch = "logs:moving"
	if err := a.Subscribe(ctx, ch, "logs:other"); err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, ch, []byte("before"))
	sub.waitN(t, 1, 5*time.Second)

	// Move the (empty) slot from its owner to another node, as
	// redis-cli --cluster reshard does.
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	defer cc.Close()
	slot, err := cc.ClusterKeySlot(ctx, ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	owner, err := cc.MasterForKey(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	from := redis.NewClient(&redis.Options{Addr: owner.Options().Addr})
	defer from.Close()
	to := redis.NewClient(&redis.Options{Addr: c.Addrs[0]})
	if c.Addrs[0] == owner.Options().Addr {
		to = redis.NewClient(&redis.Options{Addr: c.Addrs[1]})
	}
	defer to.Close()
	var third *redis.Client
	for _, addr := range c.Addrs {
		if addr != from.Options().Addr && addr != to.Options().Addr {
			third = redis.NewClient(&redis.Options{Addr: addr})
		}
	}
	defer third.Close()
	// A cluster made a moment ago may still be spreading its epochs. The
	// new owner must know the highest, or the epoch it bumps to below can
	// be lower than the old owner's, whose gossip then takes the slot back.
	epoch := func(cl *redis.Client, field string) int64 {
		info, err := cl.ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: %q", field, line)
				}
				return n
			}
		}
		t.Fatalf("no %s in CLUSTER INFO:\n%s", field, info)
		return 0
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		known := epoch(to, "cluster_current_epoch")
		if epoch(from, "cluster_my_epoch") <= known && epoch(third, "cluster_my_epoch") <= known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new owner did not learn the cluster's epochs within 10 s")
		}
		time.Sleep(50 * time.Millisecond) // gossip has no event to wait on
	}
	fromID, _ := from.Do(ctx, "CLUSTER", "MYID").Text()
	toID, _ := to.Do(ctx, "CLUSTER", "MYID").Text()
	for _, step := range []struct {
		cl   *redis.Client
		args []any
	}{
		{to, []any{"CLUSTER", "SETSLOT", slot, "IMPORTING", fromID}},
		{from, []any{"CLUSTER", "SETSLOT", slot, "MIGRATING", toID}},
		{to, []any{"CLUSTER", "SETSLOT", slot, "NODE", toID}},
		// The new owner's claim must outrank the old owner's: with a
		// lower config epoch, a gossip message the old owner sent before
		// it heard of the move takes the slot back.
		{to, []any{"CLUSTER", "BUMPEPOCH"}},
		{from, []any{"CLUSTER", "SETSLOT", slot, "NODE", toID}},
		// Every master told at once, not left to gossip.
		{third, []any{"CLUSTER", "SETSLOT", slot, "NODE", toID}},
	} {
		if err := step.cl.Do(ctx, step.args...).Err(); err != nil {
			t.Fatalf("%v: %v", step.args, err)
		}
	}

	// Publish until the subscriber hears again: it must within 10 s.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		b.Publish(ctx, ch, fmt.Appendf(nil, "after-%d", i))
		sub.mu.Lock()
		n := len(sub.got)
		sub.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			for _, cl := range []*redis.Client{from, to, third} {
				chs, err := cl.PubSubShardChannels(ctx, "*").Result()
				nodes, _ := cl.ClusterNodes(ctx).Result()
				t.Logf("%s: sharded channels %v %v; nodes:\n%s", cl.Options().Addr, chs, err, nodes)
			}
			t.Fatal("no message delivered within 10 s of the slot moving")
		}
		select {
		case <-sub.wake:
		case <-time.After(50 * time.Millisecond):
		}
	}
	chs, err := to.PubSubShardChannels(ctx, ch).Result()
	if err != nil || len(chs) != 1 {
		t.Fatalf("the new owner has %v subscribed (%v), want %s", chs, err, ch)
	}
}

// TestRedisClusterNodeRestart: a cluster node dies and comes back on the
// same port; the sharded and ordinary subscriptions on it reconnect and
// resubscribe by themselves, and every channel is heard again.
func TestRedisClusterNodeRestart(t *testing.T) {
	ctx := context.Background()
	c := testenv.StartRedisCluster(t)
	sub := newCollector()
	a, err := bus.NewRedis(ctx, c.URL, sub.handle, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := bus.NewRedis(ctx, c.URL, func(string, []byte) {}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	chans := []string{"nodes:master"}
	for i := range 12 {
		chans = append(chans, fmt.Sprintf("logs:r%d", i))
	}
	if err := a.Subscribe(ctx, chans...); err != nil {
		t.Fatal(err)
	}
	c.Nodes[0].Stop()
	c.Nodes[0].Start()

	heard := func() map[string]bool {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		h := map[string]bool{}
		for _, m := range sub.got {
			h[strings.SplitN(m, "=", 2)[0]] = true
		}
		return h
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		h := heard()
		var missing []string
		for _, ch := range chans {
			if !h[ch] {
				missing = append(missing, ch)
				b.Publish(ctx, ch, []byte("after"))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not heard within 20 s of the node coming back: %v", missing)
		}
		select {
		case <-sub.wake:
		case <-time.After(100 * time.Millisecond):
		}
	}
}
