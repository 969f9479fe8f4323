package sqlite

import (
	"context"
	"fmt"
)

// scanBatch is how many lines one query of ScanLog reads: each query is a
// range scan of the primary key, short enough that a reader never holds
// SQLite's read snapshot (and so the WAL) for a whole long scan.
const scanBatch = 10_000

func (s *logs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	if from < 0 {
		return fmt.Errorf("store: scan log of task %s from line %d: negative line number", taskID, from)
	}
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: scan log of task %s: %w", taskID, err)
		}
		got, more, err := s.scanBatch(ctx, taskID, from, fn)
		if err != nil {
			return fmt.Errorf("store: scan log of task %s at line %d: %w", taskID, from, err)
		}
		if !more || got < scanBatch {
			return nil
		}
		from += int64(got)
	}
}

// scanBatch calls fn with up to scanBatch lines from from on; it returns
// how many it read and whether fn wants more.
func (s *logs) scanBatch(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) (int, bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT n, line FROM task_logs WHERE task_id = ? AND n >= ?
		ORDER BY n LIMIT ?`, taskID, from, scanBatch)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var n int64
		var line string
		if err := rows.Scan(&n, &line); err != nil {
			return got, false, err
		}
		got++
		if !fn(n, line) {
			return got, false, nil
		}
	}
	return got, true, rows.Err()
}
