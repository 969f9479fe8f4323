package server

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// timeStore returns st with every call timed into
// crawlhub_store_call_duration_seconds{aggregate, method}. The server
// makes every store call through it. A call that streams (ScanLog,
// EachItem) is timed to its end, its callback included; Files.Open only
// until the file is open.
//
// Each aggregate embeds the store's own, so a method added to an
// aggregate later still works, untimed until it is added here
// (TestEveryStoreMethodIsTimed fails until then).
func timeStore(st store.Store, t *series) store.Store {
	// The aggregates are wrapped once, here: returning a pointer from an
	// accessor costs no allocation per call.
	return &timedStore{Store: st, t: t,
		nodes: &timedNodes{st.Nodes(), t}, spiders: &timedSpiders{st.Spiders(), t}, tasks: &timedTasks{st.Tasks(), t},
		files: &timedFiles{st.Files(), t}, logs: &timedLogs{st.Logs(), t}, schedules: &timedSchedules{st.Schedules(), t},
		items: &timedItems{st.Items(), t}, users: &timedUsers{st.Users(), t}, credentials: &timedCredentials{st.Credentials(), t},
		audit: &timedAudit{st.Audit(), t}, stats: &timedStats{st.Stats(), t}, nodeMetrics: &timedNodeMetrics{st.NodeMetrics(), t},
		webhooks: &timedWebhooks{st.Webhooks(), t}}
}

// since times a store call that started at start.
func (s *series) since(aggregate, method string, start time.Time) {
	s.get(aggregate, method).Observe(time.Since(start).Seconds())
}

var _ store.Store = (*timedStore)(nil)

type timedStore struct {
	store.Store
	t *series

	nodes       *timedNodes
	spiders     *timedSpiders
	tasks       *timedTasks
	files       *timedFiles
	logs        *timedLogs
	schedules   *timedSchedules
	items       *timedItems
	users       *timedUsers
	credentials *timedCredentials
	audit       *timedAudit
	stats       *timedStats
	nodeMetrics *timedNodeMetrics
	webhooks    *timedWebhooks
}

func (s *timedStore) Nodes() store.Nodes             { return s.nodes }
func (s *timedStore) Spiders() store.Spiders         { return s.spiders }
func (s *timedStore) Tasks() store.Tasks             { return s.tasks }
func (s *timedStore) Files() store.Files             { return s.files }
func (s *timedStore) Logs() store.Logs               { return s.logs }
func (s *timedStore) Schedules() store.Schedules     { return s.schedules }
func (s *timedStore) Items() store.Items             { return s.items }
func (s *timedStore) Users() store.Users             { return s.users }
func (s *timedStore) Credentials() store.Credentials { return s.credentials }
func (s *timedStore) Audit() store.Audit             { return s.audit }
func (s *timedStore) Stats() store.Stats             { return s.stats }
func (s *timedStore) NodeMetrics() store.NodeMetrics { return s.nodeMetrics }
func (s *timedStore) Webhooks() store.Webhooks       { return s.webhooks }

func (s *timedStore) Ping(ctx context.Context) error {
	defer s.t.since("store", "Ping", time.Now())
	return s.Store.Ping(ctx)
}

type timedNodes struct {
	store.Nodes
	t *series
}

func (x timedNodes) Register(ctx context.Context, n *store.Node) error {
	defer x.t.since("nodes", "Register", time.Now())
	return x.Nodes.Register(ctx, n)
}
func (x timedNodes) Get(ctx context.Context, id string) (*store.Node, error) {
	defer x.t.since("nodes", "Get", time.Now())
	return x.Nodes.Get(ctx, id)
}
func (x timedNodes) List(ctx context.Context) ([]store.Node, error) {
	defer x.t.since("nodes", "List", time.Now())
	return x.Nodes.List(ctx)
}
func (x timedNodes) Touch(ctx context.Context, id string, at time.Time) error {
	defer x.t.since("nodes", "Touch", time.Now())
	return x.Nodes.Touch(ctx, id, at)
}
func (x timedNodes) SetOffline(ctx context.Context, id string) error {
	defer x.t.since("nodes", "SetOffline", time.Now())
	return x.Nodes.SetOffline(ctx, id)
}
func (x timedNodes) MarkStale(ctx context.Context, before time.Time) ([]store.Node, error) {
	defer x.t.since("nodes", "MarkStale", time.Now())
	return x.Nodes.MarkStale(ctx, before)
}

