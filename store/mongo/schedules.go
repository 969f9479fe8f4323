package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/crawlhub/crawlhub/store"
)

// schedules keeps one document per schedule. Update and Record each $set
// only the fields they own, so on MongoDB an edit and
// a fire recorded at the same time both land. FerretDB v1 applies an
// update by reading the document and writing it back whole, not
// atomically, so there one of two racing writes to the same schedule can
// be lost: at worst a LastFire or an edit is missing until the next one.
type schedules Store

type scheduleDoc struct {
	ID         string            `bson:"_id"`
	Name       string            `bson:"name"`
	SpiderID   string            `bson:"spider_id"`
	SpiderName string            `bson:"spider_name"`
	Cron       string            `bson:"cron"`
	Timezone   string            `bson:"timezone"`
	Mode       string            `bson:"mode"`
	NodeIDs    []string          `bson:"node_ids,omitempty"`
	Params     string            `bson:"params"`
	Env        map[string]string `bson:"env,omitempty"`
	Timeout    int64             `bson:"timeout"`
	Overlap    string            `bson:"overlap"`
	Misfire    string            `bson:"misfire"`
	Enabled    bool              `bson:"enabled"`
	Created    time.Time         `bson:"created"`
	Updated    time.Time         `bson:"updated"`
	// Never fired or skipped yet: absent rather than year 1.
	LastFire       time.Time `bson:"last_fire,omitempty"`
	LastTaskID     string    `bson:"last_task_id,omitempty"`
	LastSkip       time.Time `bson:"last_skip,omitempty"`
	LastSkipReason string    `bson:"last_skip_reason,omitempty"`
}

func (d *scheduleDoc) schedule() store.Schedule {
	return store.Schedule{
		ID: d.ID, Name: d.Name, SpiderID: d.SpiderID, SpiderName: d.SpiderName, Cron: d.Cron,
		Timezone: d.Timezone, Mode: d.Mode, NodeIDs: nilIfEmpty(d.NodeIDs), Params: d.Params, Env: d.Env,
		Timeout: d.Timeout, Overlap: d.Overlap, Misfire: d.Misfire, Enabled: d.Enabled,
		Created: d.Created.UTC(), Updated: d.Updated.UTC(),
		LastFire: utcOrZero(d.LastFire), LastTaskID: d.LastTaskID,
		LastSkip: utcOrZero(d.LastSkip), LastSkipReason: d.LastSkipReason,
	}
}

// userFields are the fields of sc that Update replaces: everything but the
// id, Created and the Last* fields. Empty NodeIDs and Env are unset, to be
// absent as Create leaves them (omitempty).
func userFields(sc *store.Schedule) (set, unset bson.D) {
	set = bson.D{
		{Key: "name", Value: sc.Name}, {Key: "spider_id", Value: sc.SpiderID},
		{Key: "spider_name", Value: sc.SpiderName}, {Key: "cron", Value: sc.Cron},
		{Key: "timezone", Value: sc.Timezone}, {Key: "mode", Value: sc.Mode},
		{Key: "params", Value: sc.Params}, {Key: "timeout", Value: sc.Timeout},
		{Key: "overlap", Value: sc.Overlap}, {Key: "misfire", Value: sc.Misfire},
		{Key: "enabled", Value: sc.Enabled}, {Key: "updated", Value: ms(sc.Updated)},
	}
	if len(sc.NodeIDs) > 0 {
		set = append(set, bson.E{Key: "node_ids", Value: sc.NodeIDs})
	} else {
		unset = append(unset, bson.E{Key: "node_ids", Value: ""})
	}
	if len(sc.Env) > 0 {
		set = append(set, bson.E{Key: "env", Value: sc.Env})
	} else {
		unset = append(unset, bson.E{Key: "env", Value: ""})
	}
	return set, unset
}

// Create stores the user's fields only: the Last* fields start empty
// whatever sc holds, as only Record writes them.
func (s *schedules) Create(ctx context.Context, sc *store.Schedule) error {
	if err := checkID(sc.ID); err != nil {
		return fmt.Errorf("store: create schedule %q: %w", sc.Name, err)
	}
	d := &scheduleDoc{
		ID: sc.ID, Name: sc.Name, SpiderID: sc.SpiderID, SpiderName: sc.SpiderName, Cron: sc.Cron,
		Timezone: sc.Timezone, Mode: sc.Mode, NodeIDs: sc.NodeIDs, Params: sc.Params, Env: sc.Env,
		Timeout: sc.Timeout, Overlap: sc.Overlap, Misfire: sc.Misfire, Enabled: sc.Enabled,
		Created: ms(sc.Created), Updated: ms(sc.Updated),
	}
	if _, err := s.schedules.InsertOne(ctx, d); err != nil {
		return fmt.Errorf("store: create schedule %q: %w", sc.Name, conflict(err))
	}
	return nil
}

func (s *schedules) Get(ctx context.Context, id string) (*store.Schedule, error) {
	var d scheduleDoc
	if err := findOne(ctx, s.schedules, bson.D{{Key: "_id", Value: id}}, &d); err != nil {
		return nil, fmt.Errorf("store: get schedule %s: %w", id, err)
	}
	sc := d.schedule()
	return &sc, nil
}

func (s *schedules) List(ctx context.Context) ([]store.Schedule, error) {
	list, err := findAll(ctx, s.schedules, bson.D{}, (*scheduleDoc).schedule,
		options.Find().SetSort(bson.D{{Key: "name", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	return list, nil
}

func (s *schedules) Update(ctx context.Context, sc *store.Schedule) error {
	if err := s.update(ctx, sc); err != nil {
		return fmt.Errorf("store: update schedule %s: %w", sc.ID, err)
	}
	return nil
}

func (s *schedules) update(ctx context.Context, sc *store.Schedule) error {
	if err := nameFree(ctx, s.schedules, "name", sc.ID, sc.Name); err != nil {
		return err
	}
	set, unset := userFields(sc)
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	res, err := s.schedules.UpdateByID(ctx, sc.ID, update)
	return matched(matchedCount(res), conflict(err))
}

func (s *schedules) Delete(ctx context.Context, id string) error {
	res, err := s.schedules.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err = matched(deletedCount(res), err); err != nil {
		return fmt.Errorf("store: delete schedule %s: %w", id, err)
	}
	return nil
}

// Record sends the outcomes as one unordered bulk write of updates.
func (s *schedules) Record(ctx context.Context, outcomes ...store.Outcome) error {
	if len(outcomes) == 0 {
		return ctx.Err()
	}
	models := make([]mongo.WriteModel, len(outcomes))
	for i, o := range outcomes {
		set := bson.D{{Key: "last_fire", Value: ms(o.At)}, {Key: "last_task_id", Value: o.TaskID}}
		if o.Skipped {
			set = bson.D{{Key: "last_skip", Value: ms(o.At)}, {Key: "last_skip_reason", Value: o.Reason}}
		}
		models[i] = mongo.NewUpdateOneModel().SetFilter(bson.D{{Key: "_id", Value: o.ScheduleID}}).
			SetUpdate(bson.D{{Key: "$set", Value: set}})
	}
	if _, err := s.schedules.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("store: record %d schedule outcomes: %w", len(outcomes), err)
	}
	return nil
}

func nilIfEmpty(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}
