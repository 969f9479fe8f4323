package server

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/logsearch"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// SearchLog searches a task's whole log (logsearch has the semantics): a
// running task's on its node, which has every line in its file, an ended
// task's (or a running one whose node does not answer) in the store.
func (s *Server) SearchLog(ctx context.Context, q wire.SearchLog) (*wire.LogSearch, error) {
	t, err := s.taskByID(ctx, q.TaskID)
	if err != nil {
		return nil, err
	}
	q.Limit = listLimit(q.Limit)
	search, err := logsearch.Compile(q)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	if t.Status == store.TaskRunning && t.NodeID != "" {
		var res wire.LogSearch
		err := s.caller.Call(ctx, t.NodeID, wire.OpSearchLog, q, &res)
		if err == nil {
			return &res, nil
		}
		s.log.Debug("log search on the node failed; searching the stored copy", "task_id", t.ID, "err", err)
	}
	res, err := search.Run(func(fn func(int64, string) bool) error {
		return s.store.Logs().ScanLog(ctx, t.ID, 0, fn)
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// searchLogHTTP is GET /api/tasks/:id/log/search?q=&regex=&case=&level=&from=&limit=.
func (s *Server) searchLogHTTP(c echo.Context) error {
	q := wire.SearchLog{TaskID: c.Param("id"), Q: c.QueryParam("q"), Level: c.QueryParam("level")}
	var err error
	if q.Regex, err = boolParam(c, "regex"); err != nil {
		return err
	}
	if q.Case, err = boolParam(c, "case"); err != nil {
		return err
	}
	from, err := intParam(c, "from", 0)
	if err != nil {
		return err
	}
	q.From = int64(from)
	if q.Limit, err = limitParam(c); err != nil {
		return err
	}
	res, err := s.SearchLog(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// boolParam is a ?name= flag: true or 1, false or 0, absent is false.
func boolParam(c echo.Context, name string) (bool, error) {
	switch c.QueryParam(name) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, badRequest(name + " must be true or false")
}
