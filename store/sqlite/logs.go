package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/crawlhub/crawlhub/store"
)

// logs keeps one row per line, keyed (task_id, n): reading any range is an
// index range scan, and the primary key makes appending idempotent.
type logs Store

// insertBatch is how many lines one INSERT carries: 3 parameters each, kept
// under SQLite's historical limit of 999 parameters per statement.
const insertBatch = 300

func (s *logs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	if err := s.appendLog(ctx, taskID, from, lines); err != nil {
		return fmt.Errorf("store: append log of task %s at line %d: %w", taskID, from, err)
	}
	return nil
}

func (s *logs) appendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := store.CheckAppend(from, lines); err != nil || len(lines) == 0 {
		return err
	}
	// The length check and the insert share one write transaction, so
	// concurrent appends to one task cannot leave a gap or a duplicate.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(n) + 1, 0) FROM task_logs WHERE task_id = ?`,
		taskID).Scan(&cur); err != nil {
		return err
	}
	if from > cur {
		return fmt.Errorf("%w: log has %d lines", store.ErrLogGap, cur)
	}
	// Lines already stored are skipped, not compared: the first write of a
	// line number wins.
	if skip := cur - from; skip < int64(len(lines)) {
		lines = lines[skip:]
	} else {
		return nil
	}
	insert := func(n int) string {
		return `INSERT INTO task_logs (task_id, n, line) VALUES (?,?,?)` + strings.Repeat(`,(?,?,?)`, n-1)
	}
	// Preparing a statement of 900 parameters costs as much as running it:
	// prepare the full batch once per append.
	var full *sql.Stmt
	if len(lines) >= insertBatch {
		if full, err = tx.PrepareContext(ctx, insert(insertBatch)); err != nil {
			return err
		}
		defer full.Close()
	}
	args := make([]any, 0, 3*insertBatch)
	for len(lines) > 0 {
		batch := lines[:min(insertBatch, len(lines))]
		args = args[:0]
		for i, line := range batch {
			args = append(args, taskID, cur+int64(i), line)
		}
		if len(batch) == insertBatch {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insert(len(batch)), args...)
		}
		if err != nil {
			return err
		}
		cur += int64(len(batch))
		lines = lines[len(batch):]
	}
	return tx.Commit()
}

func (s *logs) ReadLog(ctx context.Context, taskID string, from int64, limit int) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	if from < 0 {
		return nil, fmt.Errorf("store: read log of task %s from line %d: negative line number", taskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT line FROM task_logs WHERE task_id = ? AND n >= ?
		ORDER BY n LIMIT ?`, taskID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	lines, err := collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var line string
		return line, row.Scan(&line)
	})
	if err != nil {
		return nil, fmt.Errorf("store: read log of task %s: %w", taskID, err)
	}
	return lines, nil
}

func (s *logs) LogLen(ctx context.Context, taskID string) (int64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(n) + 1, 0) FROM task_logs WHERE task_id = ?`,
		taskID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: log length of task %s: %w", taskID, err)
	}
	return n, nil
}

func (s *logs) DeleteLog(ctx context.Context, taskID string) error {
	if _, err := s.w.ExecContext(ctx, `DELETE FROM task_logs WHERE task_id = ?`, taskID); err != nil {
		return fmt.Errorf("store: delete log of task %s: %w", taskID, err)
	}
	return nil
}
