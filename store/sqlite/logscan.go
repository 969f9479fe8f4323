package sqlite

import (
	"context"
	"fmt"
)

// scanBatch is how many lines one query of ScanLog reads: each query is a
// range scan of the primary key, short enough that a reader never holds
// SQLite's read snapshot (and so the WAL) for a whole long scan.
const scanBatch = 10_000

// scanned is one batch of a scan: lines from, from+1, …
type scanned struct {
	from  int64
	lines []string
	err   error
}

// ScanLog reads the next batch while fn goes through the one before, on
// a goroutine of its own that ends before ScanLog returns: reading rows and
// what a search does with them each take about half the time, and a
// machine has more than one core. Memory: two batches.
func (s *logs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	if from < 0 {
		return fmt.Errorf("store: scan log of task %s from line %d: negative line number", taskID, from)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan scanned, 1)
	go func() {
		defer close(batches)
		for next := from; ; {
			b := scanned{from: next}
			b.lines, b.err = s.readBatch(ctx, taskID, next)
			select {
			case batches <- b:
			case <-ctx.Done():
				return
			}
			if b.err != nil || len(b.lines) < scanBatch {
				return
			}
			next += int64(len(b.lines))
		}
	}()
	defer func() {
		cancel()
		for range batches { // the reader has ended once this is closed
		}
	}()
	for b := range batches {
		if b.err != nil {
			return fmt.Errorf("store: scan log of task %s at line %d: %w", taskID, b.from, b.err)
		}
		for i, l := range b.lines {
			if !fn(b.from+int64(i), l) {
				return nil
			}
		}
	}
	// The reader stops at a cancelled ctx without a word: say so.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: scan log of task %s: %w", taskID, err)
	}
	return nil
}

// readBatch reads up to scanBatch lines from from on. Lines are numbered
// without gaps (AppendLog refuses one), so the i-th row is line from+i.
func (s *logs) readBatch(ctx context.Context, taskID string, from int64) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT line FROM task_logs WHERE task_id = ? AND n >= ?
		ORDER BY n LIMIT ?`, taskID, from, scanBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	lines := make([]string, 0, scanBatch)
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		lines = append(lines, line)
	}
	return lines, rows.Err()
}
