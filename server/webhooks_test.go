package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/agent"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// fastRetry makes a failed alert come back within milliseconds, so a
// receiver outage passes in a test's time.
func fastRetry(c *server.Config) {
	c.AlertRetry = []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond, 80 * time.Millisecond}
	c.AlertPoll = 200 * time.Millisecond
}

type webhookJSON struct {
	store.Webhook
	HasSecret bool `json:"has_secret"`
}

func (e *env) webhook(req map[string]any) webhookJSON {
	e.t.Helper()
	var w webhookJSON
	e.do("POST", "/api/webhooks", req, &w)
	return w
}

func (e *env) deliveries(id string) []store.Delivery {
	e.t.Helper()
	var l struct{ Items []store.Delivery }
	e.do("GET", "/api/webhooks/"+id+"/deliveries?limit=50", nil, &l)
	return l.Items
}

func ofEvent(event string, n int) func([]testenv.Received) bool {
	return func(all []testenv.Received) bool {
		got := 0
		for _, r := range all {
			if r.Event == event && r.Status == http.StatusOK {
				got++
			}
		}
		return got >= n
	}
}

// A task that fails reaches a receiver once, signed, with what a person
// needs to act; one that finishes reaches a webhook that asked for that;
// a spider filter keeps other spiders' tasks out; the secret is shown
// once, at create, and never again.
func TestWebhookTaskEvents(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "s3cret")
	// The webhooks channel says when an outcome is recorded: the receiver
	// has the delivery a moment before the master records it.
	ws := e.dial()
	ws.subscribe("webhooks")
	failing := e.spider("failing", "echo oops\nexit 3\n")
	other := e.spider("other", "echo fine\n")

	// Sorted first, so its delivery (if any, wrongly) is made before the
	// receiver's.
	filtered := e.webhook(map[string]any{"name": "0 other only", "url": rcv.URL, "secret": "s3cret",
		"events": []string{"task.failed"}, "spider_ids": []string{other.ID}})
	w := e.webhook(map[string]any{"name": "ops", "url": rcv.URL, "secret": "s3cret",
		"events": []string{"task.failed", "task.finished"}})
	if w.Secret != "s3cret" || !w.HasSecret || w.Kind != "webhook" || w.Format != "json" || !w.Enabled {
		t.Fatalf("created webhook %+v: want the secret shown once, kind webhook, format json, enabled", w)
	}
	var l struct{ Items []webhookJSON }
	e.do("GET", "/api/webhooks", nil, &l)
	if len(l.Items) != 2 {
		t.Fatalf("GET /api/webhooks: %d webhooks, want 2", len(l.Items))
	}
	for _, got := range l.Items {
		if got.Secret != "" || !got.HasSecret {
			t.Errorf("listed webhook %s shows secret %q (has_secret %v): want it hidden", got.Name, got.Secret, got.HasSecret)
		}
	}
	e.wantAudit("webhook.create", w.ID, "ops", "task.failed")

	task := e.run(failing, store.TaskError)
	got := rcv.WaitFor(t, wait, "task.failed delivery", ofEvent("task.failed", 1))
	r := got[0]
	if !r.Valid || r.ContentType != "application/json" || r.Delivery == "" {
		t.Fatalf("delivery %+v: want a valid signature, JSON, a delivery id", r)
	}
	var p alerts.Payload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Event != "task.failed" || p.Delivery != r.Delivery || p.Task == nil || p.Task.ID != task.ID ||
		p.Task.Status != "error" || p.Task.SpiderName != "failing" || p.Task.ExitCode == nil || *p.Task.ExitCode != 3 ||
		p.Task.NodeName != "solo" || p.Webhook.ID != w.ID || !strings.Contains(p.Text, "failing") {
		t.Fatalf("payload %s: want the failed task of spider failing on node solo, exit code 3", r.Body)
	}

	e.run(other, store.TaskFinished)
	rcv.WaitFor(t, wait, "task.finished delivery", ofEvent("task.finished", 1))
	ws.expect("webhooks", `"event":"task.failed"`, `"status":"delivered"`)
	ws.expect("webhooks", `"event":"task.finished"`, `"status":"delivered"`)
	// The filtered webhook wants other's failures only: it has nothing.
	if ds := e.deliveries(filtered.ID); len(ds) != 0 {
		t.Errorf("the webhook filtered to spider other has deliveries %+v", ds)
	}
	for _, r := range rcv.All() {
		if r.Event == "task.failed" && r.Delivery != got[0].Delivery {
			t.Errorf("a second task.failed delivery: %+v", r)
		}
	}
	ds := e.deliveries(w.ID)
	if len(ds) != 2 || ds[0].Event != "task.finished" || ds[1].Event != "task.failed" {
		t.Fatalf("deliveries %+v: want task.finished then task.failed, newest first", ds)
	}
	for _, d := range ds {
		if d.Status != "delivered" || d.Attempts != 1 || d.Response != 200 {
			t.Errorf("delivery %+v: want delivered at the first attempt with 200", d)
		}
	}
}

