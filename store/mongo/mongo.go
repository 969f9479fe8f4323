// Package mongo is the production store: MongoDB through the official
// driver, collections nodes, spiders, tasks, task_logs, schedules, users,
// credentials, audit, node_metrics, webhooks, webhook_deliveries and
// results_<spider id> (items), and the GridFS bucket "files". It is tested
// against FerretDB v1 too, so it relies on nothing FerretDB lacks: no
// transactions, no TTL indexes (node_metrics uses one where the server has
// it, see nodemetrics.go), no change streams, no
// multi-accumulator $group, and no atomicity of filtered updates under
// concurrency (each write here is correct on its own; where two writers
// can race, the code says what happens).
//
// Documents use the aggregate's hex id as a string _id, so the ids a user
// sees are the ids in the database.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/crawlhub/crawlhub/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on MongoDB. Safe for concurrent use.
type Store struct {
	client                *mongo.Client
	db                    *mongo.Database
	nodes, spiders, tasks *mongo.Collection
	chunks, heads         *mongo.Collection // task logs
	schedules             *mongo.Collection
	itemsState            itemsState
	users, credentials    *mongo.Collection
	audit                 *mongo.Collection
	hooks, deliveries     *mongo.Collection // webhooks and their deliveries
	// The overview (stats.go).
	taskEnds, taskActive *mongo.Collection
	queue                *mongo.Collection // pending tasks (queue.go)
	redact               *redactor         // keeps the URI's credentials out of errors
	once                 sync.Once
	err                  error

	// metricsTTL: node_metrics has a TTL index (see nodemetrics.go).
	metricsTTL bool
	// scans: the server reads the whole collection for any filter but a
	// lookup by _id alone (FerretDB v1), so a compare-and-set filtered on
	// the status reads every task; see tasks.UpdateIf.
	scans bool
}

