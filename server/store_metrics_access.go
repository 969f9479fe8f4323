package server

// The timed and bounded store aggregates of accounts, the audit log,
// the overview, node history and alerts (the others: store_metrics.go).

import (
	"context"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

type timedUsers struct {
	store.Users
	t *storeCalls
}

func (x timedUsers) Create(ctx context.Context, u *store.User) (err error) {
	ctx, end := x.t.begin(ctx, "users", "Create")
	defer end(&err)
	return x.Users.Create(ctx, u)
}
func (x timedUsers) Get(ctx context.Context, id string) (_ *store.User, err error) {
	ctx, end := x.t.begin(ctx, "users", "Get")
	defer end(&err)
	return x.Users.Get(ctx, id)
}
func (x timedUsers) GetByName(ctx context.Context, username string) (_ *store.User, err error) {
	ctx, end := x.t.begin(ctx, "users", "GetByName")
	defer end(&err)
	return x.Users.GetByName(ctx, username)
}
func (x timedUsers) List(ctx context.Context) (_ []store.User, err error) {
	ctx, end := x.t.begin(ctx, "users", "List")
	defer end(&err)
	return x.Users.List(ctx)
}
func (x timedUsers) Update(ctx context.Context, u *store.User) (err error) {
	ctx, end := x.t.begin(ctx, "users", "Update")
	defer end(&err)
	return x.Users.Update(ctx, u)
}
func (x timedUsers) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "users", "Delete")
	defer end(&err)
	return x.Users.Delete(ctx, id)
}

type timedCredentials struct {
	store.Credentials
	t *storeCalls
}

func (x timedCredentials) Create(ctx context.Context, c *store.Credential) (err error) {
	ctx, end := x.t.begin(ctx, "credentials", "Create")
	defer end(&err)
	return x.Credentials.Create(ctx, c)
}
func (x timedCredentials) Get(ctx context.Context, id string) (_ *store.Credential, err error) {
	ctx, end := x.t.begin(ctx, "credentials", "Get")
	defer end(&err)
	return x.Credentials.Get(ctx, id)
}
func (x timedCredentials) GetByHash(ctx context.Context, hash string) (_ *store.Credential, err error) {
	ctx, end := x.t.begin(ctx, "credentials", "GetByHash")
	defer end(&err)
	return x.Credentials.GetByHash(ctx, hash)
}
func (x timedCredentials) List(ctx context.Context, f store.CredentialFilter) (_ []store.Credential, err error) {
	ctx, end := x.t.begin(ctx, "credentials", "List")
	defer end(&err)
	return x.Credentials.List(ctx, f)
}
func (x timedCredentials) Touch(ctx context.Context, id string, at time.Time) (err error) {
	ctx, end := x.t.begin(ctx, "credentials", "Touch")
	defer end(&err)
	return x.Credentials.Touch(ctx, id, at)
}
func (x timedCredentials) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "credentials", "Delete")
	defer end(&err)
	return x.Credentials.Delete(ctx, id)
}
func (x timedCredentials) DeleteMatching(ctx context.Context, f store.CredentialFilter) (_ []string, err error) {
	ctx, end := x.t.begin(ctx, "credentials", "DeleteMatching")
	defer end(&err)
	return x.Credentials.DeleteMatching(ctx, f)
}
func (x timedCredentials) DeleteExpired(ctx context.Context, before time.Time) (_ int, err error) {
	ctx, end := x.t.begin(ctx, "credentials", "DeleteExpired")
	defer end(&err)
	return x.Credentials.DeleteExpired(ctx, before)
}

type timedAudit struct {
	store.Audit
	t *storeCalls
}

func (x timedAudit) Append(ctx context.Context, e *store.AuditEntry) (err error) {
	ctx, end := x.t.begin(ctx, "audit", "Append")
	defer end(&err)
	return x.Audit.Append(ctx, e)
}
func (x timedAudit) List(ctx context.Context, f store.AuditFilter) (_ []store.AuditEntry, _ int, err error) {
	ctx, end := x.t.begin(ctx, "audit", "List")
	defer end(&err)
	return x.Audit.List(ctx, f)
}
func (x timedAudit) DeleteBefore(ctx context.Context, before time.Time) (_ int, err error) {
	ctx, end := x.t.begin(ctx, "audit", "DeleteBefore")
	defer end(&err)
	return x.Audit.DeleteBefore(ctx, before)
}