// A receiver that answers 500 for a while gets the delivery once it
// answers again: once, with every attempt recorded.
func TestWebhookReceiverOutage(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "s3cret")
	rcv.Fail(true)
	w := e.webhook(map[string]any{"name": "ops", "url": rcv.URL, "secret": "s3cret", "events": []string{"task.failed"}})
	e.run(e.spider("failing", "exit 1\n"), store.TaskError)
	rcv.WaitFor(t, wait, "three failed attempts", func(all []testenv.Received) bool { return len(all) >= 3 })
	rcv.Fail(false)
	rcv.WaitFor(t, wait, "the delivery after the outage", ofEvent("task.failed", 1))
	all := rcv.All()
	first := all[0].Delivery
	for _, r := range all {
		if r.Delivery != first || !r.Valid {
			t.Errorf("request %+v: want every attempt the same delivery, signed", r)
		}
		if string(r.Body) != string(all[0].Body) {
			t.Errorf("attempts differ in body: %s vs %s", r.Body, all[0].Body)
		}
	}
	// The outcome is recorded after the answer: wait for it in the store.
	var d store.Delivery
	deadline := time.Now().Add(wait)
	for {
		ds := e.deliveries(w.ID)
		if len(ds) == 1 && ds[0].Status == "delivered" {
			d = ds[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v: want one, delivered", ds)
		}
		time.Sleep(20 * time.Millisecond) // polling the store, which has no event to wait on
	}
	if d.Attempts != len(all) || d.Response != 200 || d.LastError != "" {
		t.Errorf("delivery %+v: want %d attempts recorded, the last answered 200", d, len(all))
	}
	if n := len(rcv.Accepted()); n != 1 {
		t.Errorf("%d deliveries accepted, want 1", n)
	}
}

// Slack gets {"text": …} and nothing else; "send a test" delivers now and
// says how it went, on the answer and on the webhooks channel.
func TestWebhookSlackAndTest(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "k")
	ws := e.dial()
	ws.subscribe("webhooks")
	w := e.webhook(map[string]any{"name": "chat", "url": rcv.URL, "secret": "k", "format": "slack",
		"events": []string{"task.failed"}})
	var d store.Delivery
	e.do("POST", "/api/webhooks/"+w.ID+"/test", nil, &d)
	if d.Status != "delivered" || d.Event != "test" || d.Attempts != 1 || d.Response != 200 {
		t.Fatalf("test delivery %+v: want delivered at once", d)
	}
	ws.expect("webhooks", `"id":"`+d.ID+`"`, `"status":"delivered"`)
	e.wantAudit("webhook.test", w.ID, "chat", "delivered")

	e.run(e.spider("quotes", "exit 2\n"), store.TaskError)
	got := rcv.WaitFor(t, wait, "slack delivery", ofEvent("task.failed", 1))
	var body map[string]any
	if err := json.Unmarshal(got[len(got)-1].Body, &body); err != nil {
		t.Fatal(err)
	}
	text, _ := body["text"].(string)
	if len(body) != 1 || !strings.Contains(text, "quotes") || !strings.Contains(text, "failed") {
		t.Fatalf("slack body %v: want only a text naming the spider and the failure", body)
	}

	// A test to a receiver that fails is not retried: it failed, and says why.
	rcv.Fail(true)
	e.do("POST", "/api/webhooks/"+w.ID+"/test", nil, &d)
	if d.Status != "failed" || d.Response != 500 || !strings.Contains(d.LastError, "500") {
		t.Fatalf("test delivery to a failing receiver %+v: want failed with the 500", d)
	}
}

