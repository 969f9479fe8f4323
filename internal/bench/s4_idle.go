package bench

import (
	"context"
	"fmt"
	"net"
	"time"
)

// IdleClients is scenario 4's connection count.
const IdleClients = 10000

// IdleClientsLarge is scenario 4's larger count (issue 14), on crawlhub
// alone, measured as far as the machine's descriptor limit allows.
const IdleClientsLarge = 50000

// idleFDReserve are the descriptors kept below RLIMIT_NOFILE for what
// else the master (its Redis and store connections, its listener, its
// files) and the harness hold open: each process holds one descriptor per
// connection besides.
const idleFDReserve = 1000

// idlePerSource is the most clients dialled from one loopback source
// address: towards one server address the kernel has about 28,000
// ephemeral ports per source address (ip_local_port_range 32768–60999),
// so larger counts connect from 127.0.0.2, 127.0.0.3, …. Well under that:
// the kernel's search for a free port slows as the range fills.
const idlePerSource = 10000

// measureIdle connects IdleClients idle subscribed clients to a freshly
// started server process and reads the process's RSS before and after.
func (r *run) measureIdle(ctx context.Context, system string, p *Proc, sub Sub) (IdleRow, []*Client, error) {
	n := IdleClients
	if r.cfg.Quick {
		n = 2000
	}
	return r.measureIdleN(ctx, system, p, sub, n, nil)
}

// measureIdleN connects n idle subscribed clients to a freshly started
// server process, from each of sources in turn (at most idlePerSource
// from each; none: from the system's choice), and reads the process's RSS
// before and after (each after a settling pause), from /proc. The clients
// are the harness's: one reader goroutine each, 1 KiB buffers.
func (r *run) measureIdleN(ctx context.Context, system string, p *Proc, sub Sub, n int, sources []string) (IdleRow, []*Client, error) {
	time.Sleep(r.d(2 * time.Second))
	before, err := p.RSS()
	if err != nil {
		return IdleRow{}, nil, err
	}
	var clients []*Client
	var took time.Duration
	if len(sources) == 0 {
		sources = []string{""}
	}
	for i, left := 0, n; left > 0; i++ {
		if i == len(sources) {
			CloseAll(clients)
			return IdleRow{}, nil, fmt.Errorf("%d clients need more than %d source addresses", n, len(sources))
		}
		s := sub
		s.Source = sources[i]
		k := min(left, idlePerSource)
		if s.Source == "" {
			k = left
		}
		cs, t, err := DialMany(ctx, s, k, 64, nil)
		if err != nil {
			CloseAll(clients)
			return IdleRow{}, nil, fmt.Errorf("from %s: %w", s.Source, err)
		}
		clients, took, left = append(clients, cs...), took+t, left-k
	}
	// Let the server finish what connecting started (and the Go runtimes
	// collect the handshakes' garbage), as an operator reading RSS after a
	// while would see it.
	time.Sleep(r.d(5 * time.Second))
	after, err := p.RSS()
	if err != nil {
		CloseAll(clients)
		return IdleRow{}, nil, err
	}
	gone := 0
	for _, c := range clients {
		select {
		case <-c.Done():
			gone++
		default:
		}
	}
	if gone > 0 {
		CloseAll(clients)
		return IdleRow{}, nil, fmt.Errorf("%d of %d idle clients were disconnected", gone, n)
	}
	row := IdleRow{System: system, Clients: n, ConnectS: took.Seconds(),
		RSSBeforeMiB: float64(before) / (1 << 20), RSSAfterMiB: float64(after) / (1 << 20),
		KiBPerConn: float64(after-before) / 1024 / float64(n)}
	if sources[0] != "" {
		row.Sources = len(sources)
	}
	r.logf("scenario 4 %s: %d clients connected and subscribed in %.2f s; RSS %.1f → %.1f MiB: %.1f KiB per connection",
		system, n, row.ConnectS, row.RSSBeforeMiB, row.RSSAfterMiB, row.KiBPerConn)
	return row, clients, nil
}

// scenarioIdleCrawlhub measures a fresh `crawlhub server` (its clients on
// "tasks", like a dashboard's).
func (r *run) scenarioIdleCrawlhub(ctx context.Context, c *cluster) {
	m, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: c.mongo + "bench_idle"})
	if err != nil {
		r.fail("scenario 4 crawlhub", err)
		return
	}
	defer m.Stop(15 * time.Second)
	row, clients, err := r.measureIdle(ctx, KindCrawlhub, m.Proc, Sub{Kind: KindCrawlhub, URL: wsURL(m.Base), Channel: "tasks"})
	if err != nil {
		r.fail("scenario 4 crawlhub", err)
		return
	}
	CloseAll(clients)
	r.res.Idle = append(r.res.Idle, row)
	r.scenarioIdleLarge(ctx, c)
}

