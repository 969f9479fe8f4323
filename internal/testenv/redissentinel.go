package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// StartSentinel starts a Redis Sentinel watching the Redis at master under
// the name name (quorum 1), on a loopback port, and stops it at t's
// cleanup. It is Debian's redis-server run with --sentinel, which needs no
// redis-sentinel package; Sentinel rewrites its configuration file, so the
// file lives in the sentinel's own directory.
func StartSentinel(t testing.TB, master *Redis, name string) *Redis {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	port := FreePort(t)
	// A master is down after 1 s without an answer, so a failover test
	// takes seconds.
	text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %[3]s 1000\nsentinel failover-timeout %[3]s 10000\n", port, dir, name, master.port)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatalf("sentinel config: %v", err)
	}
	s := &Redis{t: t, port: port, dir: dir, conf: conf}
	s.Addr = "127.0.0.1:" + strconv.Itoa(port)
	s.URL = "redis://" + s.Addr
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// StartReplica starts a redis-server replicating master, and stops it at
// t's cleanup.
func StartReplica(t testing.TB, master *Redis) *Redis {
	t.Helper()
	return startRedisWith(t, t.TempDir(), "--replicaof", "127.0.0.1", strconv.Itoa(master.port))
}