// Email alerts go through the configured mail server, as plain text.
func TestWebhookEmail(t *testing.T) {
	mail := testenv.StartSMTP(t)
	e := newEnv(t, fastRetry, func(c *server.Config) {
		c.SMTP = alerts.SMTP{Addr: mail.Addr, From: "crawlhub@example.com"}
		c.PublicURL = "https://crawlhub.example.com/"
	})
	w := e.webhook(map[string]any{"name": "on call", "kind": "email", "recipients": []string{"ops@example.com", "dev@example.com"},
		"events": []string{"task.failed"}})
	var d store.Delivery
	e.do("POST", "/api/webhooks/"+w.ID+"/test", nil, &d)
	if d.Status != "delivered" {
		t.Fatalf("test mail %+v: want delivered", d)
	}
	task := e.run(e.spider("books", "exit 4\n"), store.TaskError)
	mails := mail.WaitFor(t, wait, "the task's mail", func(ms []testenv.Mail) bool { return len(ms) >= 2 })
	m := mails[1]
	if m.From != "crawlhub@example.com" || len(m.To) != 2 || m.To[0] != "ops@example.com" {
		t.Errorf("mail from %q to %v", m.From, m.To)
	}
	for _, want := range []string{"Subject: [crawlhub] task.failed: spider books", "Content-Type: text/plain; charset=utf-8",
		"X-Crawlhub-Event: task.failed", "exit code 4", "https://crawlhub.example.com/#/tasks/" + task.ID} {
		if !strings.Contains(m.Data, want) {
			t.Errorf("mail lacks %q:\n%s", want, m.Data)
		}
	}
}

// A task someone cancels is reported as cancelled, saying by whom and why,
// to a webhook that asked for that (and not to one that asked for
// failures only).
func TestWebhookTaskCancelled(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "s")
	e.webhook(map[string]any{"name": "0 failures", "url": rcv.URL, "secret": "s", "events": []string{"task.failed"}})
	w := e.webhook(map[string]any{"name": "cancels", "url": rcv.URL, "secret": "s", "events": []string{"task.cancelled"}})
	task := e.runningTaskOf("echo started\nexec sleep 100\n")
	e.do("POST", "/api/tasks/"+task.ID+"/cancel", map[string]string{"reason": "enough"}, nil)
	got := rcv.WaitFor(t, wait, "task.cancelled delivery", ofEvent("task.cancelled", 1))
	var p alerts.Payload
	if err := json.Unmarshal(got[0].Body, &p); err != nil {
		t.Fatal(err)
	}
	if !got[0].Valid || p.Webhook.ID != w.ID || p.Task == nil || p.Task.ID != task.ID || p.Task.Status != "cancelled" ||
		!strings.Contains(p.Task.Reason, "enough") || !strings.Contains(p.Text, "cancelled") {
		t.Fatalf("payload %s: want the cancelled task, with its reason, signed, to the webhook that asked", got[0].Body)
	}
	for _, d := range e.deliveries(w.ID) {
		if d.Event != "task.cancelled" {
			t.Errorf("webhook cancels has a %s delivery", d.Event)
		}
	}
	if n := len(rcv.All()); n != 1 {
		t.Errorf("the receiver got %d deliveries, want only the cancellation's", n)
	}
}

// A node that stops is reported offline.
func TestWebhookNodeOffline(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "s")
	e.webhook(map[string]any{"name": "nodes", "url": rcv.URL, "secret": "s", "events": []string{"node.offline"}})
	e.stopAgent()
	got := rcv.WaitFor(t, wait, "node.offline delivery", ofEvent("node.offline", 1))
	var p alerts.Payload
	if err := json.Unmarshal(got[0].Body, &p); err != nil || p.Node == nil || p.Node.Name != "solo" || p.Node.Status != "offline" {
		t.Fatalf("payload %s: want node solo offline", got[0].Body)
	}
}