// Open connects to the MongoDB at uri, uses database, and creates the
// indexes the store relies on. It fails if the server does not answer
// before ctx is done. Credentials go in the URI (user, password, and
// authSource when the user is defined in another database than the
// store's); its errors, and Ping's and Close's, never quote them.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	redact := newRedactor(uri)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("store: open mongo %s: %w", redact.redacted, redact.err(err))
	}
	db := client.Database(database)
	s := &Store{
		redact:      redact,
		client:      client,
		db:          db,
		nodes:       db.Collection("nodes"),
		spiders:     db.Collection("spiders"),
		tasks:       db.Collection("tasks"),
		chunks:      db.Collection("task_logs"),
		heads:       db.Collection("task_log_heads"),
		schedules:   db.Collection("schedules"),
		users:       db.Collection("users"),
		credentials: db.Collection("credentials"),
		audit:       db.Collection("audit"),
		hooks:       db.Collection("webhooks"),
		deliveries:  db.Collection("webhook_deliveries"),
		taskEnds:    db.Collection("task_ends"),
		taskActive:  db.Collection("task_active"),
		queue:       db.Collection("task_queue"),
	}
	if err := s.ensureIndexes(ctx); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: open mongo database %s: %w", database, redact.err(err))
	}
	if s.scans, err = scansFilters(ctx, db); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: open mongo database %s: %w", database, redact.err(err))
	}
	if err := s.backfillQueue(ctx); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: open mongo database %s: queue the pending tasks: %w", database, redact.err(err))
	}
	if err := s.backfillStats(ctx); err != nil {
		client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("store: open mongo database %s: count the tasks that ended before: %w", database, redact.err(err))
	}
	return s, nil
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	for _, ix := range []struct {
		coll  *mongo.Collection
		model mongo.IndexModel
	}{
		// Unique names are enforced here and nowhere else.
		{s.spiders, mongo.IndexModel{Keys: bson.D{{Key: "name", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.schedules, mongo.IndexModel{Keys: bson.D{{Key: "name", Value: 1}}, Options: options.Index().SetUnique(true)}},
		// List: newest first; Pending: pending ones oldest first.
		{s.tasks, mongo.IndexModel{Keys: bson.D{{Key: "created", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.tasks, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "created", Value: 1}}}},
		// List of one schedule's tasks, newest first.
		{s.tasks, mongo.IndexModel{Keys: bson.D{{Key: "schedule_id", Value: 1}, {Key: "created", Value: -1}, {Key: "_id", Value: -1}}}},
		// DeleteLog's query (reads go by _id, see logs). Unique, as the
		// chunk _ids already are.
		{s.chunks, mongo.IndexModel{Keys: bson.D{{Key: "task_id", Value: 1}, {Key: "from", Value: 1}}, Options: options.Index().SetUnique(true)}},
		// Unique usernames and secret hashes; a credential is looked up by
		// its hash on every request.
		{s.users, mongo.IndexModel{Keys: bson.D{{Key: "username", Value: 1}}, Options: options.Index().SetUnique(true)}},
		{s.credentials, mongo.IndexModel{Keys: bson.D{{Key: "hash", Value: 1}}, Options: options.Index().SetUnique(true)}},
		// A user's or a kind's credentials newest first; the expiry sweep.
		{s.credentials, mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "created", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.credentials, mongo.IndexModel{Keys: bson.D{{Key: "kind", Value: 1}, {Key: "created", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.credentials, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}}}},
		// The newest audit entries, whole or of one user, action or target.
		{s.audit, mongo.IndexModel{Keys: bson.D{{Key: "time", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.audit, mongo.IndexModel{Keys: bson.D{{Key: "user_id", Value: 1}, {Key: "time", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.audit, mongo.IndexModel{Keys: bson.D{{Key: "action", Value: 1}, {Key: "time", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.audit, mongo.IndexModel{Keys: bson.D{{Key: "target", Value: 1}, {Key: "time", Value: -1}, {Key: "_id", Value: -1}}}},
		// A webhook's newest deliveries, the ones due for an attempt, and
		// the sweep of old ones.
		{s.deliveries, mongo.IndexModel{Keys: bson.D{{Key: "webhook_id", Value: 1}, {Key: "created", Value: -1}, {Key: "_id", Value: -1}}}},
		{s.deliveries, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}, {Key: "next", Value: 1}}}},
		{s.deliveries, mongo.IndexModel{Keys: bson.D{{Key: "updated", Value: 1}}}},
		// The overview: the active tasks of a status. (task_ends has no
		// index: each fold renames it away, and it stays small.)
		{s.taskActive, mongo.IndexModel{Keys: bson.D{{Key: "status", Value: 1}}}},
		// Pending: the queue oldest first.
		{s.queue, mongo.IndexModel{Keys: bson.D{{Key: "created", Value: 1}, {Key: "_id", Value: 1}}}},
	} {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return fmt.Errorf("create index on %s: %w", ix.coll.Name(), err)
		}
	}
	return s.nodeMetricsIndexes(ctx)
}

func (s *Store) Nodes() store.Nodes         { return (*nodes)(s) }
func (s *Store) Spiders() store.Spiders     { return (*spiders)(s) }
func (s *Store) Tasks() store.Tasks         { return (*tasks)(s) }
func (s *Store) Files() store.Files         { return (*files)(s) }
func (s *Store) Logs() store.Logs           { return (*logs)(s) }
func (s *Store) Schedules() store.Schedules { return (*schedules)(s) }

// Ping checks that the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("store: ping mongo: %w", s.redact.err(err))
	}
	return nil
}

// Close disconnects, waiting for operations in flight until ctx is done.
// Calls after the first return its result.
func (s *Store) Close(ctx context.Context) error {
	s.once.Do(func() {
		if err := s.client.Disconnect(ctx); err != nil {
			s.err = fmt.Errorf("store: close mongo: %w", s.redact.err(err))
		}
	})
	return s.err
}

// ---- documents: the stored shape of each aggregate

type nodeDoc struct {
	ID       string    `bson:"_id"`
	Name     string    `bson:"name"`
	Hostname string    `bson:"hostname"`
	IP       string    `bson:"ip"`
	MAC      string    `bson:"mac"`
	OS       string    `bson:"os"`
	Arch     string    `bson:"arch"`
	Version  string    `bson:"version"`
	IsMaster bool      `bson:"is_master"`
	Status   string    `bson:"status"`
	LastSeen time.Time `bson:"last_seen"`
	Created  time.Time `bson:"created"`
}

func (d *nodeDoc) node() store.Node {
	return store.Node{
		ID: d.ID, Name: d.Name, Hostname: d.Hostname, IP: d.IP, MAC: d.MAC, OS: d.OS, Arch: d.Arch,
		Version: d.Version, IsMaster: d.IsMaster, Status: d.Status,
		LastSeen: d.LastSeen.UTC(), Created: d.Created.UTC(),
	}
}

type spiderDoc struct {
	ID      string            `bson:"_id"`
	Name    string            `bson:"name"`
	Command string            `bson:"command"`
	Env     map[string]string `bson:"env,omitempty"`
	File    string            `bson:"file"`
	MD5     string            `bson:"md5"`
	Size    int64             `bson:"size"`
	// Absent: no deduplication (and so in documents of before it).
	DedupKeys []string  `bson:"dedup_keys,omitempty"`
	Dedup     string    `bson:"dedup,omitempty"`
	Created   time.Time `bson:"created"`
	Updated   time.Time `bson:"updated"`
}

func toSpiderDoc(sp *store.Spider) *spiderDoc {
	return &spiderDoc{
		ID: sp.ID, Name: sp.Name, Command: sp.Command, Env: sp.Env, File: sp.File, MD5: sp.MD5,
		Size: sp.Size, DedupKeys: sp.DedupKeys, Dedup: sp.Dedup, Created: ms(sp.Created), Updated: ms(sp.Updated),
	}
}

func (d *spiderDoc) spider() store.Spider {
	return store.Spider{
		ID: d.ID, Name: d.Name, Command: d.Command, Env: d.Env, File: d.File, MD5: d.MD5, Size: d.Size,
		DedupKeys: d.DedupKeys, Dedup: d.Dedup, Created: d.Created.UTC(), Updated: d.Updated.UTC(),
	}
}

type taskDoc struct {
	ID         string            `bson:"_id"`
	SpiderID   string            `bson:"spider_id"`
	SpiderName string            `bson:"spider_name"`
	NodeID     string            `bson:"node_id"`
	Mode       string            `bson:"mode"`
	Status     string            `bson:"status"`
	Command    string            `bson:"command"`
	Params     string            `bson:"params"`
	Env        map[string]string `bson:"env,omitempty"`
	Timeout    int64             `bson:"timeout"`
	ExitCode   *int              `bson:"exit_code,omitempty"`
	Reason     string            `bson:"reason"`
	LogLines   int64             `bson:"log_lines"`
	ItemCount  int64             `bson:"item_count"`
	ItemStats  itemStatsDoc      `bson:"item_stats"`
	// Absent in tasks from before log levels.
	LogLevels   logLevelsDoc   `bson:"log_levels"`
	ScrapyStats map[string]any `bson:"scrapy_stats,omitempty"`
	ScheduleID  string         `bson:"schedule_id,omitempty"` // absent: run by hand
	WaitFor     string         `bson:"wait_for,omitempty"`
	// Absent in tasks from before users.
	CreatedBy   string    `bson:"created_by,omitempty"`
	CancelledBy string    `bson:"cancelled_by,omitempty"`
	Created     time.Time `bson:"created"`
	// Not started or finished yet: absent rather than year 1.
	Started  time.Time `bson:"started,omitempty"`
	Finished time.Time `bson:"finished,omitempty"`
}

func toTaskDoc(t *store.Task) *taskDoc {
	return &taskDoc{
		ID: t.ID, SpiderID: t.SpiderID, SpiderName: t.SpiderName, NodeID: t.NodeID, Mode: t.Mode,
		Status: t.Status, Command: t.Command, Params: t.Params, Env: t.Env, Timeout: t.Timeout,
		ExitCode: t.ExitCode, Reason: t.Reason, LogLines: t.LogLines, ItemCount: t.ItemCount,
		ItemStats: itemStatsDoc(t.ItemStats), ScheduleID: t.ScheduleID, WaitFor: t.WaitFor,
		CreatedBy: t.CreatedBy, CancelledBy: t.CancelledBy, Created: ms(t.Created), Started: ms(t.Started), Finished: ms(t.Finished),
		LogLevels: logLevelsDoc(t.LogLevels), ScrapyStats: t.ScrapyStats,
	}
}

func (d *taskDoc) task() store.Task {
	return store.Task{
		ID: d.ID, SpiderID: d.SpiderID, SpiderName: d.SpiderName, NodeID: d.NodeID, Mode: d.Mode,
		Status: d.Status, Command: d.Command, Params: d.Params, Env: d.Env, Timeout: d.Timeout,
		ExitCode: d.ExitCode, Reason: d.Reason, LogLines: d.LogLines, ItemCount: d.ItemCount,
		ItemStats: store.ItemCounts(d.ItemStats), ScheduleID: d.ScheduleID, WaitFor: d.WaitFor,
		CreatedBy: d.CreatedBy, CancelledBy: d.CancelledBy, Created: d.Created.UTC(), Started: utcOrZero(d.Started), Finished: utcOrZero(d.Finished),
		LogLevels: store.LogLevels(d.LogLevels), ScrapyStats: d.ScrapyStats,
	}
}

// logLevelsDoc is store.LogLevels with the field names of the JSON API.
type logLevelsDoc struct {
	Error   int64 `bson:"error"`
	Warning int64 `bson:"warning"`
}

// itemStatsDoc is store.ItemCounts with the field names of the JSON API.
type itemStatsDoc struct {
	New         int64 `bson:"new"`
	Ignored     int64 `bson:"ignored"`
	Overwritten int64 `bson:"overwritten"`
}

// ---- helpers

// ms cuts t to the store's precision, which is BSON's, so that what a
// caller wrote compares equal to what it reads back.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func checkID(id string) error {
	if !store.ValidID(id) {
		return fmt.Errorf("invalid id %q: want 24 hex digits (store.NewID)", id)
	}
	return nil
}

// findOne decodes the one document matching filter into v, turning "no
// document" into ErrNotFound.
func findOne(ctx context.Context, c *mongo.Collection, filter, v any, opts ...options.Lister[options.FindOneOptions]) error {
	err := c.FindOne(ctx, filter, opts...).Decode(v)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return store.ErrNotFound
	}
	return err
}

// findAll decodes every document filter matches, converted by conv.
func findAll[D, T any](ctx context.Context, c *mongo.Collection, filter any, conv func(*D) T, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []T
	for cur.Next(ctx) {
		var d D
		if err := cur.Decode(&d); err != nil {
			return nil, err
		}
		out = append(out, conv(&d))
	}
	return out, cur.Err()
}

// matched turns an update or delete that matched nothing into ErrNotFound.
func matched(n int64, err error) error {
	if err == nil && n == 0 {
		return store.ErrNotFound
	}
	return err
}

func conflict(err error) error {
	if mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("%w (%v)", store.ErrConflict, err)
	}
	return err
}

// nameFree checks, before an update that renames document id of c to
// name (in field key: "name", "username"), that no other document has that
// name: FerretDB v1 reports a unique index violation by an update as an
// InternalError, not as a duplicate key, so look first. Two racing renames
// to one name still cannot both succeed (the index holds); on FerretDB the
// loser gets that InternalError instead of ErrConflict. As in SQL, an
// unknown id is ErrNotFound before any name clash.
func nameFree(ctx context.Context, c *mongo.Collection, key, id, name string) error {
	var other struct{}
	idOnly := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	err := findOne(ctx, c, bson.D{
		{Key: key, Value: name}, {Key: "_id", Value: bson.D{{Key: "$ne", Value: id}}},
	}, &other, idOnly)
	switch {
	case err == nil:
		if err := findOne(ctx, c, bson.D{{Key: "_id", Value: id}}, &other, idOnly); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s %q is taken", store.ErrConflict, key, name)
	case errors.Is(err, store.ErrNotFound):
		return nil
	default:
		return err
	}
}

func matchedCount(r *mongo.UpdateResult) int64 {
	if r == nil {
		return 0
	}
	return r.MatchedCount
}

func deletedCount(r *mongo.DeleteResult) int64 {
	if r == nil {
		return 0
	}
	return r.DeletedCount
}