type timedStats struct {
	store.Stats
	t *storeCalls
}

func (x timedStats) TaskStats(ctx context.Context, q store.StatsQuery) (_ *store.TaskStats, err error) {
	ctx, end := x.t.begin(ctx, "stats", "TaskStats")
	defer end(&err)
	return x.Stats.TaskStats(ctx, q)
}
func (x timedStats) Fold(ctx context.Context, before time.Time) (_ int, err error) {
	ctx, end := x.t.begin(ctx, "stats", "Fold")
	defer end(&err)
	return x.Stats.Fold(ctx, before)
}

type timedNodeMetrics struct {
	store.NodeMetrics
	t *storeCalls
}

func (x timedNodeMetrics) Add(ctx context.Context, nodeID string, res time.Duration, p store.NodePoint) (err error) {
	ctx, end := x.t.begin(ctx, "node_metrics", "Add")
	defer end(&err)
	return x.NodeMetrics.Add(ctx, nodeID, res, p)
}
func (x timedNodeMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) (_ []store.NodePoint, err error) {
	ctx, end := x.t.begin(ctx, "node_metrics", "Range")
	defer end(&err)
	return x.NodeMetrics.Range(ctx, nodeID, res, from, to)
}
func (x timedNodeMetrics) Expire(ctx context.Context, now time.Time) (err error) {
	ctx, end := x.t.begin(ctx, "node_metrics", "Expire")
	defer end(&err)
	return x.NodeMetrics.Expire(ctx, now)
}

type timedWebhooks struct {
	store.Webhooks
	t *storeCalls
}

func (x timedWebhooks) Create(ctx context.Context, w *store.Webhook) (err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Create")
	defer end(&err)
	return x.Webhooks.Create(ctx, w)
}
func (x timedWebhooks) Get(ctx context.Context, id string) (_ *store.Webhook, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Get")
	defer end(&err)
	return x.Webhooks.Get(ctx, id)
}
func (x timedWebhooks) List(ctx context.Context) (_ []store.Webhook, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "List")
	defer end(&err)
	return x.Webhooks.List(ctx)
}
func (x timedWebhooks) Update(ctx context.Context, w *store.Webhook) (err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Update")
	defer end(&err)
	return x.Webhooks.Update(ctx, w)
}
func (x timedWebhooks) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Delete")
	defer end(&err)
	return x.Webhooks.Delete(ctx, id)
}
func (x timedWebhooks) CreateDelivery(ctx context.Context, d *store.Delivery) (err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "CreateDelivery")
	defer end(&err)
	return x.Webhooks.CreateDelivery(ctx, d)
}
func (x timedWebhooks) GetDelivery(ctx context.Context, id string) (_ *store.Delivery, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "GetDelivery")
	defer end(&err)
	return x.Webhooks.GetDelivery(ctx, id)
}
func (x timedWebhooks) UpdateDelivery(ctx context.Context, d *store.Delivery) (err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "UpdateDelivery")
	defer end(&err)
	return x.Webhooks.UpdateDelivery(ctx, d)
}
func (x timedWebhooks) Deliveries(ctx context.Context, webhookID string, limit int) (_ []store.Delivery, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Deliveries")
	defer end(&err)
	return x.Webhooks.Deliveries(ctx, webhookID, limit)
}
func (x timedWebhooks) Due(ctx context.Context, at time.Time, limit int) (_ []store.Delivery, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "Due")
	defer end(&err)
	return x.Webhooks.Due(ctx, at, limit)
}
func (x timedWebhooks) DeleteDeliveriesBefore(ctx context.Context, before time.Time) (_ int, err error) {
	ctx, end := x.t.begin(ctx, "webhooks", "DeleteDeliveriesBefore")
	defer end(&err)
	return x.Webhooks.DeleteDeliveriesBefore(ctx, before)
}
