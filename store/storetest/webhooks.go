package storetest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Webhooks and their deliveries.

func newWebhook(name string) *store.Webhook {
	now := store.Now()
	return &store.Webhook{
		ID: store.NewID(), Name: name, Kind: store.WebhookHTTP, URL: "https://hooks.example.com/" + name,
		Events: []string{store.EventTaskFailed, store.EventNodeOffline}, SpiderIDs: []string{store.NewID()},
		Secret: "s3cret", Format: store.FormatJSON, Enabled: true, CreatedBy: "admin",
		Created: now, Updated: now,
	}
}

func equalWebhook(t testing.TB, got, want *store.Webhook) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Created", &g.Created)
	utc(t, "Updated", &g.Updated)
	w.Created, w.Updated = w.Created.UTC().Truncate(time.Millisecond), w.Updated.UTC().Truncate(time.Millisecond)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("webhook\n got %+v\nwant %+v", g, w)
	}
}

func testWebhookCRUD(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newWebhook("ops")
	must(t, s.Webhooks().Create(ctx, w))
	isErr(t, s.Webhooks().Create(ctx, w), store.ErrConflict, "Create of an existing id")
	got, err := s.Webhooks().Get(ctx, w.ID)
	must(t, err)
	equalWebhook(t, got, w)

	// An email channel, with a second name sorting first.
	mail := newWebhook("alpha")
	mail.Kind, mail.URL, mail.Recipients, mail.SpiderIDs = store.WebhookEmail, "", []string{"a@example.com", "b@example.com"}, nil
	must(t, s.Webhooks().Create(ctx, mail))
	list, err := s.Webhooks().List(ctx)
	must(t, err)
	if len(list) != 2 || list[0].ID != mail.ID || list[1].ID != w.ID {
		t.Fatalf("List = %v, want alpha then ops", list)
	}
	equalWebhook(t, &list[0], mail)

	// Update replaces everything but Created.
	upd := *w
	upd.Name, upd.URL, upd.Events, upd.SpiderIDs = "ops2", "http://10.0.0.1/x", []string{store.EventTaskFinished}, nil
	upd.Secret, upd.Format, upd.Enabled = "other", store.FormatSlack, false
	upd.Created, upd.Updated = w.Created.Add(-time.Hour), w.Updated.Add(time.Minute)
	must(t, s.Webhooks().Update(ctx, &upd))
	got, err = s.Webhooks().Get(ctx, w.ID)
	must(t, err)
	want := upd
	want.Created = w.Created
	equalWebhook(t, got, &want)

	// Delete takes the webhook's deliveries with it, and no other's.
	d := newDelivery(w.ID, store.Now())
	other := newDelivery(mail.ID, store.Now())
	must(t, s.Webhooks().CreateDelivery(ctx, d))
	must(t, s.Webhooks().CreateDelivery(ctx, other))
	must(t, s.Webhooks().Delete(ctx, w.ID))
	_, err = s.Webhooks().Get(ctx, w.ID)
	isErr(t, err, store.ErrNotFound, "Get of a deleted webhook")
	_, err = s.Webhooks().GetDelivery(ctx, d.ID)
	isErr(t, err, store.ErrNotFound, "GetDelivery of a deleted webhook's delivery")
	_, err = s.Webhooks().GetDelivery(ctx, other.ID)
	must(t, err)
	isErr(t, s.Webhooks().Delete(ctx, w.ID), store.ErrNotFound, "Delete of a deleted webhook")
	isErr(t, s.Webhooks().Update(ctx, &upd), store.ErrNotFound, "Update of a deleted webhook")
	if err := s.Webhooks().Create(ctx, &store.Webhook{ID: "nope", Name: "x"}); err == nil {
		t.Error("Create took an invalid id")
	}
}

func newDelivery(webhookID string, created time.Time) *store.Delivery {
	return &store.Delivery{
		ID: store.NewID(), WebhookID: webhookID, Event: store.EventTaskFailed,
		Payload: json.RawMessage(`{"event":"task.failed","task":{"id":"x"}}`), Status: store.DeliveryPending,
		Next: created, Created: created, Updated: created,
	}
}

func equalDelivery(t testing.TB, got, want *store.Delivery) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Created", &g.Created)
	utc(t, "Updated", &g.Updated)
	for _, tm := range []*time.Time{&w.Created, &w.Updated, &w.Next} {
		if !tm.IsZero() {
			*tm = tm.UTC().Truncate(time.Millisecond)
		}
	}
	if string(g.Payload) != string(w.Payload) {
		t.Fatalf("delivery payload\n got %s\nwant %s", g.Payload, w.Payload)
	}
	g.Payload, w.Payload = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("delivery\n got %+v\nwant %+v", g, w)
	}
}

func testWebhookDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newWebhook("ops")
	must(t, s.Webhooks().Create(ctx, w))
	base := store.Now().Add(-time.Hour)
	var all []*store.Delivery
	for i := range 7 {
		// Pairs share a time, so the id tie-break is exercised.
		all = append(all, newDelivery(w.ID, base.Add(time.Duration(i/2)*time.Second)))
	}
	for _, i := range []int{3, 0, 6, 1, 5, 2, 4} {
		must(t, s.Webhooks().CreateDelivery(ctx, all[i]))
	}
	// A delivery id is made once.
	isErr(t, s.Webhooks().CreateDelivery(ctx, all[2]), store.ErrConflict, "CreateDelivery of an existing id")
	bad := newDelivery(w.ID, base)
	bad.Status = "lost"
	if err := s.Webhooks().CreateDelivery(ctx, bad); err == nil {
		t.Error("CreateDelivery took an unknown status")
	}

	got, err := s.Webhooks().Deliveries(ctx, w.ID, 4)
	must(t, err)
	if len(got) != 4 {
		t.Fatalf("Deliveries(limit 4) gave %d", len(got))
	}
	for i := range got {
		for j := i + 1; j < len(got); j++ {
			a, b := got[i], got[j]
			if a.Created.Before(b.Created) || a.Created.Equal(b.Created) && a.ID < b.ID {
				t.Fatalf("Deliveries not newest first: %s %v before %s %v", a.ID, a.Created, b.ID, b.Created)
			}
		}
	}
	// The newest of all: the one or two created last.
	if !got[0].Created.Equal(all[6].Created.UTC()) {
		t.Errorf("newest delivery created %v, want %v", got[0].Created, all[6].Created)
	}
	none, err := s.Webhooks().Deliveries(ctx, w.ID, 0)
	must(t, err)
	if len(none) != 0 {
		t.Errorf("Deliveries(limit 0) gave %d", len(none))
	}

	// An attempt is recorded and read back.
	d := *all[0]
	d.Status, d.Attempts, d.Next = store.DeliveryRetrying, 2, store.Now().Add(time.Minute)
	d.LastError, d.Response, d.Updated = "receiver answered 500", 500, store.Now()
	must(t, s.Webhooks().UpdateDelivery(ctx, &d))
	back, err := s.Webhooks().GetDelivery(ctx, d.ID)
	must(t, err)
	equalDelivery(t, back, &d)
	// A final delivery has no next attempt.
	d.Status, d.Attempts, d.LastError, d.Response = store.DeliveryDelivered, 3, "", 204
	must(t, s.Webhooks().UpdateDelivery(ctx, &d))
	back, err = s.Webhooks().GetDelivery(ctx, d.ID)
	must(t, err)
	want := d
	want.Next = time.Time{}
	equalDelivery(t, back, &want)

	missing := newDelivery(w.ID, base)
	isErr(t, s.Webhooks().UpdateDelivery(ctx, missing), store.ErrNotFound, "UpdateDelivery of an unknown id")
	_, err = s.Webhooks().GetDelivery(ctx, missing.ID)
	isErr(t, err, store.ErrNotFound, "GetDelivery of an unknown id")
}

func testWebhookDue(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := newWebhook("ops")
	must(t, s.Webhooks().Create(ctx, w))
	now := store.Now()
	mk := func(status string, next, updated time.Time) *store.Delivery {
		d := newDelivery(w.ID, now.Add(-2*time.Hour))
		d.Status, d.Next, d.Updated = status, next, updated
		must(t, s.Webhooks().CreateDelivery(ctx, d))
		return d
	}
	old := now.Add(-48 * time.Hour)
	late := mk(store.DeliveryRetrying, now.Add(-time.Minute), old)
	due := mk(store.DeliveryPending, now, now)
	mk(store.DeliveryRetrying, now.Add(time.Minute), old) // not yet
	oldDone := mk(store.DeliveryDelivered, now.Add(-time.Hour), old)
	oldFailed := mk(store.DeliveryFailed, now.Add(-time.Hour), old)
	recent := mk(store.DeliveryDelivered, now.Add(-time.Hour), now)

	got, err := s.Webhooks().Due(ctx, now, 10)
	must(t, err)
	if len(got) != 2 || got[0].ID != late.ID || got[1].ID != due.ID {
		t.Fatalf("Due = %v, want the late retry then the pending one", got)
	}
	got, err = s.Webhooks().Due(ctx, now, 1)
	must(t, err)
	if len(got) != 1 || got[0].ID != late.ID {
		t.Fatalf("Due(limit 1) = %v, want the late retry", got)
	}

	// The sweep deletes old final deliveries only: never one still to be
	// sent, however old.
	n, err := s.Webhooks().DeleteDeliveriesBefore(ctx, now.Add(-time.Hour))
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteDeliveriesBefore deleted %d, want 2", n)
	}
	for _, d := range []*store.Delivery{oldDone, oldFailed} {
		_, err := s.Webhooks().GetDelivery(ctx, d.ID)
		isErr(t, err, store.ErrNotFound, "an old final delivery after the sweep")
	}
	for _, d := range []*store.Delivery{late, recent} {
		_, err := s.Webhooks().GetDelivery(ctx, d.ID)
		must(t, err)
	}
}
