package bench

import (
	"context"
	"fmt"
	"time"
)

// IdleClients is scenario 4's connection count.
const IdleClients = 10000

// measureIdle connects n idle subscribed clients to a freshly started
// server process and reads the process's RSS before and after (each after
// a settling pause), from /proc. The clients are the harness's: one reader
// goroutine each, 1 KiB buffers.
func (r *run) measureIdle(ctx context.Context, system string, p *Proc, sub Sub) (IdleRow, []*Client, error) {
	n := IdleClients
	if r.cfg.Quick {
		n = 2000
	}
	time.Sleep(r.d(2 * time.Second))
	before, err := p.RSS()
	if err != nil {
		return IdleRow{}, nil, err
	}
	clients, took, err := DialMany(ctx, sub, n, 64, nil)
	if err != nil {
		return IdleRow{}, nil, err
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
}
