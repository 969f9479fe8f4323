package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func (s *Store) Webhooks() store.Webhooks { return (*webhooks)(s) }

type webhooks Store

const webhookCols = `id, name, kind, url, recipients, events, spider_ids, secret, format, enabled,
	created_by, created, updated`

func scanWebhook(row interface{ Scan(...any) error }) (store.Webhook, error) {
	var w store.Webhook
	var recipients, events, spiders string
	var created, updated int64
	if err := row.Scan(&w.ID, &w.Name, &w.Kind, &w.URL, &recipients, &events, &spiders, &w.Secret,
		&w.Format, &w.Enabled, &w.CreatedBy, &created, &updated); err != nil {
		return w, err
	}
	w.Created, w.Updated = fromMS(created), fromMS(updated)
	var err error
	if w.Recipients, err = listFromJSON(recipients); err != nil {
		return w, err
	}
	if w.Events, err = listFromJSON(events); err != nil {
		return w, err
	}
	w.SpiderIDs, err = listFromJSON(spiders)
	return w, err
}

func (s *webhooks) Create(ctx context.Context, w *store.Webhook) error {
	if err := store.CheckWebhook(w); err != nil {
		return fmt.Errorf("store: create webhook %q: %w", w.Name, err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO webhooks (`+webhookCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		w.ID, w.Name, w.Kind, w.URL, listToJSON(w.Recipients), listToJSON(w.Events), listToJSON(w.SpiderIDs),
		w.Secret, w.Format, w.Enabled, w.CreatedBy, ms(w.Created), ms(w.Updated))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create webhook %q: %w", w.Name, err)
	}
	return nil
}

func (s *webhooks) Get(ctx context.Context, id string) (*store.Webhook, error) {
	w, err := scanWebhook(s.r.QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get webhook %s: %w", id, err)
	}
	return &w, nil
}

func (s *webhooks) List(ctx context.Context) ([]store.Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookCols+` FROM webhooks ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	list, err := collect(rows, scanWebhook)
	if err != nil {
		return nil, fmt.Errorf("store: list webhooks: %w", err)
	}
	return list, nil
}

func (s *webhooks) Update(ctx context.Context, w *store.Webhook) error {
	err := affected(s.w.ExecContext(ctx, `UPDATE webhooks SET name=?, kind=?, url=?, recipients=?, events=?,
		spider_ids=?, secret=?, format=?, enabled=?, created_by=?, updated=? WHERE id = ?`,
		w.Name, w.Kind, w.URL, listToJSON(w.Recipients), listToJSON(w.Events), listToJSON(w.SpiderIDs),
		w.Secret, w.Format, w.Enabled, w.CreatedBy, ms(w.Updated), w.ID))
	if err != nil {
		return fmt.Errorf("store: update webhook %s: %w", w.ID, err)
	}
	return nil
}

// Delete removes the webhook and its deliveries in one transaction, so no
// delivery outlives its webhook.
func (s *webhooks) Delete(ctx context.Context, id string) error {
	err := s.w.inTx(ctx, []string{
		`DELETE FROM webhooks WHERE id = ?`,
		`DELETE FROM deliveries WHERE webhook_id = ?`,
	}, func(st []*sql.Stmt) error {
		if err := affected(st[0].ExecContext(ctx, id)); err != nil {
			return err
		}
		_, err := st[1].ExecContext(ctx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete webhook %s: %w", id, err)
	}
	return nil
}

const deliveryCols = `id, webhook_id, event, payload, status, attempts, next, last_error, response, created, updated`

func scanDelivery(row interface{ Scan(...any) error }) (store.Delivery, error) {
	var d store.Delivery
	var payload []byte
	var next, created, updated int64
	if err := row.Scan(&d.ID, &d.WebhookID, &d.Event, &payload, &d.Status, &d.Attempts, &next, &d.LastError,
		&d.Response, &created, &updated); err != nil {
		return d, err
	}
	d.Payload = payload
	d.Next, d.Created, d.Updated = fromMS(next), fromMS(created), fromMS(updated)
	if store.DeliveryDone(d.Status) {
		d.Next = time.Time{}
	}
	return d, nil
}

func (s *webhooks) CreateDelivery(ctx context.Context, d *store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return fmt.Errorf("store: create delivery: %w", err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO deliveries (`+deliveryCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		d.ID, d.WebhookID, d.Event, []byte(d.Payload), d.Status, d.Attempts, ms(d.Next), d.LastError, d.Response,
		ms(d.Created), ms(d.Updated))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create delivery %s: %w", d.ID, err)
	}
	return nil
}

func (s *webhooks) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get delivery %s: %w", id, err)
	}
	return &d, nil
}

func (s *webhooks) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	if err := store.CheckDelivery(d); err != nil {
		return fmt.Errorf("store: update delivery: %w", err)
	}
	err := affected(s.w.ExecContext(ctx, `UPDATE deliveries SET status=?, attempts=?, next=?, last_error=?,
		response=?, updated=? WHERE id = ?`,
		d.Status, d.Attempts, ms(d.Next), d.LastError, d.Response, ms(d.Updated), d.ID))
	if err != nil {
		return fmt.Errorf("store: update delivery %s: %w", d.ID, err)
	}
	return nil
}

func (s *webhooks) Deliveries(ctx context.Context, webhookID string, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, ctx.Err()
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries WHERE webhook_id = ?
		ORDER BY created DESC, id DESC LIMIT ?`, webhookID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries of webhook %s: %w", webhookID, err)
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("store: list deliveries of webhook %s: %w", webhookID, err)
	}
	return list, nil
}

func (s *webhooks) Due(ctx context.Context, at time.Time, limit int) ([]store.Delivery, error) {
	if limit <= 0 {
		return nil, ctx.Err()
	}
	// The status condition is the partial index's, word for word, so
	// SQLite uses it.
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryCols+` FROM deliveries
		WHERE status IN ('pending', 'retrying') AND next <= ? ORDER BY next, id LIMIT ?`, ms(at), limit)
	if err != nil {
		return nil, fmt.Errorf("store: list due deliveries: %w", err)
	}
	list, err := collect(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("store: list due deliveries: %w", err)
	}
	return list, nil
}

func (s *webhooks) DeleteDeliveriesBefore(ctx context.Context, before time.Time) (int, error) {
	n, err := rows(s.w.ExecContext(ctx, `DELETE FROM deliveries
		WHERE updated < ? AND status IN ('delivered', 'failed')`, ms(before)))
	if err != nil {
		return 0, fmt.Errorf("store: delete old deliveries: %w", err)
	}
	return int(n), nil
}
