package mongo

import (
	"context"
	"errors"
)

func (s *logs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	return errors.ErrUnsupported
}
