package bus

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// A --redis URL names one of three deployments (docs/redis.md):
//
//	redis://[user:password@]host:port[/db][?options]            one Redis (rediss:// for TLS, unix:// for a socket)
//	redis+cluster://[user:password@]host:port,host:port,…[/][?options]   Redis Cluster (rediss+cluster:// for TLS)
//	redis+sentinel://[user:password@]host:port,host:port,…/master[/db][?options]   Redis Sentinel (rediss+sentinel://)
//
// The cluster and sentinel forms list their seed addresses in the host part,
// separated by commas, and are rewritten to go-redis's own URL forms
// (ParseClusterURL, ParseFailoverURL: the first address in the host, the rest
// as addr= parameters), so every option go-redis accepts there is accepted
// here, with go-redis's errors for unknown ones. In the sentinel form the
// user and password are the Redis master's; sentinels that require a
// password of their own take sentinel_username= and sentinel_password=.

// dialTimeout keeps reconnect attempts brisk while Redis is down.
const dialTimeout = 2 * time.Second

// redisConn is a connected client of one of the three kinds.
type redisConn struct {
	client  redis.UniversalClient
	probe   func() redis.UniversalClient // makes the health probe's own client (probe.go)
	cluster *redis.ClusterClient         // set for Redis Cluster: sharded PubSub is used
	where   string                       // addresses for error messages
	master  string                       // behind Sentinel: the master's name
}

func dialRedis(rawURL string) (*redisConn, error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, errors.New("not a URL: want redis://host:port/db, redis+cluster://host:port,host:port/ or redis+sentinel://host:port,host:port/master")
	}
	switch scheme {
	case "redis+cluster", "rediss+cluster":
		opt, addrs, err := clusterOptions(strings.TrimSuffix(scheme, "+cluster"), rest)
		if err != nil {
			return nil, err
		}
		opt.DialTimeout = dialTimeout
		opt.ContextTimeoutEnabled = true
		c := redis.NewClusterClient(opt)
		p := *opt
		p.PoolSize, p.MinIdleConns, p.MaxRetries = 1, 0, -1
		p.DialTimeout, p.ReadTimeout, p.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
		probe := func() redis.UniversalClient { q := p; return redis.NewClusterClient(&q) }
		return &redisConn{client: c, probe: probe, cluster: c, where: "Redis Cluster " + addrs}, nil
	case "redis+sentinel", "rediss+sentinel":
		opt, addrs, err := sentinelOptions(strings.TrimSuffix(scheme, "+sentinel"), rest)
		if err != nil {
			return nil, err
		}
		opt.DialTimeout = dialTimeout
		opt.ContextTimeoutEnabled = true
		p := *opt
		p.PoolSize, p.MinIdleConns, p.MaxRetries = 1, 0, -1
		p.DialTimeout, p.ReadTimeout, p.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
		probe := func() redis.UniversalClient { q := p; return redis.NewFailoverClient(&q) }
		return &redisConn{client: redis.NewFailoverClient(opt), probe: probe, where: "Redis master " + opt.MasterName + " through Sentinel " + addrs, master: opt.MasterName}, nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = dialTimeout
	// A caller's deadline bounds its call, also on a connection to a Redis
	// that hangs (else a call waits out the read timeout, and retries).
	opt.ContextTimeoutEnabled = true
	probe := func() redis.UniversalClient { return newProbeClient(opt) }
	return &redisConn{client: redis.NewClient(opt), probe: probe, where: opt.Addr}, nil
}

// splitHosts splits what follows "scheme://" into the user info (with its
// "@", or empty), the addresses, the path and the query (with its "?").
func splitHosts(rest string) (userinfo string, addrs []string, path, query string, err error) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		userinfo, authority = authority[:at+1], authority[at+1:]
	}
	for a := range strings.SplitSeq(authority, ",") {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			return "", nil, "", "", fmt.Errorf("address %q: want host:port", a)
		}
		addrs = append(addrs, a)
	}
	if i := strings.IndexByte(tail, '#'); i >= 0 {
		tail = tail[:i]
	}
	path, query, _ = strings.Cut(tail, "?")
	return userinfo, addrs, path, query, nil
}

// withAddrs adds every address after the first as an addr= parameter, the
// way go-redis's URL parsers take extra addresses.
func withAddrs(query string, addrs []string) string {
	q := query
	for _, a := range addrs[1:] {
		if q != "" {
			q += "&"
		}
		q += "addr=" + url.QueryEscape(a)
	}
	if q == "" {
		return ""
	}
	return "?" + q
}

func clusterOptions(scheme, rest string) (*redis.ClusterOptions, string, error) {
	userinfo, addrs, path, query, err := splitHosts(rest)
	if err != nil {
		return nil, "", err
	}
	if path != "" && path != "/" {
		return nil, "", fmt.Errorf("path %q: a Redis Cluster has only database 0, so its URL has no path", path)
	}
	opt, err := redis.ParseClusterURL(scheme + "://" + userinfo + addrs[0] + withAddrs(query, addrs))
	if err != nil {
		return nil, "", err
	}
	return opt, strings.Join(addrs, ","), nil
}

func sentinelOptions(scheme, rest string) (*redis.FailoverOptions, string, error) {
	userinfo, addrs, path, query, err := splitHosts(rest)
	if err != nil {
		return nil, "", err
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, "", err
	}
	sentinelUser, sentinelPassword := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	// The path is /master or /master/db; go-redis takes the master's name
	// as master_name= and the database as the path.
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	if len(segs) > 2 {
		return nil, "", fmt.Errorf("path %q: want /master or /master/db", path)
	}
	db := ""
	if len(segs) > 0 {
		if q.Has("master_name") {
			return nil, "", errors.New("the master's name is given twice: in the path and as master_name=")
		}
		q.Set("master_name", segs[0])
		if len(segs) == 2 {
			db = "/" + segs[1]
		}
	}
	if q.Get("master_name") == "" {
		return nil, "", errors.New("no master name: name the master Sentinel watches in the path, e.g. redis+sentinel://host:26379/mymaster")
	}
	opt, err := redis.ParseFailoverURL(scheme + "://" + addrs[0] + db + withAddrs(q.Encode(), addrs))
	if err != nil {
		return nil, "", err
	}
	if userinfo != "" {
		u, err := url.Parse("redis://" + userinfo + "x")
		if err != nil {
			return nil, "", errors.New("bad user or password")
		}
		opt.Username = u.User.Username()
		opt.Password, _ = u.User.Password()
	}
	opt.SentinelUsername, opt.SentinelPassword = sentinelUser, sentinelPassword
	return opt, strings.Join(addrs, ","), nil
}

// newProbeClient is a one-connection client for the health probe: it
// gives up after probeTimeout and never retries, so a Redis that hangs is
// noticed in about a second (the pool's client waits its read timeout,
// 3 s, and retries). The cluster and Sentinel probes above are made the
// same way.
func newProbeClient(opt *redis.Options) *redis.Client {
	p := *opt
	p.PoolSize, p.MinIdleConns, p.MaxRetries = 1, 0, -1
	p.DialTimeout, p.ReadTimeout, p.WriteTimeout = probeTimeout, probeTimeout, probeTimeout
	p.ContextTimeoutEnabled = true
	return redis.NewClient(&p)
}