// A node that comes online is reported, each time, once the master has
// listened for a whole missed-beats window; one first heard within that
// window may have been online all along, and is not.
func TestWebhookNodeOnline(t *testing.T) {
	const beat = time.Second
	const window = 3 * beat // the master's missed-beats window
	started := time.Now()   // the master starts after this
	e := newEnv(t, fastRetry, func(c *server.Config) { c.Heartbeat = beat })
	rcv := testenv.StartReceiver(t, "s")
	e.webhook(map[string]any{"name": "nodes", "url": rcv.URL, "secret": "s", "events": []string{"node.online"}})
	e.stopAgent()
	start := func(name, dir string) (id string, stop func()) {
		a, err := agent.New(agent.Config{Name: name, DataDir: dir, PollInterval: time.Hour, Heartbeat: beat,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, e.st, func(h bus.Handler) (bus.Bus, error) { return e.broker.Connect(h), nil })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.Run(ctx) }()
		return a.NodeID(), func() { cancel(); <-done }
	}

	earlyID, stopEarly := start("early", t.TempDir())
	e.tap.wait(func(env *wire.Envelope) bool { return env.Type == wire.EvHeartbeat && env.NodeID == earlyID })
	inWindow := time.Since(started) < window
	stopEarly()
	// The window is a time, not an event: let it pass.
	time.Sleep(time.Until(started.Add(window + beat)))

	dir := t.TempDir()
	for round := 1; round <= 2; round++ {
		_, stop := start("late", dir)
		rcv.WaitFor(t, wait, "late's node.online delivery", func(all []testenv.Received) bool {
			n := 0
			for _, r := range all {
				if r.Event == "node.online" && strings.Contains(string(r.Body), `"name":"late"`) {
					n++
				}
			}
			return n >= round
		})
		stop()
	}
	var late int
	for _, r := range rcv.All() {
		var p alerts.Payload
		if err := json.Unmarshal(r.Body, &p); err != nil || p.Node == nil {
			t.Fatalf("payload %s: want a node", r.Body)
		}
		switch {
		case p.Node.Name == "early":
			if inWindow {
				t.Errorf("node early, first heard in the master's first window, was reported online: %s", r.Body)
			}
		case p.Node.Name == "late" && p.Node.Status == "online" && r.Valid:
			late++
		default:
			t.Errorf("unexpected delivery %s", r.Body)
		}
	}
	if late != 2 {
		t.Errorf("%d signed node.online deliveries for late, want 2 (it came online twice)", late)
	}
	if !inWindow {
		t.Log("the machine was too slow to start a node within the master's first window: that half was not checked")
	}
}