type timedSpiders struct {
	store.Spiders
	t *series
}

func (x timedSpiders) Create(ctx context.Context, s *store.Spider) error {
	defer x.t.since("spiders", "Create", time.Now())
	return x.Spiders.Create(ctx, s)
}
func (x timedSpiders) Get(ctx context.Context, id string) (*store.Spider, error) {
	defer x.t.since("spiders", "Get", time.Now())
	return x.Spiders.Get(ctx, id)
}
func (x timedSpiders) GetByName(ctx context.Context, name string) (*store.Spider, error) {
	defer x.t.since("spiders", "GetByName", time.Now())
	return x.Spiders.GetByName(ctx, name)
}
func (x timedSpiders) List(ctx context.Context) ([]store.Spider, error) {
	defer x.t.since("spiders", "List", time.Now())
	return x.Spiders.List(ctx)
}
func (x timedSpiders) Update(ctx context.Context, s *store.Spider) error {
	defer x.t.since("spiders", "Update", time.Now())
	return x.Spiders.Update(ctx, s)
}
func (x timedSpiders) Delete(ctx context.Context, id string) error {
	defer x.t.since("spiders", "Delete", time.Now())
	return x.Spiders.Delete(ctx, id)
}

type timedTasks struct {
	store.Tasks
	t *series
}

func (x timedTasks) Create(ctx context.Context, t *store.Task) error {
	defer x.t.since("tasks", "Create", time.Now())
	return x.Tasks.Create(ctx, t)
}
func (x timedTasks) CreateMany(ctx context.Context, ts []store.Task) (created []bool, err error) {
	defer x.t.since("tasks", "CreateMany", time.Now())
	return x.Tasks.CreateMany(ctx, ts)
}
func (x timedTasks) Get(ctx context.Context, id string) (*store.Task, error) {
	defer x.t.since("tasks", "Get", time.Now())
	return x.Tasks.Get(ctx, id)
}
func (x timedTasks) List(ctx context.Context, f store.TaskFilter) ([]store.Task, int, error) {
	defer x.t.since("tasks", "List", time.Now())
	return x.Tasks.List(ctx, f)
}
func (x timedTasks) Pending(ctx context.Context, nodeID string, limit int) ([]store.Task, error) {
	defer x.t.since("tasks", "Pending", time.Now())
	return x.Tasks.Pending(ctx, nodeID, limit)
}
func (x timedTasks) Active(ctx context.Context, scheduleIDs []string) (map[string]store.Task, error) {
	defer x.t.since("tasks", "Active", time.Now())
	return x.Tasks.Active(ctx, scheduleIDs)
}
func (x timedTasks) Update(ctx context.Context, t *store.Task) error {
	defer x.t.since("tasks", "Update", time.Now())
	return x.Tasks.Update(ctx, t)
}
func (x timedTasks) UpdateIf(ctx context.Context, t *store.Task, status string) error {
	defer x.t.since("tasks", "UpdateIf", time.Now())
	return x.Tasks.UpdateIf(ctx, t, status)
}
func (x timedTasks) Delete(ctx context.Context, id string) error {
	defer x.t.since("tasks", "Delete", time.Now())
	return x.Tasks.Delete(ctx, id)
}

type timedFiles struct {
	store.Files
	t *series
}

