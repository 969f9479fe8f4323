package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

type schedules Store

const scheduleCols = `id, name, spider_id, spider_name, cron, timezone, mode, node_ids, params, env,
	timeout, overlap, misfire, enabled, created, updated, last_fire, last_task_id, last_skip, last_skip_reason`

func scanSchedule(row interface{ Scan(...any) error }) (store.Schedule, error) {
	var sc store.Schedule
	var nodeIDs, env string
	var created, updated, lastFire, lastSkip int64
	if err := row.Scan(&sc.ID, &sc.Name, &sc.SpiderID, &sc.SpiderName, &sc.Cron, &sc.Timezone, &sc.Mode,
		&nodeIDs, &sc.Params, &env, &sc.Timeout, &sc.Overlap, &sc.Misfire, &sc.Enabled, &created, &updated,
		&lastFire, &sc.LastTaskID, &lastSkip, &sc.LastSkipReason); err != nil {
		return sc, err
	}
	sc.Created, sc.Updated = fromMS(created), fromMS(updated)
	sc.LastFire, sc.LastSkip = fromMS(lastFire), fromMS(lastSkip)
	var err error
	if sc.NodeIDs, err = listFromJSON(nodeIDs); err != nil {
		return sc, err
	}
	sc.Env, err = fromJSON(env)
	return sc, err
}

// Create stores the user's fields only: the Last* columns start empty
// whatever sc holds, as only Record writes them.
func (s *schedules) Create(ctx context.Context, sc *store.Schedule) error {
	if err := checkID(sc.ID); err != nil {
		return fmt.Errorf("store: create schedule %q: %w", sc.Name, err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO schedules (`+scheduleCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		sc.ID, sc.Name, sc.SpiderID, sc.SpiderName, sc.Cron, sc.Timezone, sc.Mode, listToJSON(sc.NodeIDs),
		sc.Params, toJSON(sc.Env), sc.Timeout, sc.Overlap, sc.Misfire, sc.Enabled, ms(sc.Created),
		ms(sc.Updated), ms(time.Time{}), "", ms(time.Time{}), "")
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create schedule %q: %w", sc.Name, err)
	}
	return nil
}

func (s *schedules) Get(ctx context.Context, id string) (*store.Schedule, error) {
	sc, err := scanSchedule(s.r.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get schedule %s: %w", id, err)
	}
	return &sc, nil
}

func (s *schedules) List(ctx context.Context) ([]store.Schedule, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+scheduleCols+` FROM schedules ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	list, err := collect(rows, scanSchedule)
	if err != nil {
		return nil, fmt.Errorf("store: list schedules: %w", err)
	}
	return list, nil
}

// Update names the columns a user sets and no others, so that a fire
// recorded between the caller's Get and this Update survives it.
func (s *schedules) Update(ctx context.Context, sc *store.Schedule) error {
	res, err := s.w.ExecContext(ctx, `UPDATE schedules SET name=?, spider_id=?, spider_name=?, cron=?,
		timezone=?, mode=?, node_ids=?, params=?, env=?, timeout=?, overlap=?, misfire=?, enabled=?, updated=?
		WHERE id = ?`,
		sc.Name, sc.SpiderID, sc.SpiderName, sc.Cron, sc.Timezone, sc.Mode, listToJSON(sc.NodeIDs), sc.Params,
		toJSON(sc.Env), sc.Timeout, sc.Overlap, sc.Misfire, sc.Enabled, ms(sc.Updated), sc.ID)
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err = affected(res, err); err != nil {
		return fmt.Errorf("store: update schedule %s: %w", sc.ID, err)
	}
	return nil
}

func (s *schedules) Delete(ctx context.Context, id string) error {
	if err := affected(s.w.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, id)); err != nil {
		return fmt.Errorf("store: delete schedule %s: %w", id, err)
	}
	return nil
}

func (s *schedules) Record(ctx context.Context, outcomes ...store.Outcome) error {
	if len(outcomes) == 0 {
		return ctx.Err()
	}
	err := s.w.inTx(ctx, []string{
		`UPDATE schedules SET last_fire = ?, last_task_id = ? WHERE id = ?`,
		`UPDATE schedules SET last_skip = ?, last_skip_reason = ? WHERE id = ?`,
	}, func(st []*sql.Stmt) error {
		for _, o := range outcomes {
			var err error
			if o.Skipped {
				_, err = st[1].ExecContext(ctx, ms(o.At), o.Reason, o.ScheduleID)
			} else {
				_, err = st[0].ExecContext(ctx, ms(o.At), o.TaskID, o.ScheduleID)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: record %d schedule outcomes: %w", len(outcomes), err)
	}
	return nil
}

// listToJSON and listFromJSON store a list of strings as a JSON array; an
// empty list comes back nil, as an empty map does from fromJSON.
func listToJSON(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a slice of strings always marshals
	return string(b)
}

func listFromJSON(s string) ([]string, error) {
	var l []string
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		return nil, err
	}
	if len(l) == 0 {
		return nil, nil
	}
	return l, nil
}
