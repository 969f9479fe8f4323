package server

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// timeStore returns st with every call timed into
// crawlhub_store_call_duration_seconds{aggregate, method} and bounded by
// storeDeadline (store_deadline.go). The server makes every store call
// through it. A call that streams (ScanLog, EachItem) is timed to its
// end, its callback included; Files.Open only until the file is open.
//
// Each aggregate embeds the store's own, so a method added to an
// aggregate later still works, untimed and unbounded until it is added
// here (TestEveryStoreMethodIsTimed fails until then).
func timeStore(st store.Store, s *series, deadline time.Duration) store.Store {
	t := &storeCalls{series: s, deadline: deadline}
	t.answered.Store(time.Now().UnixNano()) // a store is presumed to answer until it does not
	if u, ok := st.(store.Unreachable); ok {
		t.unreachable = u.Unreachable
	}
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
	t *storeCalls

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

func (s *timedStore) Ping(ctx context.Context) (err error) {
	ctx, end := s.t.begin(ctx, "store", "Ping")
	defer end(&err)
	return s.Store.Ping(ctx)
}

type timedNodes struct {
	store.Nodes
	t *storeCalls
}

func (x timedNodes) Register(ctx context.Context, n *store.Node) (err error) {
	ctx, end := x.t.begin(ctx, "nodes", "Register")
	defer end(&err)
	return x.Nodes.Register(ctx, n)
}
func (x timedNodes) Get(ctx context.Context, id string) (_ *store.Node, err error) {
	ctx, end := x.t.begin(ctx, "nodes", "Get")
	defer end(&err)
	return x.Nodes.Get(ctx, id)
}
func (x timedNodes) List(ctx context.Context) (_ []store.Node, err error) {
	ctx, end := x.t.begin(ctx, "nodes", "List")
	defer end(&err)
	return x.Nodes.List(ctx)
}
func (x timedNodes) Touch(ctx context.Context, id string, at time.Time) (err error) {
	ctx, end := x.t.begin(ctx, "nodes", "Touch")
	defer end(&err)
	return x.Nodes.Touch(ctx, id, at)
}
func (x timedNodes) SetOffline(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "nodes", "SetOffline")
	defer end(&err)
	return x.Nodes.SetOffline(ctx, id)
}
func (x timedNodes) MarkStale(ctx context.Context, before time.Time) (_ []store.Node, err error) {
	ctx, end := x.t.begin(ctx, "nodes", "MarkStale")
	defer end(&err)
	return x.Nodes.MarkStale(ctx, before)
}

type timedSpiders struct {
	store.Spiders
	t *storeCalls
}

func (x timedSpiders) Create(ctx context.Context, s *store.Spider) (err error) {
	ctx, end := x.t.begin(ctx, "spiders", "Create")
	defer end(&err)
	return x.Spiders.Create(ctx, s)
}
func (x timedSpiders) Get(ctx context.Context, id string) (_ *store.Spider, err error) {
	ctx, end := x.t.begin(ctx, "spiders", "Get")
	defer end(&err)
	return x.Spiders.Get(ctx, id)
}
func (x timedSpiders) GetByName(ctx context.Context, name string) (_ *store.Spider, err error) {
	ctx, end := x.t.begin(ctx, "spiders", "GetByName")
	defer end(&err)
	return x.Spiders.GetByName(ctx, name)
}
func (x timedSpiders) List(ctx context.Context) (_ []store.Spider, err error) {
	ctx, end := x.t.begin(ctx, "spiders", "List")
	defer end(&err)
	return x.Spiders.List(ctx)
}
func (x timedSpiders) Update(ctx context.Context, s *store.Spider) (err error) {
	ctx, end := x.t.begin(ctx, "spiders", "Update")
	defer end(&err)
	return x.Spiders.Update(ctx, s)
}
func (x timedSpiders) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "spiders", "Delete")
	defer end(&err)
	return x.Spiders.Delete(ctx, id)
}

type timedTasks struct {
	store.Tasks
	t *storeCalls
}

func (x timedTasks) Create(ctx context.Context, t *store.Task) (err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Create")
	defer end(&err)
	return x.Tasks.Create(ctx, t)
}
func (x timedTasks) CreateMany(ctx context.Context, ts []store.Task) (created []bool, err error) {
	ctx, end := x.t.begin(ctx, "tasks", "CreateMany")
	defer end(&err)
	return x.Tasks.CreateMany(ctx, ts)
}
func (x timedTasks) Get(ctx context.Context, id string) (_ *store.Task, err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Get")
	defer end(&err)
	return x.Tasks.Get(ctx, id)
}
func (x timedTasks) List(ctx context.Context, f store.TaskFilter) (_ []store.Task, _ int, err error) {
	ctx, end := x.t.begin(ctx, "tasks", "List")
	defer end(&err)
	return x.Tasks.List(ctx, f)
}
func (x timedTasks) Pending(ctx context.Context, nodeID string, limit int) (_ []store.Task, err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Pending")
	defer end(&err)
	return x.Tasks.Pending(ctx, nodeID, limit)
}
func (x timedTasks) Active(ctx context.Context, scheduleIDs []string) (_ map[string]store.Task, err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Active")
	defer end(&err)
	return x.Tasks.Active(ctx, scheduleIDs)
}
func (x timedTasks) Update(ctx context.Context, t *store.Task) (err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Update")
	defer end(&err)
	return x.Tasks.Update(ctx, t)
}
func (x timedTasks) UpdateIf(ctx context.Context, t *store.Task, status string) (err error) {
	ctx, end := x.t.begin(ctx, "tasks", "UpdateIf")
	defer end(&err)
	return x.Tasks.UpdateIf(ctx, t, status)
}
func (x timedTasks) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "tasks", "Delete")
	defer end(&err)
	return x.Tasks.Delete(ctx, id)
}

