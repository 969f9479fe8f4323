package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crawlhub/crawlhub/wsapi"
)

// Scenario 8's sizes: items saved by one task into the all-in-one, the
// clients following a task's items live, and the items of that task.
const (
	IngestItems  = 1_000_000
	FollowItems  = 100_000
	ItemsClients = 100
)

// scenarioItems is scenario 8, on the all-in-one (in-process bus,
// SQLite): a task saves items as fast as one connection posting batches
// of 1,000 allows (the harness's items command); measured are items per
// second from the spider into the store (the task's start to its end,
// which waits until every item is saved), the same with 100 clients
// following the task's items channel from item 0, and the master's memory
// while it exports a task's items as CSV.
func (r *run) scenarioItems(ctx context.Context) {
	ingest, follow := int64(IngestItems), int64(FollowItems)
	if r.cfg.Quick {
		ingest, follow = ingest/10, follow/10
	}
	m, err := r.startAllInOne(ctx, "items", filepath.Join(r.cfg.WorkDir, "items"), "solo")
	if err != nil {
		r.fail("scenario 8", err)
		return
	}
	defer m.Proc.Stop(15 * time.Second)
	if _, err := waitNode(ctx, m, "solo"); err != nil {
		r.fail("scenario 8", err)
		return
	}
	spider, err := m.CreateSpider(ctx, "items", "exec '"+r.cfg.HarnessBin+"' items")
	if err != nil {
		r.fail("scenario 8", err)
		return
	}

	// Into the store, nobody watching.
	row, taskID, err := r.ingestItems(ctx, m, spider, ingest, 0)
	if err != nil {
		r.fail("scenario 8", err)
		return
	}
	r.res.Items = append(r.res.Items, row)

	// Into the store and out to 100 clients.
	row, small, err := r.ingestItems(ctx, m, spider, follow, ItemsClients)
	if err != nil {
		r.fail("scenario 8 clients", err)
		return
	}
	r.res.Items = append(r.res.Items, row)

	// Exports of both tasks: memory must not grow with the count.
	for _, e := range []struct {
		task  string
		items int64
	}{{small, follow}, {taskID, ingest}} {
		ex, err := r.exportItems(ctx, m, e.task, e.items)
		if err != nil {
			r.fail("scenario 8 export", err)
			return
		}
		r.res.ItemExports = append(r.res.ItemExports, ex)
	}
}

// ingestItems runs one task saving n items, followed from item 0 by
// clients clients that subscribed before its first item.
func (r *run) ingestItems(ctx context.Context, m *Master, spider string, n int64, clients int) (ItemsRow, string, error) {
	row := ItemsRow{Items: n, Clients: clients}
	wait := filepath.Join(r.cfg.WorkDir, fmt.Sprintf("go-items-%d-%d", clients, time.Now().UnixNano()))
	taskID, err := m.RunTask(ctx, spider, fmt.Sprintf("-n %d -batch 1000 -wait '%s'", n, wait))
	if err != nil {
		return row, "", err
	}
	if _, err := m.WaitTask(ctx, taskID, 30*time.Second, "running"); err != nil {
		return row, taskID, err
	}
	var followers []*logFollower
	var wg sync.WaitGroup
	var delivered, reconnects atomic.Int64
	fctx, cancel := context.WithTimeout(ctx, r.d(5*time.Minute))
	defer cancel()
	if clients > 0 {
		sub := Sub{Kind: KindCrawlhub, URL: wsURL(m.Base), Channel: wsapi.ItemsChannel(taskID)}
		followers = make([]*logFollower, clients)
		cls, _, err := DialMany(ctx, sub, clients, 32, func(i int) func([]byte) {
			followers[i] = newLogFollower(n, 0, nil, &delivered)
			return followers[i].handle
		})
		if err != nil {
			_ = touch(wait) // let the task end
			return row, taskID, err
		}
		for i, cl := range cls {
			wg.Go(func() { follow(fctx, cl, sub, followers[i], &reconnects) })
		}
	}
	start := time.Now()
	if err := touch(wait); err != nil {
		return row, taskID, err
	}
	t, err := m.WaitTask(ctx, taskID, r.d(10*time.Minute), "finished")
	if err != nil {
		return row, taskID, err
	}
	stored := time.Since(start)
	wg.Wait()
	row.Saved = t.ItemCount
	row.StoreSeconds = stored.Seconds()
	row.StorePerS = float64(t.ItemCount) / row.StoreSeconds
	if clients > 0 {
		var last time.Time
		for _, f := range followers {
			row.Duplicates += f.dup
			row.Lost += f.gaps + (n - f.next)
			if f.doneAt.After(last) {
				last = f.doneAt
			}
		}
		if last.IsZero() || row.Lost > 0 {
			last = time.Now()
		}
		row.Delivered = delivered.Load()
		row.ClientSeconds = last.Sub(start).Seconds()
		row.DeliveredPerS = float64(row.Delivered) / row.ClientSeconds
		row.Reconnects = reconnects.Load()
	}
	r.logf("scenario 8: %d items, %d clients: %d saved in %.2f s (%.0f items/s into the store); %d delivered (%.0f/s), %d lost, %d twice, %d reconnects",
		n, clients, row.Saved, row.StoreSeconds, row.StorePerS, row.Delivered, row.DeliveredPerS, row.Lost, row.Duplicates, row.Reconnects)
	return row, taskID, nil
}

// exportItems downloads a task's items as CSV, sampling the master's
// resident memory meanwhile.
func (r *run) exportItems(ctx context.Context, m *Master, taskID string, items int64) (ItemExportRow, error) {
	row := ItemExportRow{Items: items, Format: "csv"}
	pid := m.Proc.PID()
	before, err := rssOf(pid)
	if err != nil {
		return row, err
	}
	peak := before
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if v, err := rssOf(pid); err == nil {
					peak = max(peak, v)
				}
			}
		}
	})
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, "GET", m.Base+"/api/tasks/"+taskID+"/items/export?format=csv", nil)
	if err == nil {
		req.Header.Set("Authorization", "Bearer "+Token)
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(req); err == nil {
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("export: HTTP %d", resp.StatusCode)
			} else {
				row.Bytes, err = io.Copy(io.Discard, resp.Body)
			}
			resp.Body.Close()
		}
	}
	close(done)
	wg.Wait()
	if err != nil {
		return row, err
	}
	row.Seconds = time.Since(start).Seconds()
	row.RSSBeforeMiB = float64(before) / (1 << 20)
	row.RSSGrowthMiB = float64(peak-before) / (1 << 20)
	r.logf("scenario 8: export of %d items as CSV: %.1f MiB in %.2f s; master RSS %.1f MiB, grew by %.1f MiB at most",
		items, float64(row.Bytes)/(1<<20), row.Seconds, row.RSSBeforeMiB, row.RSSGrowthMiB)
	return row, nil
}
