package alerts_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server/alerts"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wire"
)

// TestMain fails the run if Alerts leaves goroutines behind once its
// context ends.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const wait = 15 * time.Second

func TestSign(t *testing.T) {
	body := []byte(`{"event":"test"}`)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write(body)
	if got, want := alerts.Sign("k", body), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestTaskEvent(t *testing.T) {
	for status, want := range map[string]string{
		store.TaskFinished: store.EventTaskFinished, store.TaskError: store.EventTaskFailed,
		store.TaskAbnormal: store.EventTaskFailed, store.TaskCancelled: store.EventTaskCancelled,
		store.TaskRunning: "", store.TaskPending: "",
	} {
		ev, ok := alerts.TaskEvent(wire.TaskStatus{TaskID: store.NewID(), Status: status})
		if ok != (want != "") || ev.Name != want {
			t.Errorf("status %s: event %q (%v), want %q", status, ev.Name, ok, want)
		}
	}
	// The same task ending is the same occurrence on every master; another
	// task, or a node's event, is not.
	id := store.NewID()
	a, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: id, Status: store.TaskError})
	b, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: id, Status: store.TaskError, LogLines: 9})
	c, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: store.NewID(), Status: store.TaskError})
	if a.Key != b.Key || a.Key == c.Key {
		t.Errorf("keys %q %q %q: want the first two equal, the third different", a.Key, b.Key, c.Key)
	}
	beat := time.Now()
	n1 := alerts.NodeEvent(id, "a", store.NodeOffline, beat)
	n2 := alerts.NodeEvent(id, "a", store.NodeOffline, beat)
	n3 := alerts.NodeEvent(id, "a", store.NodeOffline, beat.Add(time.Second))
	if n1.Key != n2.Key || n1.Key == n3.Key {
		t.Errorf("node keys %q %q %q", n1.Key, n2.Key, n3.Key)
	}
	if alerts.DeliveryID("w", a.Key) != alerts.DeliveryID("w", b.Key) || !store.ValidID(alerts.DeliveryID("w", a.Key)) {
		t.Error("DeliveryID is not a stable store id")
	}
}

// rig is a store with a task that failed, and n Alerts on one in-process
// bus, as n masters would be.
type rig struct {
	st     store.Store
	task   store.Task
	alerts []*alerts.Alerts
}

func newRig(t *testing.T, n int, retry []time.Duration) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := store.Now()
	r := &rig{st: st, task: store.Task{ID: store.NewID(), SpiderID: store.NewID(), SpiderName: "quotes", Status: store.TaskError,
		Reason: "exit code 2", Created: now, Started: now.Add(-time.Second), Finished: now}}
	if err := st.Tasks().Create(ctx, &r.task); err != nil {
		t.Fatal(err)
	}
	broker := bus.NewMemoryBroker()
	var wg sync.WaitGroup
	var buses []bus.Bus
	for range n {
		b := broker.Connect(func(string, []byte) {})
		buses = append(buses, b)
		a := alerts.New(alerts.Config{Store: st, Bus: b, Retry: retry, Poll: 50 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		r.alerts = append(r.alerts, a)
		wg.Go(func() { a.Run(ctx) })
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, b := range buses {
			b.Close()
		}
		st.Close(context.Background())
	})
	return r
}

