package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The overview counts the tasks that really ran, through the REST API and
// the WebSocket alike.
func TestStats(t *testing.T) {
	e := newEnv(t)
	ok := e.spider("succeeds", "echo fine\n")
	bad := e.spider("fails", "echo broken >&2\nexit 3\n")
	e.run(ok, store.TaskFinished)
	e.run(ok, store.TaskFinished)
	e.run(bad, store.TaskError)

	check := func(how string, st store.TaskStats) {
		t.Helper()
		if st.Bucket != "hour" || len(st.Buckets) < 24 || len(st.Buckets) > 25 {
			t.Errorf("%s: %s with %d buckets, want the last 24 hours by hour", how, st.Bucket, len(st.Buckets))
		}
		if st.Totals["finished"] != 2 || st.Totals["error"] != 1 || st.SuccessRate < 0.66 || st.SuccessRate > 0.67 {
			t.Errorf("%s: totals %v rate %v, want 2 finished, 1 error, 2/3", how, st.Totals, st.SuccessRate)
		}
		last := st.Buckets[len(st.Buckets)-1]
		if last.Counts["finished"]+last.Counts["error"] != 3 && len(st.Buckets) == 25 {
			t.Errorf("%s: the current hour has %v, want the 3 tasks", how, last.Counts)
		}
		if len(st.Spiders) != 2 || st.Spiders[0].SpiderName != "fails" || st.Spiders[0].Failed != 1 ||
			st.Spiders[1].SpiderName != "succeeds" || st.Spiders[1].Counts["finished"] != 2 {
			t.Errorf("%s: spiders %+v, want fails (1 failed) then succeeds (2 finished)", how, st.Spiders)
		}
		if st.Running != 0 || st.Pending != 0 {
			t.Errorf("%s: running %d pending %d, want none", how, st.Running, st.Pending)
		}
	}
	var st store.TaskStats
	e.do("GET", "/api/stats", nil, &st)
	check("GET /api/stats", st)

	from := time.Now().UTC().Add(-30 * 24 * time.Hour).Format(time.RFC3339)
	e.do("GET", "/api/stats?bucket=day&from="+url.QueryEscape(from), nil, &st)
	if st.Bucket != "day" || len(st.Buckets) != 31 || st.Totals["finished"] != 2 {
		t.Errorf("30 days by day: %s, %d buckets, totals %v", st.Bucket, len(st.Buckets), st.Totals)
	}

	for _, q := range []string{
		"bucket=minute", "from=yesterday", "to=2026-13-01T00:00:00Z",
		"from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
		"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&bucket=day",
		"from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z",
	} {
		status, _, body := e.request("GET", "/api/stats?"+q, "", nil, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, "message") {
			t.Errorf("GET /api/stats?%s: %d %s, want 400 with a message", q, status, body)
		}
	}

	ws := e.dial()
	r := ws.call("stats", `{}`)
	var reply struct {
		Result store.TaskStats `json:"result"`
	}
	if err := json.Unmarshal([]byte(r), &reply); err != nil {
		t.Fatalf("stats: %s: %v", r, err)
	}
	check("stats", reply.Result)
	if r := ws.call("stats", `{"bucket":"week"}`); !strings.Contains(r, `"code":-32602`) {
		t.Errorf("stats with a bad bucket: %s, want -32602", r)
	}
}
