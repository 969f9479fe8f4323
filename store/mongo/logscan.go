package mongo

import (
	"context"
	"fmt"
	"math"
)

// ScanLog walks the log's chunks in order, a few at a time (see walkLog):
// memory stays at a few chunks whatever the log's length.
func (s *logs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	if from < 0 {
		return fmt.Errorf("store: scan log of task %s from line %d: negative line number", taskID, from)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: scan log of task %s: %w", taskID, err)
	}
	err := s.walkLog(ctx, taskID, from, math.MaxInt64, func(first int64, lines []string) bool {
		for i, l := range lines {
			if !fn(first+int64(i), l) {
				return false
			}
		}
		return ctx.Err() == nil
	})
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("store: scan log of task %s: %w", taskID, err)
	}
	return nil
}
