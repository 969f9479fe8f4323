package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// ---- nodes

type nodes Store

const nodeCols = `id, name, hostname, ip, mac, os, arch, version, is_master, status, last_seen, created`

func scanNode(row interface{ Scan(...any) error }) (store.Node, error) {
	var n store.Node
	var lastSeen, created int64
	err := row.Scan(&n.ID, &n.Name, &n.Hostname, &n.IP, &n.MAC, &n.OS, &n.Arch, &n.Version,
		&n.IsMaster, &n.Status, &lastSeen, &created)
	n.LastSeen, n.Created = fromMS(lastSeen), fromMS(created)
	return n, err
}

func (s *nodes) Register(ctx context.Context, n *store.Node) error {
	if err := checkID(n.ID); err != nil {
		return fmt.Errorf("store: register node: %w", err)
	}
	if n.Created.IsZero() {
		n.Created = store.Now()
	}
	// The upsert leaves created alone on conflict: a node keeps the time it
	// first registered.
	_, err := s.w.ExecContext(ctx, `INSERT INTO nodes (`+nodeCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET name=excluded.name, hostname=excluded.hostname, ip=excluded.ip,
			mac=excluded.mac, os=excluded.os, arch=excluded.arch, version=excluded.version,
			is_master=excluded.is_master, status=excluded.status, last_seen=excluded.last_seen`,
		n.ID, n.Name, n.Hostname, n.IP, n.MAC, n.OS, n.Arch, n.Version, n.IsMaster, n.Status,
		ms(n.LastSeen), ms(n.Created))
	if err != nil {
		return fmt.Errorf("store: register node %s: %w", n.ID, err)
	}
	return nil
}

func (s *nodes) Get(ctx context.Context, id string) (*store.Node, error) {
	n, err := scanNode(s.r.QueryRowContext(ctx, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get node %s: %w", id, err)
	}
	return &n, nil
}

func (s *nodes) List(ctx context.Context) ([]store.Node, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+nodeCols+` FROM nodes ORDER BY name, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	list, err := collect(rows, scanNode)
	if err != nil {
		return nil, fmt.Errorf("store: list nodes: %w", err)
	}
	return list, nil
}

func (s *nodes) Touch(ctx context.Context, id string, at time.Time) error {
	err := affected(s.w.ExecContext(ctx, `UPDATE nodes SET status = ?, last_seen = ? WHERE id = ?`,
		store.NodeOnline, ms(at), id))
	if err != nil {
		return fmt.Errorf("store: touch node %s: %w", id, err)
	}
	return nil
}

func (s *nodes) SetOffline(ctx context.Context, id string) error {
	err := affected(s.w.ExecContext(ctx, `UPDATE nodes SET status = ? WHERE id = ?`, store.NodeOffline, id))
	if err != nil {
		return fmt.Errorf("store: set node %s offline: %w", id, err)
	}
	return nil
}

func (s *nodes) MarkStale(ctx context.Context, before time.Time) ([]store.Node, error) {
	// One statement: the nodes returned are exactly those this call changed,
	// even with several masters sweeping at once.
	rows, err := s.w.QueryContext(ctx, `UPDATE nodes SET status = ? WHERE status = ? AND last_seen < ?
		RETURNING `+nodeCols, store.NodeOffline, store.NodeOnline, ms(before))
	if err != nil {
		return nil, fmt.Errorf("store: mark stale nodes: %w", err)
	}
	list, err := collect(rows, scanNode)
	if err != nil {
		return nil, fmt.Errorf("store: mark stale nodes: %w", err)
	}
	slices.SortFunc(list, func(a, b store.Node) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	return list, nil
}

// ---- spiders

type spiders Store

const spiderCols = `id, name, command, env, file, md5, size, dedup_keys, dedup, created, updated`

func scanSpider(row interface{ Scan(...any) error }) (store.Spider, error) {
	var sp store.Spider
	var env, dedupKeys string
	var created, updated int64
	if err := row.Scan(&sp.ID, &sp.Name, &sp.Command, &env, &sp.File, &sp.MD5, &sp.Size, &dedupKeys, &sp.Dedup,
		&created, &updated); err != nil {
		return sp, err
	}
	sp.Created, sp.Updated = fromMS(created), fromMS(updated)
	var err error
	if sp.Env, err = fromJSON(env); err != nil {
		return sp, err
	}
	sp.DedupKeys, err = listFromJSON(dedupKeys)
	return sp, err
}

func (s *spiders) Create(ctx context.Context, sp *store.Spider) error {
	if err := checkID(sp.ID); err != nil {
		return fmt.Errorf("store: create spider %q: %w", sp.Name, err)
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO spiders (`+spiderCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		sp.ID, sp.Name, sp.Command, toJSON(sp.Env), sp.File, sp.MD5, sp.Size, listToJSON(sp.DedupKeys), sp.Dedup,
		ms(sp.Created), ms(sp.Updated))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create spider %q: %w", sp.Name, err)
	}
	return nil
}

func (s *spiders) get(ctx context.Context, what, where string, arg any) (*store.Spider, error) {
	sp, err := scanSpider(s.r.QueryRowContext(ctx, `SELECT `+spiderCols+` FROM spiders WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get spider %s: %w", what, err)
	}
	return &sp, nil
}

func (s *spiders) Get(ctx context.Context, id string) (*store.Spider, error) {
	return s.get(ctx, id, "id = ?", id)
}

func (s *spiders) GetByName(ctx context.Context, name string) (*store.Spider, error) {
	return s.get(ctx, fmt.Sprintf("%q", name), "name = ?", name)
}

func (s *spiders) List(ctx context.Context) ([]store.Spider, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+spiderCols+` FROM spiders ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list spiders: %w", err)
	}
	list, err := collect(rows, scanSpider)
	if err != nil {
		return nil, fmt.Errorf("store: list spiders: %w", err)
	}
	return list, nil
}

func (s *spiders) Update(ctx context.Context, sp *store.Spider) error {
	res, err := s.w.ExecContext(ctx, `UPDATE spiders SET name=?, command=?, env=?, file=?, md5=?, size=?,
		dedup_keys=?, dedup=?, created=?, updated=? WHERE id = ?`,
		sp.Name, sp.Command, toJSON(sp.Env), sp.File, sp.MD5, sp.Size, listToJSON(sp.DedupKeys), sp.Dedup,
		ms(sp.Created), ms(sp.Updated), sp.ID)
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err = affected(res, err); err != nil {
		return fmt.Errorf("store: update spider %s: %w", sp.ID, err)
	}
	return nil
}

func (s *spiders) Delete(ctx context.Context, id string) error {
	if err := affected(s.w.ExecContext(ctx, `DELETE FROM spiders WHERE id = ?`, id)); err != nil {
		return fmt.Errorf("store: delete spider %s: %w", id, err)
	}
	return nil
}

// ---- tasks

type tasks Store

const taskCols = `id, spider_id, spider_name, node_id, mode, status, command, params, env, timeout,
	exit_code, reason, log_lines, item_count, items_new, items_ignored, items_overwritten, schedule_id, wait_for,
	created_by, cancelled_by, created, started, finished, log_errors, log_warnings, scrapy_stats`

func scanTask(row interface{ Scan(...any) error }) (store.Task, error) {
	var t store.Task
	var env string
	var exit sql.NullInt64
	var created, started, finished int64
	var scrapy string
	if err := row.Scan(&t.ID, &t.SpiderID, &t.SpiderName, &t.NodeID, &t.Mode, &t.Status, &t.Command,
		&t.Params, &env, &t.Timeout, &exit, &t.Reason, &t.LogLines, &t.ItemCount, &t.ItemStats.New,
		&t.ItemStats.Ignored, &t.ItemStats.Overwritten, &t.ScheduleID, &t.WaitFor, &t.CreatedBy, &t.CancelledBy, &created, &started, &finished,
		&t.LogLevels.Error, &t.LogLevels.Warning, &scrapy); err != nil {
		return t, err
	}
	if scrapy != "" {
		if err := json.Unmarshal([]byte(scrapy), &t.ScrapyStats); err != nil {
			return t, fmt.Errorf("task %s: scrapy_stats: %w", t.ID, err)
		}
	}
	if exit.Valid {
		code := int(exit.Int64)
		t.ExitCode = &code
	}
	t.Created, t.Started, t.Finished = fromMS(created), fromMS(started), fromMS(finished)
	var err error
	t.Env, err = fromJSON(env)
	return t, err
}

// taskArgs are t's columns in taskCols order, id last (for UPDATE … WHERE id).
func taskArgs(t *store.Task) []any {
	var exit sql.NullInt64
	if t.ExitCode != nil {
		exit = sql.NullInt64{Int64: int64(*t.ExitCode), Valid: true}
	}
	return []any{t.SpiderID, t.SpiderName, t.NodeID, t.Mode, t.Status, t.Command, t.Params,
		toJSON(t.Env), t.Timeout, exit, t.Reason, t.LogLines, t.ItemCount, t.ItemStats.New, t.ItemStats.Ignored,
		t.ItemStats.Overwritten, t.ScheduleID, t.WaitFor, t.CreatedBy, t.CancelledBy, ms(t.Created), ms(t.Started),
		ms(t.Finished), t.LogLevels.Error, t.LogLevels.Warning, scrapyJSON(t.ScrapyStats), t.ID}
}

// scrapyJSON is a task's Scrapy stats as stored: JSON, or empty for none.
func scrapyJSON(m map[string]any) string {
	if m == nil {
		return ""
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "" // only a value JSON cannot hold (NaN): the stats are dropped, not the task
	}
	return string(b)
}

func (s *tasks) Create(ctx context.Context, t *store.Task) error {
	if err := checkID(t.ID); err != nil {
		return fmt.Errorf("store: create task: %w", err)
	}
	var err error
	if store.TaskEnded(t.Status) {
		err = s.w.inTx(ctx, append([]string{insertTask}, rollupStmts...), func(st []*sql.Stmt) error {
			if _, err := st[0].ExecContext(ctx, taskArgs(t)...); err != nil {
				return err
			}
			return countEnd(ctx, st[1:], nil, t)
		})
	} else {
		_, err = s.w.ExecContext(ctx, insertTask, taskArgs(t)...)
	}
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("store: create task %s: %w", t.ID, err)
	}
	return nil
}

const insertTask = `INSERT INTO tasks (spider_id, spider_name, node_id, mode, status,
	command, params, env, timeout, exit_code, reason, log_lines, item_count, items_new, items_ignored,
	items_overwritten, schedule_id, wait_for, created_by, cancelled_by, created, started, finished,
	log_errors, log_warnings, scrapy_stats, id)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// CreateMany inserts ts in one transaction: one commit for a minute's
// thousands of schedule fires, not one each.
func (s *tasks) CreateMany(ctx context.Context, ts []store.Task) ([]bool, error) {
	for i := range ts {
		if err := checkID(ts[i].ID); err != nil {
			return nil, fmt.Errorf("store: create tasks: %w", err)
		}
	}
	created := make([]bool, len(ts))
	err := s.w.inTx(ctx, append([]string{insertTask + ` ON CONFLICT (id) DO NOTHING`}, rollupStmts...), func(st []*sql.Stmt) error {
		for i := range ts {
			n, err := rows(st[0].ExecContext(ctx, taskArgs(&ts[i])...))
			if err != nil {
				return err
			}
			created[i] = n == 1
			if created[i] {
				if err := countEnd(ctx, st[1:], nil, &ts[i]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: create %d tasks: %w", len(ts), err)
	}
	return created, nil
}

func (s *tasks) Get(ctx context.Context, id string) (*store.Task, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: get task %s: %w", id, err)
	}
	return &t, nil
}

func (s *tasks) List(ctx context.Context, f store.TaskFilter) ([]store.Task, int, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{
		{"status", f.Status}, {"spider_id", f.SpiderID}, {"node_id", f.NodeID}, {"schedule_id", f.ScheduleID},
	} {
		if c.val != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.val)
		}
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	limit := int64(f.Limit)
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	// Count and page in one read transaction, so the total matches the page
	// even while tasks are being added.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("store: list tasks: %w", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tasks`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count tasks: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks`+cond+
		` ORDER BY created DESC, id DESC LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list tasks: %w", err)
	}
	list, err := collect(rows, scanTask)
	if err != nil {
		return nil, 0, fmt.Errorf("store: list tasks: %w", err)
	}
	return list, total, nil
}

func (s *tasks) Pending(ctx context.Context, nodeID string, limit int) ([]store.Task, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks
		WHERE status = ? AND node_id IN (?, '') ORDER BY created, id LIMIT ?`,
		store.TaskPending, nodeID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
	}
	list, err := collect(rows, scanTask)
	if err != nil {
		return nil, fmt.Errorf("store: pending tasks for %s: %w", nodeID, err)
	}
	return list, nil
}

func (s *tasks) Active(ctx context.Context, scheduleIDs []string) (map[string]store.Task, error) {
	out := map[string]store.Task{}
	if len(scheduleIDs) == 0 {
		return out, ctx.Err()
	}
	// The ids travel as one JSON array, so the statement is the same
	// whatever their number, and is prepared once.
	rs, err := s.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks
		WHERE schedule_id IN (SELECT value FROM json_each(?)) AND status IN (?, ?)
		ORDER BY created DESC, id DESC`, listToJSON(scheduleIDs), store.TaskPending, store.TaskRunning)
	if err != nil {
		return nil, fmt.Errorf("store: active tasks of %d schedules: %w", len(scheduleIDs), err)
	}
	list, err := collect(rs, scanTask)
	if err != nil {
		return nil, fmt.Errorf("store: active tasks of %d schedules: %w", len(scheduleIDs), err)
	}
	for _, t := range list {
		if _, ok := out[t.ScheduleID]; !ok {
			out[t.ScheduleID] = t // newest first
		}
	}
	return out, nil
}

const updateTask = `UPDATE tasks SET spider_id=?, spider_name=?, node_id=?, mode=?,
	status=?, command=?, params=?, env=?, timeout=?, exit_code=?, reason=?, log_lines=?, item_count=?,
	items_new=?, items_ignored=?, items_overwritten=?, schedule_id=?,
	wait_for=?, created_by=?, cancelled_by=?, created=?, started=?, finished=?,
	log_errors=?, log_warnings=?, scrapy_stats=? WHERE id = ?`

// Update and UpdateIf of a task that has (or may have) ended go through
// updateEnding (stats.go), which counts the end in the same transaction;
// the many updates of a task still running (its log lines) stay one
// statement.
func (s *tasks) Update(ctx context.Context, t *store.Task) error {
	var err error
	if store.TaskEnded(t.Status) {
		err = s.updateEnding(ctx, t, nil)
	} else {
		err = affected(s.w.ExecContext(ctx, updateTask, taskArgs(t)...))
	}
	if err != nil {
		return fmt.Errorf("store: update task %s: %w", t.ID, err)
	}
	return nil
}

// UpdateIf is one UPDATE conditioned on the status, then, only when it
// matched nothing, a read (on the writer, so after the UPDATE) of why.
func (s *tasks) UpdateIf(ctx context.Context, t *store.Task, status string) error {
	if store.TaskEnded(t.Status) {
		if err := s.updateEnding(ctx, t, &status); err != nil {
			return fmt.Errorf("store: update task %s: %w", t.ID, err)
		}
		return nil
	}
	n, err := rows(s.w.ExecContext(ctx, updateTask+` AND status = ?`, append(taskArgs(t), status)...))
	if err == nil && n == 0 {
		var now string
		err = s.w.QueryRowContext(ctx, `SELECT status FROM tasks WHERE id = ?`, t.ID).Scan(&now)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			err = store.ErrNotFound
		case err == nil:
			err = fmt.Errorf("%w: status is %s, not %s", store.ErrStale, now, status)
		}
	}
	if err != nil {
		return fmt.Errorf("store: update task %s: %w", t.ID, err)
	}
	return nil
}

func (s *tasks) Delete(ctx context.Context, id string) error {
	if err := affected(s.w.ExecContext(ctx, `DELETE FROM tasks WHERE id = ?`, id)); err != nil {
		return fmt.Errorf("store: delete task %s: %w", id, err)
	}
	return nil
}

// ---- helpers

func collect[T any](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	defer rows.Close()
	var list []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}