type timedFiles struct {
	store.Files
	t *storeCalls
}

func (x timedFiles) Put(ctx context.Context, name string, r io.Reader) (md5hex string, size int64, err error) {
	ctx, end := x.t.begin(ctx, "files", "Put")
	defer end(&err)
	return x.Files.Put(ctx, name, r)
}
func (x timedFiles) Open(ctx context.Context, name string) (_ io.ReadCloser, err error) {
	ctx, end := x.t.begin(ctx, "files", "Open")
	defer end(&err)
	return x.Files.Open(ctx, name)
}
func (x timedFiles) Delete(ctx context.Context, name string) (err error) {
	ctx, end := x.t.begin(ctx, "files", "Delete")
	defer end(&err)
	return x.Files.Delete(ctx, name)
}

type timedLogs struct {
	store.Logs
	t *storeCalls
}

func (x timedLogs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) (err error) {
	ctx, end := x.t.begin(ctx, "logs", "AppendLog")
	defer end(&err)
	return x.Logs.AppendLog(ctx, taskID, from, lines)
}
func (x timedLogs) ReadLog(ctx context.Context, taskID string, from int64, limit int) (_ []string, err error) {
	ctx, end := x.t.begin(ctx, "logs", "ReadLog")
	defer end(&err)
	return x.Logs.ReadLog(ctx, taskID, from, limit)
}
func (x timedLogs) LogLen(ctx context.Context, taskID string) (_ int64, err error) {
	ctx, end := x.t.begin(ctx, "logs", "LogLen")
	defer end(&err)
	return x.Logs.LogLen(ctx, taskID)
}
func (x timedLogs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) (err error) {
	ctx, end := x.t.begin(ctx, "logs", "ScanLog")
	defer end(&err)
	return x.Logs.ScanLog(ctx, taskID, from, fn)
}
func (x timedLogs) DeleteLog(ctx context.Context, taskID string) (err error) {
	ctx, end := x.t.begin(ctx, "logs", "DeleteLog")
	defer end(&err)
	return x.Logs.DeleteLog(ctx, taskID)
}

type timedSchedules struct {
	store.Schedules
	t *storeCalls
}

func (x timedSchedules) Create(ctx context.Context, s *store.Schedule) (err error) {
	ctx, end := x.t.begin(ctx, "schedules", "Create")
	defer end(&err)
	return x.Schedules.Create(ctx, s)
}
func (x timedSchedules) Get(ctx context.Context, id string) (_ *store.Schedule, err error) {
	ctx, end := x.t.begin(ctx, "schedules", "Get")
	defer end(&err)
	return x.Schedules.Get(ctx, id)
}
func (x timedSchedules) List(ctx context.Context) (_ []store.Schedule, err error) {
	ctx, end := x.t.begin(ctx, "schedules", "List")
	defer end(&err)
	return x.Schedules.List(ctx)
}
func (x timedSchedules) Update(ctx context.Context, s *store.Schedule) (err error) {
	ctx, end := x.t.begin(ctx, "schedules", "Update")
	defer end(&err)
	return x.Schedules.Update(ctx, s)
}
func (x timedSchedules) Delete(ctx context.Context, id string) (err error) {
	ctx, end := x.t.begin(ctx, "schedules", "Delete")
	defer end(&err)
	return x.Schedules.Delete(ctx, id)
}
func (x timedSchedules) Record(ctx context.Context, outcomes ...store.Outcome) (err error) {
	ctx, end := x.t.begin(ctx, "schedules", "Record")
	defer end(&err)
	return x.Schedules.Record(ctx, outcomes...)
}

type timedItems struct {
	store.Items
	t *storeCalls
}

func (x timedItems) AppendItems(ctx context.Context, spiderID, taskID string, from int64, items []json.RawMessage, dedup store.Dedup) (_ store.ItemCounts, err error) {
	ctx, end := x.t.begin(ctx, "items", "AppendItems")
	defer end(&err)
	return x.Items.AppendItems(ctx, spiderID, taskID, from, items, dedup)
}
func (x timedItems) ReadItems(ctx context.Context, spiderID, taskID string, from int64, limit int) (_ []store.Item, err error) {
	ctx, end := x.t.begin(ctx, "items", "ReadItems")
	defer end(&err)
	return x.Items.ReadItems(ctx, spiderID, taskID, from, limit)
}
func (x timedItems) ItemCount(ctx context.Context, spiderID, taskID string) (_ int64, _ store.ItemCounts, err error) {
	ctx, end := x.t.begin(ctx, "items", "ItemCount")
	defer end(&err)
	return x.Items.ItemCount(ctx, spiderID, taskID)
}
func (x timedItems) SpiderItems(ctx context.Context, spiderID string, limit, offset int) (_ []store.Item, _ int64, err error) {
	ctx, end := x.t.begin(ctx, "items", "SpiderItems")
	defer end(&err)
	return x.Items.SpiderItems(ctx, spiderID, limit, offset)
}
func (x timedItems) EachItem(ctx context.Context, spiderID, taskID string, fn func(store.Item) error) (err error) {
	ctx, end := x.t.begin(ctx, "items", "EachItem")
	defer end(&err)
	return x.Items.EachItem(ctx, spiderID, taskID, fn)
}
func (x timedItems) DeleteItems(ctx context.Context, spiderID, taskID string) (err error) {
	ctx, end := x.t.begin(ctx, "items", "DeleteItems")
	defer end(&err)
	return x.Items.DeleteItems(ctx, spiderID, taskID)
}
