package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// searchSpider prints 20,000 lines: 5 ERROR lines (one followed by a
// traceback, part of it), 1 warning, and "error" in every other line's
// URL; then "ready", and it runs until the file release exists.
func searchSpider(release string) string {
	return `awk 'BEGIN {
  for (i = 0; i < 20000; i++) {
    if (i % 4000 == 1000) print "2026-12-03 22:42:07 [spider] ERROR: failure at " i
    else if (i == 1001) print "Traceback (most recent call last):"
    else if (i == 2000) print "2026-12-03 22:42:07 [spider] WARNING: slow"
    else print "2026-12-03 22:42:07 [spider] INFO: GET https://example.com/error/" i
  }
  print "ready"
}'
while [ ! -e '` + release + `' ]; do sleep 0.05; done
echo done
`
}

// A log is searched across all of it, running (on its agent) or ended (in
// the store), through REST and the WebSocket API, with the same answers;
// the task's error and warning counts are live on the tasks channel and
// final in its record.
func TestLogSearch(t *testing.T) {
	for _, setup := range []struct {
		name  string
		start func(t *testing.T) *env
	}{
		{"sqlite", func(t *testing.T) *env { return allInOne(t) }},
		{"redis+ferretdb", func(t *testing.T) *env { return cluster(t, 1, "a") }},
		{"redis-cluster+ferretdb", func(t *testing.T) *env { return redisCluster(t, 1, "a") }},
	} {
		t.Run(setup.name, func(t *testing.T) {
			e := setup.start(t)
			release := filepath.Join(e.tempDir(), "release")
			sp := e.spider("search", searchSpider(release))
			c := e.dial(0)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := c.Subscribe(ctx, wsapi.ChannelTasks, 0); err != nil {
				t.Fatal(err)
			}
			task := e.run(0, map[string]any{"spider_id": sp.ID})[0]
			if err := c.Subscribe(ctx, wsapi.LogChannel(task.ID), 0); err != nil {
				t.Fatal(err)
			}
			// The live counts arrive on the tasks channel while it runs.
			var live wire.TaskStatus
			sawReady := false
			for !sawReady || live.LogLevels.Error != 5 {
				select {
				case p := <-c.Publications():
					switch p.Channel {
					case wsapi.ChannelTasks:
						var ts wire.TaskStatus
						if json.Unmarshal(p.Data, &ts) == nil && ts.TaskID == task.ID {
							if store.TaskEnded(ts.Status) {
								t.Fatalf("task %s before its counts were sent", ts.Status)
							}
							live = ts
						}
					case wsapi.LogChannel(task.ID):
						sawReady = sawReady || strings.Contains(string(p.Data), `"ready"`)
					}
				case <-ctx.Done():
					t.Fatalf("no live counts: last %+v, ready %v", live.LogLevels, sawReady)
				}
			}
			if live.LogLevels.Warning != 1 {
				t.Errorf("live warnings %d, want 1", live.LogLevels.Warning)
			}
			check := func(when string) {
				t.Helper()
				// Every URL holds "error": a plain search finds them all.
				r := searchREST(t, e, task.ID, url.Values{"q": {"ERROR"}, "limit": {"3"}})
				if r.Count < 20_000-2 || len(r.Matches) != 3 || r.Next != 3 || r.Total < 20_001 {
					t.Errorf("%s: q=ERROR: count %d, %d matches, next %d, total %d", when, r.Count, len(r.Matches), r.Next, r.Total)
				}
				// Errors as counted: the ERROR lines, not the URLs or the traceback.
				want := []int64{1000, 5000, 9000, 13000, 17000}
				r = searchREST(t, e, task.ID, url.Values{"level": {"error"}})
				if fmt.Sprint(lines(r)) != fmt.Sprint(want) || r.Count != 5 || r.Next != -1 {
					t.Errorf("%s: level=error: %v (count %d, next %d), want %v", when, lines(r), r.Count, r.Next, want)
				}
				r = searchREST(t, e, task.ID, url.Values{"q": {`failure at \d+000$`}, "regex": {"true"}, "from": {"5001"}, "limit": {"2"}})
				if fmt.Sprint(lines(r)) != "[9000 13000]" || r.Count != 5 || r.Next != 17000 || r.Matches[0].Text != "2026-12-03 22:42:07 [spider] ERROR: failure at 9000" {
					t.Errorf("%s: regex page: %+v", when, r)
				}
				var ws wire.LogSearch
				if err := c.Call(ctx, wsapi.MethodTaskLogSearch, map[string]any{"task_id": task.ID, "q": "failure AT", "from": 5001, "limit": 2}, &ws); err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(lines(ws)) != "[9000 13000]" || ws.Count != 5 || ws.Next != 17000 {
					t.Errorf("%s: task.log.search: %+v", when, ws)
				}
				// A bad query is the caller's to fix.
				status, body := getRaw(t, e, "/api/tasks/"+task.ID+"/log/search?q=(&regex=true")
				if status != http.StatusBadRequest || !strings.Contains(body, "regular expression") {
					t.Errorf("%s: bad regex: %d %s", when, status, body)
				}
				var werr *client.Error
				err := c.Call(ctx, wsapi.MethodTaskLogSearch, map[string]any{"task_id": task.ID, "q": "x", "level": "info"}, nil)
				if !errors.As(err, &werr) || werr.Code != wsapi.CodeInvalidParams {
					t.Errorf("%s: bad level over the WebSocket: %v", when, err)
				}
			}
			check("running")

			if err := os.WriteFile(release, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			for {
				select {
				case p := <-c.Publications():
					var ts wire.TaskStatus
					if p.Channel == wsapi.ChannelTasks && json.Unmarshal(p.Data, &ts) == nil && ts.TaskID == task.ID && ts.Status != store.TaskRunning {
						if ts.Status != store.TaskFinished || ts.LogLevels != (wire.LogLevels{Error: 5, Warning: 1}) {
							t.Fatalf("ended %s with levels %+v", ts.Status, ts.LogLevels)
						}
						goto ended
					}
				case <-ctx.Done():
					t.Fatal("the task did not end")
				}
			}
		ended:
			check("ended")
			var got store.Task
			e.get(0, "/api/tasks/"+task.ID, &got)
			if got.LogLevels != (store.LogLevels{Error: 5, Warning: 1}) {
				t.Errorf("stored levels %+v", got.LogLevels)
			}
			status, body := getRaw(t, e, "/api/tasks/"+store.NewID()+"/log/search?q=x")
			if status != http.StatusNotFound {
				t.Errorf("unknown task: %d %s", status, body)
			}
		})
	}
}

func lines(r wire.LogSearch) []int64 {
	var out []int64
	for _, m := range r.Matches {
		out = append(out, m.Line)
	}
	return out
}

func searchREST(t *testing.T, e *env, taskID string, q url.Values) wire.LogSearch {
	t.Helper()
	var r wire.LogSearch
	e.get(0, "/api/tasks/"+taskID+"/log/search?"+q.Encode(), &r)
	return r
}

// getRaw is a GET that may fail: its status and body.
func getRaw(t *testing.T, e *env, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base(0)+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
