package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

func (s *Store) Webhooks() store.Webhooks { return (*webhooks)(s) }

// webhooks keeps one document per webhook in webhooks and one per
// delivery in webhook_deliveries. Nothing here is relied on for mutual
// exclusion: an attempt is claimed through the bus first, and a delivery
// is made once because its id is derived from its event (a second insert
// is a duplicate key).
type webhooks Store

type webhookDoc struct {
	ID         string    `bson:"_id"`
	Name       string    `bson:"name"`
	Kind       string    `bson:"kind"`
	URL        string    `bson:"url,omitempty"`
	Recipients []string  `bson:"recipients,omitempty"`
	Events     []string  `bson:"events,omitempty"`
	SpiderIDs  []string  `bson:"spider_ids,omitempty"`
	Secret     string    `bson:"secret"`
	Format     string    `bson:"format"`
	Enabled    bool      `bson:"enabled"`
	CreatedBy  string    `bson:"created_by,omitempty"`
	Created    time.Time `bson:"created"`
	Updated    time.Time `bson:"updated"`
}

func toWebhookDoc(w *store.Webhook) *webhookDoc {
	return &webhookDoc{
		ID: w.ID, Name: w.Name, Kind: w.Kind, URL: w.URL, Recipients: w.Recipients, Events: w.Events,
		SpiderIDs: w.SpiderIDs, Secret: w.Secret, Format: w.Format, Enabled: w.Enabled, CreatedBy: w.CreatedBy,
		Created: ms(w.Created), Updated: ms(w.Updated),
	}
}

func (d *webhookDoc) webhook() store.Webhook {
	return store.Webhook{
		ID: d.ID, Name: d.Name, Kind: d.Kind, URL: d.URL, Recipients: nilIfEmpty(d.Recipients),
		Events: nilIfEmpty(d.Events), SpiderIDs: nilIfEmpty(d.SpiderIDs), Secret: d.Secret, Format: d.Format,
		Enabled: d.Enabled, CreatedBy: d.CreatedBy, Created: d.Created.UTC(), Updated: d.Updated.UTC(),
	}
}

func (s *webhooks) Create(ctx context.Context, w *store.Webhook) error {
	if err := store.CheckWebhook(w); err != nil {
		return fmt.Errorf("store: create webhook %q: %w", w.Name, err)
	}
	if _, err := s.hooks.InsertOne(ctx, toWebhookDoc(w)); err != nil {
		return fmt.Errorf("store: create webhook %q: %w", w.Name, conflict(err))
	}
	return nil
}

func (s *webhooks) Get(ctx context.Context, id string) (*store.Webhook, error) {
	var d webhookDoc
	if err := findOne(ctx, s.hooks, bson.D{{Key: "_id", Value: id}}, &d); err != nil {
		return nil, fmt.Errorf("store: get webhook %s: %w", id, err)
	}
	w := d.webhook()
	return &w, nil
}

