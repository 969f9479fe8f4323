package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Webhook kinds: where an alert goes.
const (
	WebhookHTTP  = "webhook" // an HTTP POST to URL
	WebhookEmail = "email"   // a mail to Recipients through the master's SMTP server
)

// Webhook payload formats.
const (
	FormatJSON  = "json"  // the generic JSON payload
	FormatSlack = "slack" // {"text": "..."}, which Slack, Mattermost and others take
)

// Alert events: what a webhook may ask to be told about.
const (
	EventTaskFinished    = "task.finished"
	EventTaskFailed      = "task.failed" // ended in error or abnormal
	EventTaskCancelled   = "task.cancelled"
	EventNodeOffline     = "node.offline"
	EventNodeOnline      = "node.online"
	EventScheduleSkipped = "schedule.skipped"
	// EventTest is the event of a delivery sent by "send a test"; no
	// webhook subscribes to it.
	EventTest = "test"
)

// AlertEvents lists the events a webhook may subscribe to, in the order a
// person reads them.
var AlertEvents = []string{EventTaskFinished, EventTaskFailed, EventTaskCancelled,
	EventNodeOffline, EventNodeOnline, EventScheduleSkipped}

// Webhook is one alert channel: an HTTP endpoint or a list of mail
// recipients, the events it wants and, optionally, the spiders whose task
// events it wants (none: every spider's).
type Webhook struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	URL        string   `json:"url,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Events     []string `json:"events"`
	SpiderIDs  []string `json:"spider_ids,omitempty"`
	// Secret signs every delivery (HMAC-SHA256). The API never returns it
	// after creation.
	Secret    string    `json:"secret,omitempty"`
	Format    string    `json:"format"`
	Enabled   bool      `json:"enabled"`
	CreatedBy string    `json:"created_by,omitempty"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // not attempted yet
	DeliveryRetrying  = "retrying"  // attempted, failed, to be attempted again at Next
	DeliveryDelivered = "delivered" // the receiver answered 2xx (or the mail server took it)
	DeliveryFailed    = "failed"    // every attempt failed; no more will be made
)

// DeliveryDone reports whether status is final.
func DeliveryDone(status string) bool {
	return status == DeliveryDelivered || status == DeliveryFailed
}

// Delivery is one event sent, or to be sent, to one webhook: its body is
// fixed when the delivery is made, so every attempt sends the same bytes.
type Delivery struct {
	// ID is derived from the webhook and the event (see the server's
	// alerts), so that masters seeing the same event make one delivery.
	ID        string          `json:"id"`
	WebhookID string          `json:"webhook_id"`
	Event     string          `json:"event"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	// Next is when the next attempt is due (pending and retrying only).
	Next      time.Time `json:"next_attempt,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Response is the HTTP status of the last attempt's answer (0: none,
	// or an email).
	Response int       `json:"response_status,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Webhooks stores the alert channels (webhooks and email) and the record
// of their deliveries. Safe for concurrent use.
type Webhooks interface {
	// Create stores w (w.ID must be set); ErrConflict if the id exists.
	Create(ctx context.Context, w *Webhook) error
	// Get returns ErrNotFound for an unknown id.
	Get(ctx context.Context, id string) (*Webhook, error)
	// List returns every webhook, ordered by name then id.
	List(ctx context.Context) ([]Webhook, error)
	// Update replaces every field of the webhook with w.ID but Created;
	// ErrNotFound for an unknown id.
	Update(ctx context.Context, w *Webhook) error
	// Delete removes the webhook and its deliveries; ErrNotFound for an
	// unknown id.
	Delete(ctx context.Context, id string) error

	// CreateDelivery stores d (d.ID must be set); ErrConflict if a
	// delivery with that id exists, which makes a delivery with an id
	// derived from its event impossible to make twice.
	CreateDelivery(ctx context.Context, d *Delivery) error
	// GetDelivery returns ErrNotFound for an unknown id.
	GetDelivery(ctx context.Context, id string) (*Delivery, error)
	// UpdateDelivery records an attempt: Status, Attempts, Next,
	// LastError, Response and Updated of d.ID. ErrNotFound for an unknown id.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// Deliveries returns up to limit of a webhook's deliveries, newest
	// first (by Created, then id); limit <= 0 returns none.
	Deliveries(ctx context.Context, webhookID string, limit int) ([]Delivery, error)
	// Due returns up to limit deliveries that are pending or retrying and
	// whose Next is at or before at, the most overdue first.
	Due(ctx context.Context, at time.Time, limit int) ([]Delivery, error)
	// DeleteDeliveriesBefore removes the final (delivered or failed)
	// deliveries last updated before before, and says how many.
	DeleteDeliveriesBefore(ctx context.Context, before time.Time) (int, error)
}

// CheckWebhook is what every store checks before storing w: a valid id.
// What a person may set is checked by the server, with messages for them.
func CheckWebhook(w *Webhook) error {
	if !ValidID(w.ID) {
		return fmt.Errorf("invalid webhook id %q: want 24 hex digits (store.NewID)", w.ID)
	}
	return nil
}

// CheckDelivery is what every store checks before storing d: valid ids
// and a known status.
func CheckDelivery(d *Delivery) error {
	if !ValidID(d.ID) || !ValidID(d.WebhookID) {
		return fmt.Errorf("invalid delivery %q of webhook %q: want ids of 24 hex digits", d.ID, d.WebhookID)
	}
	switch d.Status {
	case DeliveryPending, DeliveryRetrying, DeliveryDelivered, DeliveryFailed:
	default:
		return errors.New("unknown delivery status " + d.Status)
	}
	return nil
}