func (x timedFiles) Put(ctx context.Context, name string, r io.Reader) (md5hex string, size int64, err error) {
	defer x.t.since("files", "Put", time.Now())
	return x.Files.Put(ctx, name, r)
}
func (x timedFiles) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	defer x.t.since("files", "Open", time.Now())
	return x.Files.Open(ctx, name)
}
func (x timedFiles) Delete(ctx context.Context, name string) error {
	defer x.t.since("files", "Delete", time.Now())
	return x.Files.Delete(ctx, name)
}

type timedLogs struct {
	store.Logs
	t *series
}

func (x timedLogs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	defer x.t.since("logs", "AppendLog", time.Now())
	return x.Logs.AppendLog(ctx, taskID, from, lines)
}
func (x timedLogs) ReadLog(ctx context.Context, taskID string, from int64, limit int) ([]string, error) {
	defer x.t.since("logs", "ReadLog", time.Now())
	return x.Logs.ReadLog(ctx, taskID, from, limit)
}
func (x timedLogs) LogLen(ctx context.Context, taskID string) (int64, error) {
	defer x.t.since("logs", "LogLen", time.Now())
	return x.Logs.LogLen(ctx, taskID)
}
func (x timedLogs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	defer x.t.since("logs", "ScanLog", time.Now())
	return x.Logs.ScanLog(ctx, taskID, from, fn)
}
func (x timedLogs) DeleteLog(ctx context.Context, taskID string) error {
	defer x.t.since("logs", "DeleteLog", time.Now())
	return x.Logs.DeleteLog(ctx, taskID)
}

type timedSchedules struct {
	store.Schedules
	t *series
}

func (x timedSchedules) Create(ctx context.Context, s *store.Schedule) error {
	defer x.t.since("schedules", "Create", time.Now())
	return x.Schedules.Create(ctx, s)
}
func (x timedSchedules) Get(ctx context.Context, id string) (*store.Schedule, error) {
	defer x.t.since("schedules", "Get", time.Now())
	return x.Schedules.Get(ctx, id)
}
func (x timedSchedules) List(ctx context.Context) ([]store.Schedule, error) {
	defer x.t.since("schedules", "List", time.Now())
	return x.Schedules.List(ctx)
}
func (x timedSchedules) Update(ctx context.Context, s *store.Schedule) error {
	defer x.t.since("schedules", "Update", time.Now())
	return x.Schedules.Update(ctx, s)
}
func (x timedSchedules) Delete(ctx context.Context, id string) error {
	defer x.t.since("schedules", "Delete", time.Now())
	return x.Schedules.Delete(ctx, id)
}
func (x timedSchedules) Record(ctx context.Context, outcomes ...store.Outcome) error {
	defer x.t.since("schedules", "Record", time.Now())
	return x.Schedules.Record(ctx, outcomes...)
}

type timedItems struct {
	store.Items
	t *series
}

func (x timedItems) AppendItems(ctx context.Context, spiderID, taskID string, from int64, items []json.RawMessage, dedup store.Dedup) (store.ItemCounts, error) {
	defer x.t.since("items", "AppendItems", time.Now())
	return x.Items.AppendItems(ctx, spiderID, taskID, from, items, dedup)
}
func (x timedItems) ReadItems(ctx context.Context, spiderID, taskID string, from int64, limit int) ([]store.Item, error) {
	defer x.t.since("items", "ReadItems", time.Now())
	return x.Items.ReadItems(ctx, spiderID, taskID, from, limit)
}
func (x timedItems) ItemCount(ctx context.Context, spiderID, taskID string) (int64, store.ItemCounts, error) {
	defer x.t.since("items", "ItemCount", time.Now())
	return x.Items.ItemCount(ctx, spiderID, taskID)
}
func (x timedItems) SpiderItems(ctx context.Context, spiderID string, limit, offset int) ([]store.Item, int64, error) {
	defer x.t.since("items", "SpiderItems", time.Now())
	return x.Items.SpiderItems(ctx, spiderID, limit, offset)
}
func (x timedItems) EachItem(ctx context.Context, spiderID, taskID string, fn func(store.Item) error) error {
	defer x.t.since("items", "EachItem", time.Now())
	return x.Items.EachItem(ctx, spiderID, taskID, fn)
}
func (x timedItems) DeleteItems(ctx context.Context, spiderID, taskID string) error {
	defer x.t.since("items", "DeleteItems", time.Now())
	return x.Items.DeleteItems(ctx, spiderID, taskID)
}