func (s *webhooks) List(ctx context.Context) ([]store.Webhook, error) {
	list, err := findAll(ctx, s.hooks, bson.D{}, (*webhookDoc).webhook,
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	return list, nil
}

// Update replaces the document but keeps its Created.
func (s *webhooks) Update(ctx context.Context, w *store.Webhook) error {
	old, err := s.Get(ctx, w.ID)
	if err != nil {
		return fmt.Errorf("store: update webhook %s: %w", w.ID, err)
	}
	d := toWebhookDoc(w)
	d.Created = old.Created
	res, err := s.hooks.ReplaceOne(ctx, bson.D{{Key: "_id", Value: w.ID}}, d)
	if err == nil {
		err = matched(res.MatchedCount, nil)
	}
	if err != nil {
		return fmt.Errorf("store: update webhook %s: %w", w.ID, err)
	}
	return nil
}

// Delete removes the webhook, then its deliveries: without transactions a
// failure between the two leaves deliveries of no webhook, which the
// sender drops when it finds their webhook gone.
func (s *webhooks) Delete(ctx context.Context, id string) error {
	res, err := s.hooks.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err == nil {
		err = matched(res.DeletedCount, nil)
	}
	if err == nil {
		_, err = s.deliveries.DeleteMany(ctx, bson.D{{Key: "webhook_id", Value: id}})
	}
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

type deliveryDoc struct {
	ID        string `bson:"_id"`
	WebhookID string `bson:"webhook_id"`
	Event     string `bson:"event"`
	// Payload is kept as bytes, not as a document, so every attempt signs
	// and sends exactly what was made.
	Payload   []byte    `bson:"payload"`
	Status    string    `bson:"status"`
	Attempts  int       `bson:"attempts"`
	Next      time.Time `bson:"next"`
	LastError string    `bson:"last_error,omitempty"`
	Response  int       `bson:"response,omitempty"`
	Created   time.Time `bson:"created"`
	Updated   time.Time `bson:"updated"`
}

func (d *deliveryDoc) delivery() store.Delivery {
	out := store.Delivery{
		ID: d.ID, WebhookID: d.WebhookID, Event: d.Event, Payload: d.Payload, Status: d.Status,
		Attempts: d.Attempts, Next: utcOrZero(d.Next), LastError: d.LastError, Response: d.Response,
		Created: d.Created.UTC(), Updated: d.Updated.UTC(),
	}
	if store.DeliveryDone(d.Status) {
		out.Next = time.Time{}
	}
	return out
}

func (s *webhooks) CreateDelivery(ctx context.Context, d *store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return fmt.Errorf("store: create delivery: %w", err)
	}
	_, err := s.deliveries.InsertOne(ctx, &deliveryDoc{
		ID: d.ID, WebhookID: d.WebhookID, Event: d.Event, Payload: []byte(d.Payload), Status: d.Status,
		Attempts: d.Attempts, Next: ms(d.Next), LastError: d.LastError, Response: d.Response,
		Created: ms(d.Created), Updated: ms(d.Updated),
	})
	if err != nil {
		return fmt.Errorf("store: create delivery %s: %w", d.ID, conflict(err))
	}
	return nil
}

func (s *webhooks) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	var d deliveryDoc
	if err := findOne(ctx, s.deliveries, bson.D{{Key: "_id", Value: id}}, &d); err != nil {
		return nil, fmt.Errorf("store: get delivery %s: %w", id, err)
	}
	out := d.delivery()
	return &out, nil
}

func (s *webhooks) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return fmt.Errorf("store: update delivery: %w", err)
	}
	res, err := s.deliveries.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "status", Value: d.Status}, {Key: "attempts", Value: d.Attempts}, {Key: "next", Value: ms(d.Next)},
		{Key: "last_error", Value: d.LastError}, {Key: "response", Value: d.Response},
		{Key: "updated", Value: ms(d.Updated)},
	}}})
	if err == nil {
		err = matched(res.MatchedCount, nil)
	}
	if err != nil {
		return fmt.Errorf("store: update delivery %s: %w", d.ID, err)
	}
	return nil
}

func (s *webhooks) Deliveries(ctx context.Context, webhookID string, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, ctx.Err()
	}
	list, err := findAll(ctx, s.deliveries, bson.D{{Key: "webhook_id", Value: webhookID}}, (*deliveryDoc).delivery,
		options.Find().SetSort(bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries of webhook %s: %w", webhookID, err)
	}
	return list, nil
}

func (s *webhooks) Due(ctx context.Context, at time.Time, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, ctx.Err()
	}
	list, err := findAll(ctx, s.deliveries, bson.D{
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{store.DeliveryPending, store.DeliveryRetrying}}}},
		{Key: "next", Value: bson.D{{Key: "$lte", Value: ms(at)}}},
	}, (*deliveryDoc).delivery,
		options.Find().SetSort(bson.D{{Key: "next", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("store: list due deliveries: %w", err)
	}
	return list, nil
}

func (s *webhooks) DeleteDeliveriesBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := s.deliveries.DeleteMany(ctx, bson.D{
		{Key: "updated", Value: bson.D{{Key: "$lt", Value: ms(before)}}},
		{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{store.DeliveryDelivered, store.DeliveryFailed}}}},
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete old deliveries: %w", err)
	}
	return int(deletedCount(res)), nil
}
