package main

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
)

type deliveryJSON struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Response int    `json:"response_status"`
}

// Two masters on Redis and the MongoDB-compatible store both see every
// event; the receiver gets exactly one signed delivery of each, also of
// the one it was down for (answering 500), and each delivery's attempts
// are recorded: as many as the receiver saw.
func TestClusterWebhookOnce(t *testing.T) {
	// Retries within a second, so the outage passes in a test's time; the
	// environment reaches both masters (flags read CRAWLHUB_*).
	t.Setenv("CRAWLHUB_ALERT_RETRY", "200ms,400ms,400ms,400ms,400ms,400ms,400ms")
	t.Setenv("CRAWLHUB_ALERT_POLL", "300ms")
	c := newCluster(t, "a1")
	p := startProc(t, "master 2", "server", "--redis", c.redis.URL, "--mongo", c.mongo, "--listen", "127.0.0.1:0", "--token", c.token, "--cluster-secret", c.secret)
	other := newAPI("http://"+p.waitLog(t, servingRE, 60*time.Second)[1], c.token)

	rcv := testenv.StartReceiver(t, "s3cret")
	var w struct {
		ID string `json:"id"`
	}
	code, e, err := c.api.postJSON("/api/webhooks", map[string]any{"name": "ops", "url": rcv.URL, "secret": "s3cret",
		"events": []string{"task.failed", "task.finished", "node.offline"}}, &w)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create webhook: %d %+v %v", code, e, err)
	}
	deliveries := func() []deliveryJSON {
		var l struct {
			Items []deliveryJSON `json:"items"`
		}
		if code, e, err := other.get("/api/webhooks/"+w.ID+"/deliveries", &l); err != nil || code != 200 {
			t.Fatalf("deliveries: %d %+v %v", code, e, err)
		}
		return l.Items
	}
	// delivered waits until the store has n deliveries, all delivered.
	delivered := func(n int) []deliveryJSON {
		var ds []deliveryJSON
		eventually(t, 60*time.Second, fmt.Sprintf("%d deliveries delivered", n), func() error {
			ds = deliveries()
			if len(ds) != n {
				return fmt.Errorf("%d deliveries: %+v", len(ds), ds)
			}
			for _, d := range ds {
				if d.Status != "delivered" {
					return fmt.Errorf("delivery %+v", d)
				}
			}
			return nil
		})
		return ds
	}
	accepted := func(event string) func([]testenv.Received) bool {
		return func(all []testenv.Received) bool {
			for _, r := range all {
				if r.Event == event && r.Status == http.StatusOK {
					return true
				}
			}
			return false
		}
	}

	// A failing task: both masters hear its end.
	c.spider("boom", "sh run.sh", map[string]string{"run.sh": "echo boom\nexit 5\n"})
	c.waitTask(c.run(map[string]any{"spider": "boom"})[0].ID, 60*time.Second, "error")
	rcv.WaitFor(t, 60*time.Second, "task.failed", accepted("task.failed"))
	delivered(1)

	// The receiver is down (500) while a task finishes, then comes back.
	rcv.Fail(true)
	c.spider("fine", "sh run.sh", map[string]string{"run.sh": "echo fine\n"})
	c.waitTask(c.run(map[string]any{"spider": "fine"})[0].ID, 60*time.Second, "finished")
	rcv.WaitFor(t, 60*time.Second, "3 refused attempts", func(all []testenv.Received) bool {
		n := 0
		for _, r := range all {
			if r.Event == "task.finished" {
				n++
			}
		}
		return n >= 3
	})
	rcv.Fail(false)
	rcv.WaitFor(t, 60*time.Second, "task.finished after the outage", accepted("task.finished"))

	// The agent stops: a node.offline, once.
	c.agents["a1"].kill(syscall.SIGTERM)
	rcv.WaitFor(t, 60*time.Second, "node.offline", accepted("node.offline"))
	ds := delivered(3)

	perDelivery := map[string]int{}
	perEvent := map[string]int{}
	for _, r := range rcv.All() {
		if !r.Valid {
			t.Errorf("delivery %s (%s) has a bad signature %q", r.Delivery, r.Event, r.Signature)
		}
		perDelivery[r.Delivery]++
		if r.Status == http.StatusOK {
			perEvent[r.Event]++
		}
	}
	for _, ev := range []string{"task.failed", "task.finished", "node.offline"} {
		if perEvent[ev] != 1 {
			t.Errorf("%s delivered %d times, want once", ev, perEvent[ev])
		}
	}
	for _, d := range ds {
		if d.Attempts != perDelivery[d.ID] || d.Response != 200 {
			t.Errorf("delivery %+v: the receiver saw %d attempts", d, perDelivery[d.ID])
		}
		if d.Event == "task.finished" && d.Attempts < 4 {
			t.Errorf("the delivery made during the outage has %d attempts, want at least 4", d.Attempts)
		}
	}
}