func (r *rig) webhook(t *testing.T, w store.Webhook) store.Webhook {
	t.Helper()
	now := store.Now()
	w.ID, w.Kind, w.Enabled, w.Created, w.Updated = store.NewID(), store.WebhookHTTP, true, now, now
	if w.Format == "" {
		w.Format = store.FormatJSON
	}
	if err := r.st.Webhooks().Create(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// Several masters told of the same task's end make one delivery, sent
// once; a receiver down for a while gets it when it is back.
func TestOnceAcrossMasters(t *testing.T) {
	r := newRig(t, 3, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond})
	rcv := testenv.StartReceiver(t, "s")
	w := r.webhook(t, store.Webhook{Name: "ops", URL: rcv.URL, Secret: "s", Events: []string{store.EventTaskFailed}})
	rcv.Fail(true)
	ev, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: r.task.ID, SpiderID: r.task.SpiderID, Status: store.TaskError})
	for _, a := range r.alerts {
		a.Notify(ev)
	}
	rcv.WaitFor(t, wait, "two refused attempts", func(all []testenv.Received) bool { return len(all) >= 2 })
	rcv.Fail(false)
	rcv.WaitFor(t, wait, "the delivery", func(all []testenv.Received) bool {
		return len(all) > 0 && all[len(all)-1].Status == http.StatusOK
	})
	var d *store.Delivery
	deadline := time.Now().Add(wait)
	for {
		ds, err := r.st.Webhooks().Deliveries(context.Background(), w.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 {
			t.Fatalf("%d deliveries, want 1: %+v", len(ds), ds)
		}
		if ds[0].Status == store.DeliveryDelivered {
			d = &ds[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %+v never recorded delivered", ds[0])
		}
		time.Sleep(10 * time.Millisecond) // the outcome is recorded after the answer; nothing to wait on
	}
	all := rcv.All()
	if d.Attempts != len(all) {
		t.Errorf("%d attempts recorded, the receiver saw %d", d.Attempts, len(all))
	}
	for _, g := range all {
		if g.Delivery != d.ID || !g.Valid {
			t.Errorf("request %+v: want delivery %s, signed", g, d.ID)
		}
	}
	var p alerts.Payload
	if err := json.Unmarshal(all[0].Body, &p); err != nil || p.Task == nil || p.Task.SpiderName != "quotes" || p.Task.Duration != 1 {
		t.Errorf("payload %s: want the task completed from the store (spider name, duration)", all[0].Body)
	}
}

// A delivery that fails every attempt ends failed, with the error.
func TestGivesUp(t *testing.T) {
	r := newRig(t, 1, []time.Duration{5 * time.Millisecond, 5 * time.Millisecond})
	rcv := testenv.StartReceiver(t, "s")
	rcv.Fail(true)
	w := r.webhook(t, store.Webhook{Name: "ops", URL: rcv.URL, Secret: "s", Events: []string{store.EventTaskFailed}, Format: store.FormatSlack})
	ev, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: r.task.ID, Status: store.TaskError})
	r.alerts[0].Notify(ev)
	rcv.WaitFor(t, wait, "three attempts", func(all []testenv.Received) bool { return len(all) == 3 })
	deadline := time.Now().Add(wait)
	for {
		ds, _ := r.st.Webhooks().Deliveries(context.Background(), w.ID, 10)
		if len(ds) == 1 && ds[0].Status == store.DeliveryFailed {
			if ds[0].Attempts != 3 || ds[0].Response != 500 || !strings.Contains(ds[0].LastError, "500") {
				t.Errorf("failed delivery %+v", ds[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries %+v: want one, failed", ds)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(rcv.All()); n != 3 {
		t.Errorf("%d attempts reached the receiver, want 3", n)
	}
}

// A webhook filtered to other spiders, or disabled, or not asking for the
// event, gets nothing; a test reaches a disabled one.
func TestFilters(t *testing.T) {
	r := newRig(t, 1, nil)
	rcv := testenv.StartReceiver(t, "s")
	r.webhook(t, store.Webhook{Name: "a other spider", URL: rcv.URL + "?other", Secret: "s", Events: []string{store.EventTaskFailed}, SpiderIDs: []string{store.NewID()}})
	off := r.webhook(t, store.Webhook{Name: "b disabled", URL: rcv.URL + "?off", Secret: "s", Events: []string{store.EventTaskFailed}})
	off.Enabled = false
	if err := r.st.Webhooks().Update(context.Background(), &off); err != nil {
		t.Fatal(err)
	}
	r.webhook(t, store.Webhook{Name: "c finished only", URL: rcv.URL + "?fin", Secret: "s", Events: []string{store.EventTaskFinished}})
	r.webhook(t, store.Webhook{Name: "d this spider", URL: rcv.URL, Secret: "s", Events: []string{store.EventTaskFailed}, SpiderIDs: []string{r.task.SpiderID}})
	ev, _ := alerts.TaskEvent(wire.TaskStatus{TaskID: r.task.ID, Status: store.TaskError})
	r.alerts[0].Notify(ev)
	// Webhooks are served in name order: d's delivery comes after the others were decided.
	got := rcv.WaitFor(t, wait, "d's delivery", func(all []testenv.Received) bool { return len(all) >= 1 })
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want only d's", len(got))
	}
	d, err := r.alerts[0].Test(context.Background(), &off)
	if err != nil || d.Status != store.DeliveryDelivered || d.Event != store.EventTest {
		t.Fatalf("test of a disabled webhook: %+v %v", d, err)
	}
}