// Bad input is refused with a 400 that says what to fix, and nothing is
// stored.
func TestWebhookBadInput(t *testing.T) {
	e := newEnv(t)
	sp := e.spider("quotes", "true\n")
	ok := map[string]any{"name": "ops", "url": "https://hooks.example.com/x", "events": []string{"task.failed"}}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range ok {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name string
		body map[string]any
		want string
	}{
		{"no url", with("url", nil), "url is required"},
		{"ftp url", with("url", "ftp://example.com/x"), "not an http or https URL"},
		{"relative url", with("url", "hooks/x"), "not an http or https URL"},
		{"no host", with("url", "http:///x"), "has no host"},
		{"unknown event", with("events", []string{"task.exploded"}), "task.exploded"},
		{"no events", with("events", []string{}), "events are required"},
		{"no name", with("name", " "), "name is required"},
		{"bad kind", with("kind", "pager"), "pager"},
		{"bad format", with("format", "xml"), "xml"},
		{"bad spider", with("spider_ids", []string{"nope"}), "spider id nope is not valid"},
		{"unknown spider", with("spider_ids", []string{store.NewID()}), "no spider has id"},
		{"email without a mail server", map[string]any{"name": "m", "kind": "email", "recipients": []string{"a@example.com"}, "events": []string{"task.failed"}}, "no mail server"},
		{"bad recipient", map[string]any{"name": "m", "kind": "email", "recipients": []string{"not an address"}, "events": []string{"task.failed"}}, "not an email address"},
	} {
		b, _ := json.Marshal(tc.body)
		status, _, body := e.request("POST", "/api/webhooks", "application/json", strings.NewReader(string(b)), nil)
		if status != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.name, status, body, tc.want)
		}
	}
	var l struct{ Items []webhookJSON }
	e.do("GET", "/api/webhooks", nil, &l)
	if len(l.Items) != 0 {
		t.Fatalf("bad requests stored webhooks: %+v", l.Items)
	}

	// An update is checked as a create is, and a bad one changes nothing.
	w := e.webhook(with("spider_ids", []string{sp.ID}))
	status, _, body := e.request("PUT", "/api/webhooks/"+w.ID, "application/json", strings.NewReader(`{"events":["nope"]}`), nil)
	if status != http.StatusBadRequest {
		t.Errorf("PUT with an unknown event: %d %s", status, body)
	}
	status, _, body = e.request("PUT", "/api/webhooks/"+w.ID, "application/json", strings.NewReader(`{"kind":"email","recipients":["a@example.com"]}`), nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "kind cannot change") {
		t.Errorf("PUT changing the kind: %d %s", status, body)
	}
	var after webhookJSON
	e.do("PUT", "/api/webhooks/"+w.ID, map[string]any{"enabled": false}, &after)
	if after.Enabled || len(after.Events) != 1 || after.Events[0] != "task.failed" || after.Secret != "" || !after.HasSecret {
		t.Errorf("after a bad and a good update: %+v", after)
	}
	// JSON-RPC refuses the same with invalid params.
	ws := e.dial()
	if r := ws.call("webhook.create", `{"name":"x","url":"gopher://x","events":["task.failed"]}`); !strings.Contains(r, `"code":-32602`) || !strings.Contains(r, "not an http or https URL") {
		t.Errorf("webhook.create with a bad URL: %s", r)
	}
	if r := ws.call("webhooks.list", ""); !strings.Contains(r, w.ID) || strings.Contains(r, `"secret"`) {
		t.Errorf("webhooks.list: %s", r)
	}
	e.do("DELETE", "/api/webhooks/"+w.ID, nil, nil)
	status, _, _ = e.request("DELETE", "/api/webhooks/"+w.ID, "", nil, nil)
	if status != http.StatusNotFound {
		t.Errorf("second DELETE: %d, want 404", status)
	}
	e.wantAudit("webhook.delete", w.ID, "ops")
}

// A schedule that skips a fire (its task still runs) is reported, with
// the schedule's spider for the filter.
func TestWebhookScheduleSkipped(t *testing.T) {
	e := newEnv(t, fastRetry)
	rcv := testenv.StartReceiver(t, "s")
	sp := e.spider("slow", "sleep 30\n")
	e.webhook(map[string]any{"name": "schedules", "url": rcv.URL, "secret": "s", "events": []string{"schedule.skipped"},
		"spider_ids": []string{sp.ID}})
	var v struct{ ID string }
	e.do("POST", "/api/schedules", map[string]any{"spider": "slow", "cron": "@every 1s", "overlap": "skip", "name": "every second"}, &v)
	got := rcv.WaitFor(t, wait, "schedule.skipped delivery", ofEvent("schedule.skipped", 1))
	var p alerts.Payload
	if err := json.Unmarshal(got[0].Body, &p); err != nil || p.Schedule == nil || p.Schedule.ID != v.ID ||
		p.Schedule.Name != "every second" || p.Schedule.SpiderName != "slow" || p.Schedule.Reason == "" {
		t.Fatalf("payload %s: want schedule \"every second\" of spider slow, skipped for a reason", got[0].Body)
	}
	// Stop the schedule and its task, so the test ends promptly.
	e.do("DELETE", "/api/schedules/"+v.ID, nil, nil)
}
