package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// The overview reads task_rollups, one row per (UTC hour, spider, final
// status), and task_rollups_day, the same per UTC day, both written in the
// same transaction as the task update that ends a task: a window reads
// its hours' or days' rows, whatever the number of tasks. Migration 5
// creates the tables and fills them from the tasks already ended; h0…h16
// are the run-time histogram (store.RunTimeBounds).

func (s *Store) Stats() store.Stats { return (*stats)(s) }

type stats Store

// zeroMS is the stored form of the zero time (no start or end yet).
var zeroMS = ms(time.Time{})

func histCols(prefix string) []string {
	cols := make([]string, store.RunTimeBuckets)
	for i := range cols {
		cols[i] = fmt.Sprintf("%sh%d", prefix, i)
	}
	return cols
}

const rollupKey = `hour, spider_id, spider_name, status, count, run_count, run_sum, run_max, items`

var rollupCols = rollupKey + ", " + strings.Join(histCols(""), ", ")

// statsMigration is migration 5: the rollup tables, by hour and by day,
// filled from the tasks that have ended. A 30-day window reads at most
// 30 days of rows of task_rollups_day, a 24-hour one 24 hours of rows of
// task_rollups.
func statsMigration() string {
	return rollupTable("task_rollups", 3600000) + rollupTable("task_rollups_day", 86400000)
}

// rollupTable creates one rollup table whose rows are per period of ms
// milliseconds (an hour or a day: UTC periods, as Unix time counts no leap
// seconds), and fills it.
func rollupTable(name string, period int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, `CREATE TABLE %s (
		hour        INTEGER NOT NULL, -- Unix ms of the UTC hour (or day) the tasks ended in
		spider_id   TEXT NOT NULL,
		spider_name TEXT NOT NULL,
		status      TEXT NOT NULL,
		count       INTEGER NOT NULL,
		run_count   INTEGER NOT NULL, -- of those that ran (started and finished)
		run_sum     INTEGER NOT NULL, -- ms
		run_max     INTEGER NOT NULL, -- ms
		items       INTEGER NOT NULL`, name)
	for _, c := range histCols("") {
		b.WriteString(",\n\t\t" + c + " INTEGER NOT NULL")
	}
	b.WriteString(",\n\t\tPRIMARY KEY (hour, spider_id, status)\n\t) WITHOUT ROWID;\n")
	fmt.Fprintf(&b, `INSERT INTO %s (%s)
	SELECT at - at %% %d, spider_id, max(spider_name), status, count(*), sum(run >= 0),
		sum(max(run, 0)), max(max(run, 0)), sum(item_count)`, name, rollupCols, period)
	lo := "0"
	for _, bound := range store.RunTimeBounds {
		hi := fmt.Sprint(int64(bound * 1000))
		fmt.Fprintf(&b, ",\n\t\tsum(run >= %s AND run < %s)", lo, hi)
		lo = hi
	}
	fmt.Fprintf(&b, `,
		sum(run >= %[1]s)
	FROM (SELECT spider_id, spider_name, status, item_count,
			CASE WHEN finished <> %[2]d THEN finished ELSE created END AS at,
			CASE WHEN started <> %[2]d AND finished <> %[2]d AND finished >= started THEN finished - started ELSE -1 END AS run
		FROM tasks WHERE status IN ('%[3]s', '%[4]s', '%[5]s', '%[6]s'))
	GROUP BY at - at %% %[7]d, spider_id, status;
`, lo, zeroMS, store.TaskFinished, store.TaskError, store.TaskCancelled, store.TaskAbnormal, period)
	return b.String()
}

// addRollup and addRollupDay count a task end in its row of the hour and
// of the day (sign 1), or take it back out (sign -1). They run in the
// transaction of the task's update.
var addRollup, addRollupDay = upsertRollup("task_rollups"), upsertRollup("task_rollups_day")

func upsertRollup(table string) string {
	sets := []string{"count = count + excluded.count", "run_count = run_count + excluded.run_count",
		"run_sum = run_sum + excluded.run_sum", "run_max = max(run_max, excluded.run_max)",
		"items = items + excluded.items", "spider_name = excluded.spider_name"}
	for _, c := range histCols("") {
		sets = append(sets, c+" = "+c+" + excluded."+c)
	}
	return `INSERT INTO ` + table + ` (` + rollupCols + `) VALUES (?` + strings.Repeat(",?", 8+store.RunTimeBuckets) + `)
		ON CONFLICT (hour, spider_id, status) DO UPDATE SET ` + strings.Join(sets, ", ")
}

func rollupArgs(e store.TaskEnd, period time.Duration, sign int64) []any {
	var r store.Rollup
	r.Add(e, sign)
	args := []any{ms(e.Hour.Truncate(period)), e.SpiderID, e.SpiderName, e.Status, r.Count, r.RunCount, r.RunSumMS, max(r.RunMaxMS, 0), r.Items}
	for _, h := range r.Hist {
		args = append(args, h)
	}
	return args
}

