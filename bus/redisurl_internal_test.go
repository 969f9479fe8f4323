package bus

import (
	"strings"
	"testing"
	"time"
)

func TestHashSlot(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]uint16{
		"123456789":             12739,
		"foo":                   12182,
		"{user1000}.following":  hashSlot("user1000"),
		"{}user1000":            hashSlot("{}user1000"),
		"foo{}{bar}":            hashSlot("foo{}{bar}"),
		"foo{{bar}}zap":         hashSlot("{bar"),
		"nodes:master{x}{y}":    hashSlot("x"),
		"logs:65f0c0ffee000001": hashSlot("logs:65f0c0ffee000001"),
	} {
		if got := hashSlot(key); got != want {
			t.Errorf("hashSlot(%q) = %d, want %d", key, got, want)
		}
	}
	if hashSlot("{}user1000") == hashSlot("user1000") {
		t.Error("an empty hash tag must hash the whole key")
	}
}

func TestClusterURL(t *testing.T) {
	opt, addrs, err := clusterOptions("rediss", "u:p%40ss@h1:7000,h2:7001,[::1]:7002/?read_timeout=3s")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(opt.Addrs, " ") != "h1:7000 h2:7001 [::1]:7002" || addrs != "h1:7000,h2:7001,[::1]:7002" {
		t.Errorf("addrs %v (%s)", opt.Addrs, addrs)
	}
	if opt.Username != "u" || opt.Password != "p@ss" || opt.ReadTimeout != 3*time.Second || opt.TLSConfig == nil {
		t.Errorf("options %+v", opt)
	}
	for rest, want := range map[string]string{
		"h1:7000,h2:7001/1":         "only database 0",
		"h1:7000,h2":                "want host:port",
		"h1:7000,,h2:1":             "want host:port",
		"h1:7000?no_such_option=1":  "unexpected option",
		"h1:7000?read_timeout=soon": "read_timeout",
	} {
		if _, _, err := clusterOptions("redis", rest); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", rest, err, want)
		}
	}
}

func TestSentinelURL(t *testing.T) {
	opt, addrs, err := sentinelOptions("redis", ":secret@s1:26379,s2:26380/mymaster/2?sentinel_password=sp&dial_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	if opt.MasterName != "mymaster" || opt.DB != 2 || strings.Join(opt.SentinelAddrs, " ") != "s1:26379 s2:26380" || addrs != "s1:26379,s2:26380" {
		t.Errorf("options %+v", opt)
	}
	if opt.Password != "secret" || opt.SentinelPassword != "sp" || opt.DialTimeout != time.Second {
		t.Errorf("credentials or options %+v", opt)
	}
	opt, _, err = sentinelOptions("redis", "s1:26379?master_name=m")
	if err != nil || opt.MasterName != "m" || opt.DB != 0 {
		t.Errorf("master_name=: %+v %v", opt, err)
	}
	for rest, want := range map[string]string{
		"s1:26379":                 "no master name",
		"s1:26379/":                "no master name",
		"s1:26379/m/0/x":           "want /master or /master/db",
		"s1:26379/m/zero":          "invalid database",
		"s1:26379/m?master_name=n": "given twice",
	} {
		if _, _, err := sentinelOptions("redis", rest); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", rest, err, want)
		}
	}
}

func TestDialRedisKinds(t *testing.T) {
	for url, want := range map[string]string{
		"redis://127.0.0.1:6379/0":                    "127.0.0.1:6379",
		"redis+cluster://127.0.0.1:1,127.0.0.1:2/":    "Redis Cluster 127.0.0.1:1,127.0.0.1:2",
		"redis+sentinel://127.0.0.1:26379/crawlhub/0": "Redis master crawlhub through Sentinel 127.0.0.1:26379",
	} {
		c, err := dialRedis(url)
		if err != nil {
			t.Errorf("%s: %v", url, err)
			continue
		}
		if c.where != want || (c.cluster != nil) != strings.HasPrefix(url, "redis+cluster") {
			t.Errorf("%s: %q cluster=%v", url, c.where, c.cluster != nil)
		}
		c.client.Close()
	}
	if _, err := dialRedis("127.0.0.1:6379"); err == nil || !strings.Contains(err.Error(), "redis+cluster://") {
		t.Errorf("no scheme: %v", err)
	}
}