type timedUsers struct {
	store.Users
	t *series
}

func (x timedUsers) Create(ctx context.Context, u *store.User) error {
	defer x.t.since("users", "Create", time.Now())
	return x.Users.Create(ctx, u)
}
func (x timedUsers) Get(ctx context.Context, id string) (*store.User, error) {
	defer x.t.since("users", "Get", time.Now())
	return x.Users.Get(ctx, id)
}
func (x timedUsers) GetByName(ctx context.Context, username string) (*store.User, error) {
	defer x.t.since("users", "GetByName", time.Now())
	return x.Users.GetByName(ctx, username)
}
func (x timedUsers) List(ctx context.Context) ([]store.User, error) {
	defer x.t.since("users", "List", time.Now())
	return x.Users.List(ctx)
}
func (x timedUsers) Update(ctx context.Context, u *store.User) error {
	defer x.t.since("users", "Update", time.Now())
	return x.Users.Update(ctx, u)
}
func (x timedUsers) Delete(ctx context.Context, id string) error {
	defer x.t.since("users", "Delete", time.Now())
	return x.Users.Delete(ctx, id)
}

type timedCredentials struct {
	store.Credentials
	t *series
}

func (x timedCredentials) Create(ctx context.Context, c *store.Credential) error {
	defer x.t.since("credentials", "Create", time.Now())
	return x.Credentials.Create(ctx, c)
}
func (x timedCredentials) Get(ctx context.Context, id string) (*store.Credential, error) {
	defer x.t.since("credentials", "Get", time.Now())
	return x.Credentials.Get(ctx, id)
}
func (x timedCredentials) GetByHash(ctx context.Context, hash string) (*store.Credential, error) {
	defer x.t.since("credentials", "GetByHash", time.Now())
	return x.Credentials.GetByHash(ctx, hash)
}
func (x timedCredentials) List(ctx context.Context, f store.CredentialFilter) ([]store.Credential, error) {
	defer x.t.since("credentials", "List", time.Now())
	return x.Credentials.List(ctx, f)
}
func (x timedCredentials) Touch(ctx context.Context, id string, at time.Time) error {
	defer x.t.since("credentials", "Touch", time.Now())
	return x.Credentials.Touch(ctx, id, at)
}
func (x timedCredentials) Delete(ctx context.Context, id string) error {
	defer x.t.since("credentials", "Delete", time.Now())
	return x.Credentials.Delete(ctx, id)
}
func (x timedCredentials) DeleteMatching(ctx context.Context, f store.CredentialFilter) ([]string, error) {
	defer x.t.since("credentials", "DeleteMatching", time.Now())
	return x.Credentials.DeleteMatching(ctx, f)
}
func (x timedCredentials) DeleteExpired(ctx context.Context, before time.Time) (int, error) {
	defer x.t.since("credentials", "DeleteExpired", time.Now())
	return x.Credentials.DeleteExpired(ctx, before)
}

type timedAudit struct {
	store.Audit
	t *series
}

func (x timedAudit) Append(ctx context.Context, e *store.AuditEntry) error {
	defer x.t.since("audit", "Append", time.Now())
	return x.Audit.Append(ctx, e)
}
func (x timedAudit) List(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, int, error) {
	defer x.t.since("audit", "List", time.Now())
	return x.Audit.List(ctx, f)
}
func (x timedAudit) DeleteBefore(ctx context.Context, before time.Time) (int, error) {
	defer x.t.since("audit", "DeleteBefore", time.Now())
	return x.Audit.DeleteBefore(ctx, before)
}