// rollupStmts are the statements countEnd takes, in this order.
var rollupStmts = []string{addRollup, addRollupDay}

// countEnd records with st (rollupStmts in a transaction) what an update
// from old (nil: a new task) to t changes in the rollups: a task counts
// once, when it first ends; a corrected final status (abnormal, then the
// outcome its node reports) moves it. Other changes to an ended task,
// its item count among them, leave the rollups as they are.
func countEnd(ctx context.Context, st []*sql.Stmt, old, t *store.Task) error {
	if !store.TaskEnded(t.Status) {
		return nil
	}
	add := func(e store.TaskEnd, sign int64) error {
		if _, err := st[0].ExecContext(ctx, rollupArgs(e, time.Hour, sign)...); err != nil {
			return err
		}
		_, err := st[1].ExecContext(ctx, rollupArgs(e, 24*time.Hour, sign)...)
		return err
	}
	if old != nil && store.TaskEnded(old.Status) {
		if old.Status == t.Status {
			return nil
		}
		if err := add(store.TaskEndOf(old), -1); err != nil {
			return err
		}
	}
	return add(store.TaskEndOf(t), 1)
}

// updateEnding replaces the task with t.ID, whose new status is final, and
// counts its end, in one transaction. With ifStatus set it is UpdateIf's
// compare-and-set.
func (s *tasks) updateEnding(ctx context.Context, t *store.Task, ifStatus *string) error {
	return s.w.inTx(ctx, append([]string{`SELECT ` + taskCols + ` FROM tasks WHERE id = ?`, updateTask}, rollupStmts...),
		func(st []*sql.Stmt) error {
			old, err := scanTask(st[0].QueryRowContext(ctx, t.ID))
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			if err != nil {
				return err
			}
			if ifStatus != nil && old.Status != *ifStatus {
				return fmt.Errorf("%w: status is %s, not %s", store.ErrStale, old.Status, *ifStatus)
			}
			if _, err := st[1].ExecContext(ctx, taskArgs(t)...); err != nil {
				return err
			}
			return countEnd(ctx, st[2:], &old, t)
		})
}

func (s *stats) TaskStats(ctx context.Context, q store.StatsQuery) (*store.TaskStats, error) {
	q, err := store.CheckStatsQuery(q)
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	// One read transaction, so the counts of now and the window agree.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	defer tx.Rollback()
	table := "task_rollups"
	if q.Bucket != time.Hour {
		table = "task_rollups_day"
	}
	// Summed in SQL two ways, so that a few hundred rows cross into Go
	// rather than one per (hour, spider, status): per bucket and status
	// (the chart), per spider and status (the rest).
	rows, err := tx.QueryContext(ctx, `SELECT hour, status, sum(count) FROM `+table+`
		WHERE hour >= ? AND hour < ? GROUP BY hour, status`, ms(q.From), ms(q.To))
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	buckets, err := collect(rows, func(row interface{ Scan(...any) error }) (store.Rollup, error) {
		var r store.Rollup
		var hour int64
		err := row.Scan(&hour, &r.Status, &r.Count)
		r.Hour = fromMS(hour)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	sums := []string{"max(hour)", "spider_id", "max(spider_name)", "status", "sum(count)", "sum(run_count)", "sum(run_sum)",
		"max(run_max)", "sum(items)"}
	for _, c := range histCols("") {
		sums = append(sums, "sum("+c+")")
	}
	// A renamed spider shows one of its names of the window (max picks
	// one; the rows of one spider rarely differ).
	rows, err = tx.QueryContext(ctx, `SELECT `+strings.Join(sums, ", ")+` FROM `+table+`
		WHERE hour >= ? AND hour < ? GROUP BY spider_id, status`, ms(q.From), ms(q.To))
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	spiders, err := collect(rows, scanRollup)
	if err != nil {
		return nil, fmt.Errorf("store: task stats: %w", err)
	}
	// tasks_status (status, created, id) makes each count a walk of the
	// index entries of that status only.
	var running, pending int64
	err = tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tasks WHERE status = ?),
		(SELECT count(*) FROM tasks WHERE status = ?)`, store.TaskRunning, store.TaskPending).Scan(&running, &pending)
	if err != nil {
		return nil, fmt.Errorf("store: task stats: count running and pending: %w", err)
	}
	return store.BuildTaskStatsFrom(q, buckets, spiders, running, pending), nil
}

func scanRollup(row interface{ Scan(...any) error }) (store.Rollup, error) {
	var r store.Rollup
	var hour int64
	dst := []any{&hour, &r.SpiderID, &r.SpiderName, &r.Status, &r.Count, &r.RunCount, &r.RunSumMS, &r.RunMaxMS, &r.Items}
	for i := range r.Hist {
		dst = append(dst, &r.Hist[i])
	}
	err := row.Scan(dst...)
	r.Hour = fromMS(hour)
	return r, err
}

// Fold has nothing to do: the rollups are written as tasks end.
func (s *stats) Fold(ctx context.Context, before time.Time) (int, error) {
	return 0, ctx.Err()
}
