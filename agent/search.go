package agent

import (
	"context"
	"errors"

	"github.com/crawlhub/crawlhub/logsearch"
	"github.com/crawlhub/crawlhub/tasklog"
	"github.com/crawlhub/crawlhub/wire"
)

// SearchLog implements wire.Node: a running task's log is searched in its
// file here (the store may be seconds behind), an ended task's in the
// store.
func (a *Agent) SearchLog(ctx context.Context, req wire.SearchLog) (wire.LogSearch, error) {
	s, err := logsearch.Compile(req)
	if err != nil {
		return wire.LogSearch{}, err
	}
	a.mu.Lock()
	r := a.runs[req.TaskID]
	a.mu.Unlock()
	if r != nil {
		res, err := s.Run(func(fn func(int64, string) bool) error {
			_, err := r.log.Scan(0, func(n int64, line string) bool { return ctx.Err() == nil && fn(n, line) })
			if err == nil {
				err = ctx.Err()
			}
			return err
		})
		if !errors.Is(err, tasklog.ErrClosed) {
			return res, err
		}
		// It ended meanwhile: the store has the whole log.
	}
	return s.Run(func(fn func(int64, string) bool) error {
		return a.store.Logs().ScanLog(ctx, req.TaskID, 0, fn)
	})
}