// scenarioIdleLarge measures a fresh `crawlhub server` with
// IdleClientsLarge clients, or as many as the descriptor limit allows
// (the master and the harness each hold one per connection; both have
// the harness's RLIMIT_NOFILE, raised to its hard limit), with the
// master's WebSocket caps raised by its flags (benchMaxWS).
func (r *run) scenarioIdleLarge(ctx context.Context, c *cluster) {
	want := IdleClientsLarge
	if r.cfg.Quick {
		want = 5000
	}
	n, limit := want, ""
	if most := int(r.res.Machine.NoFile) - idleFDReserve; most < n {
		n = most
		limit = fmt.Sprintf("RLIMIT_NOFILE is %s per process here: the hard limit, which only a process with CAP_SYS_RESOURCE may raise, and this one has not. "+
			"The master and the harness each hold one descriptor per connection, so %s (the limit less %s kept for their other descriptors) is the most this machine allows",
			f0(float64(r.res.Machine.NoFile)), f0(float64(n)), f0(idleFDReserve))
	}
	if n <= IdleClients && !r.cfg.Quick {
		r.logf("scenario 4: no run beyond %d connections: RLIMIT_NOFILE is %d", IdleClients, r.res.Machine.NoFile)
		r.res.Idle = append(r.res.Idle, IdleRow{System: KindCrawlhub, Wanted: want, Limit: limit})
		return
	}
	m, err := r.procs.StartMaster(ctx, MasterSpec{CrawlhubBin: r.cfg.CrawlhubBin, RedisURL: c.redis.URL, MongoURI: c.mongo + "bench_idle_large"})
	if err != nil {
		r.fail("scenario 4 crawlhub, large", err)
		return
	}
	defer m.Stop(15 * time.Second)
	var sources []string
	for i := range (n + idlePerSource - 1) / idlePerSource {
		// Not 127.0.0.1: its ports may still be in TIME_WAIT from the runs before.
		sources = append(sources, net.IPv4(127, 0, 0, byte(2+i)).String())
	}
	row, clients, err := r.measureIdleN(ctx, KindCrawlhub, m.Proc, Sub{Kind: KindCrawlhub, URL: wsURL(m.Base), Channel: "tasks"}, n, sources)
	if err != nil {
		r.fail(fmt.Sprintf("scenario 4 crawlhub, %d clients", n), err)
		return
	}
	CloseAll(clients)
	row.Wanted, row.Limit = want, limit
	if limit != "" {
		r.logf("scenario 4: %d connections instead of %d: %s", n, want, limit)
	}
	r.res.Idle = append(r.res.Idle, row)
}

// renderIdleLarge writes the larger run's rows beside the crawlhub row of
// IdleClients, in BENCHMARKS.md.
func renderIdleLarge(w func(string, ...any), res *Results) {
	for _, r := range res.Idle {
		if r.Wanted == 0 {
			continue
		}
		w("crawlhub with %s connections (issue 14): a fresh `crawlhub server` with its WebSocket caps raised by its flags (`--max-ws`, `--max-ws-per-address`). ", f0(float64(r.Wanted)))
		if r.Clients == 0 {
			w("Not run: %s.\n\n", r.Limit)
			continue
		}
		if r.Sources > 0 {
			w("The clients connect from %d loopback address(es) from 127.0.0.2 on, at most %s from each: one source address has about 28,000 ephemeral ports towards one server address. ", r.Sources, f0(idlePerSource))
		}
		if r.Limit != "" {
			w("**%s connections, not %s: %s.**", f0(float64(r.Clients)), f0(float64(r.Wanted)), r.Limit)
		}
		w("\n\n| clients | connected and subscribed in s | RSS before MiB | RSS after MiB | KiB per connection |\n|---|---|---|---|---|\n")
		if s := findIdle(res.Idle, KindCrawlhub); s != nil {
			w("| %s | %.2f | %.1f | %.1f | %.1f |\n", f0(float64(s.Clients)), s.ConnectS, s.RSSBeforeMiB, s.RSSAfterMiB, s.KiBPerConn)
		}
		w("| %s | %.2f | %.1f | %.1f | %.1f |\n\n", f0(float64(r.Clients)), r.ConnectS, r.RSSBeforeMiB, r.RSSAfterMiB, r.KiBPerConn)
	}
}
