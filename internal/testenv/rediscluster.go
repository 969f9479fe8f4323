package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a private Redis Cluster of three masters without
// replicas on loopback ports, owned by one test: redis-server in cluster
// mode, each node in a directory of its own, the 16,384 slots split in
// three and the nodes introduced with CLUSTER MEET.
type RedisCluster struct {
	Addrs []string // the nodes, 127.0.0.1:PORT
	// URL is the --redis URL naming the cluster:
	// redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/
	URL   string
	Nodes []*Redis
}

// StartRedisCluster starts a three-master Redis Cluster for t, waits until
// every node reports the cluster ok with every slot served, and stops it at
// t's cleanup.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	c := &RedisCluster{}
	for range 3 {
		// The cluster bus port is given, not left at port+10000, which may
		// be taken or above 65535.
		dir := t.TempDir()
		n := startRedisWith(t, dir, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf",
			"--cluster-port", strconv.Itoa(FreePort(t)), "--cluster-node-timeout", "5000")
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	c.URL = "redis+cluster://" + strings.Join(c.Addrs, ",") + "/"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: n.Addr})
		defer clients[i].Close()
	}
	per := 16384 / len(c.Nodes)
	for i, cl := range clients {
		lo, hi := i*per, (i+1)*per-1
		if i == len(clients)-1 {
			hi = 16383
		}
		if err := cl.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("redis cluster: ADDSLOTSRANGE on %s: %v", c.Addrs[i], err)
		}
	}
	for i := 1; i < len(c.Nodes); i++ {
		busPort, err := clients[i].ConfigGet(ctx, "cluster-port").Result()
		if err != nil {
			t.Fatalf("redis cluster: %v", err)
		}
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", c.Nodes[i].port, busPort["cluster-port"]).Err(); err != nil {
			t.Fatalf("redis cluster: MEET %s: %v", c.Addrs[i], err)
		}
	}
	for i, cl := range clients {
		for {
			err := clusterReady(ctx, cl, len(c.Nodes))
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("redis cluster: node %s not ready after 30 s: %v", c.Addrs[i], err)
			}
			time.Sleep(20 * time.Millisecond) // the cluster bus gossips on its own time
		}
	}
	return c
}

// clusterReady reports whether a node sees the cluster ok, is linked to
// every node and maps every slot to one of them.
func clusterReady(ctx context.Context, cl *redis.Client, nodes int) error {
	info, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		return err
	}
	for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(nodes)} {
		if !strings.Contains(info, want+"\r\n") {
			return fmt.Errorf("CLUSTER INFO lacks %s", want)
		}
	}
	// Every node known by address and linked on the cluster bus: an
	// ordinary PUBLISH reaches the other nodes over those links.
	nodesText, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(nodesText), "\n")
	if len(lines) != nodes {
		return fmt.Errorf("CLUSTER NODES lists %d nodes", len(lines))
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 8 || f[7] != "connected" || strings.Contains(f[2], "handshake") || strings.Contains(f[2], "noaddr") || strings.Contains(f[2], "fail") {
			return fmt.Errorf("node not linked yet: %s", l)
		}
	}
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		return err
	}
	serving := 0
	for _, s := range shards {
		if len(s.Slots) > 0 && len(s.Nodes) > 0 {
			serving++
		}
	}
	if serving != nodes {
		return fmt.Errorf("slots served by %d nodes", serving)
	}
	return nil
}