type timedStats struct {
	store.Stats
	t *series
}

func (x timedStats) TaskStats(ctx context.Context, q store.StatsQuery) (*store.TaskStats, error) {
	defer x.t.since("stats", "TaskStats", time.Now())
	return x.Stats.TaskStats(ctx, q)
}
func (x timedStats) Fold(ctx context.Context, before time.Time) (int, error) {
	defer x.t.since("stats", "Fold", time.Now())
	return x.Stats.Fold(ctx, before)
}

type timedNodeMetrics struct {
	store.NodeMetrics
	t *series
}

func (x timedNodeMetrics) Add(ctx context.Context, nodeID string, res time.Duration, p store.NodePoint) error {
	defer x.t.since("node_metrics", "Add", time.Now())
	return x.NodeMetrics.Add(ctx, nodeID, res, p)
}
func (x timedNodeMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]store.NodePoint, error) {
	defer x.t.since("node_metrics", "Range", time.Now())
	return x.NodeMetrics.Range(ctx, nodeID, res, from, to)
}
func (x timedNodeMetrics) Expire(ctx context.Context, now time.Time) error {
	defer x.t.since("node_metrics", "Expire", time.Now())
	return x.NodeMetrics.Expire(ctx, now)
}

type timedWebhooks struct {
	store.Webhooks
	t *series
}

func (x timedWebhooks) Create(ctx context.Context, w *store.Webhook) error {
	defer x.t.since("webhooks", "Create", time.Now())
	return x.Webhooks.Create(ctx, w)
}
func (x timedWebhooks) Get(ctx context.Context, id string) (*store.Webhook, error) {
	defer x.t.since("webhooks", "Get", time.Now())
	return x.Webhooks.Get(ctx, id)
}
func (x timedWebhooks) List(ctx context.Context) ([]store.Webhook, error) {
	defer x.t.since("webhooks", "List", time.Now())
	return x.Webhooks.List(ctx)
}
func (x timedWebhooks) Update(ctx context.Context, w *store.Webhook) error {
	defer x.t.since("webhooks", "Update", time.Now())
	return x.Webhooks.Update(ctx, w)
}
func (x timedWebhooks) Delete(ctx context.Context, id string) error {
	defer x.t.since("webhooks", "Delete", time.Now())
	return x.Webhooks.Delete(ctx, id)
}
func (x timedWebhooks) CreateDelivery(ctx context.Context, d *store.Delivery) error {
	defer x.t.since("webhooks", "CreateDelivery", time.Now())
	return x.Webhooks.CreateDelivery(ctx, d)
}
func (x timedWebhooks) GetDelivery(ctx context.Context, id string) (*store.Delivery, error) {
	defer x.t.since("webhooks", "GetDelivery", time.Now())
	return x.Webhooks.GetDelivery(ctx, id)
}
func (x timedWebhooks) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	defer x.t.since("webhooks", "UpdateDelivery", time.Now())
	return x.Webhooks.UpdateDelivery(ctx, d)
}
func (x timedWebhooks) Deliveries(ctx context.Context, webhookID string, limit int) ([]store.Delivery, error) {
	defer x.t.since("webhooks", "Deliveries", time.Now())
	return x.Webhooks.Deliveries(ctx, webhookID, limit)
}
func (x timedWebhooks) Due(ctx context.Context, at time.Time, limit int) ([]store.Delivery, error) {
	defer x.t.since("webhooks", "Due", time.Now())
	return x.Webhooks.Due(ctx, at, limit)
}
func (x timedWebhooks) DeleteDeliveriesBefore(ctx context.Context, before time.Time) (int, error) {
	defer x.t.since("webhooks", "DeleteDeliveriesBefore", time.Now())
	return x.Webhooks.DeleteDeliveriesBefore(ctx, before)
}
