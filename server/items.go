package server

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// ReadItems returns items from..from+limit of a task and how many it has:
// a running task's from its node (which has the newest), everything else
// from the store (which also serves when the node is gone or does not
// answer).
func (s *Server) ReadItems(ctx context.Context, id string, from int64, limit int) (*wire.ItemBatch, error) {
	t, limit, err := s.rangeOf(ctx, id, from, limit, wire.MaxReadEntries)
	if err != nil {
		return nil, err
	}
	if t.Status == store.TaskRunning && t.NodeID != "" {
		var ib wire.ItemBatch
		err := s.caller.Call(ctx, t.NodeID, wire.OpGetItems, wire.GetItems{TaskID: id, From: from, Limit: limit}, &ib)
		if err == nil {
			if ib.Items == nil {
				ib.Items = []json.RawMessage{}
			}
			return &ib, nil
		}
		s.log.Debug("items from node failed; reading the stored copy", "task_id", id, "err", err)
	}
	// Bounded in bytes as the node's reply is (wire.MaxReadBytes).
	raw, err := wire.ReadItems(from, limit, func(from int64, n int) ([]json.RawMessage, error) {
		page, err := s.store.Items().ReadItems(ctx, t.SpiderID, id, from, n)
		out := make([]json.RawMessage, len(page))
		for i := range page {
			out[i] = page[i].Data
		}
		return out, err
	})
	if err != nil {
		return nil, err
	}
	total, _, err := s.itemCount(ctx, t)
	if err != nil {
		return nil, err
	}
	// The count may be a moment older than the items just read.
	if len(raw) > 0 {
		total = max(total, from+int64(len(raw)))
	}
	return &wire.ItemBatch{TaskID: id, From: from, Items: raw, Total: total}, nil
}

// withItemCounts sets a running task's item_count and item_stats to what
// the store has so far, as withSavedLines does its log_lines: its agent
// saves items as they come and sets the final counts when it ends.
func (s *Server) withItemCounts(ctx context.Context, tasks []store.Task) {
	for i := range tasks {
		t := &tasks[i]
		if t.Status != store.TaskRunning {
			continue
		}
		if n, stats, err := s.itemCount(ctx, t); err == nil && n > t.ItemCount {
			t.ItemCount, t.ItemStats = n, stats
		}
	}
}

// --- REST handlers -----------------------------------------------------------

func (s *Server) taskItems(c echo.Context) error {
	from, err := intParam(c, "from", 0)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1000)
	if err != nil {
		return err
	}
	ib, err := s.ReadItems(c.Request().Context(), c.Param("id"), int64(from), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ib)
}

// spiderItems is a page of a spider's current items, newest first, each
// with the task that saved it and its number there.
func (s *Server) spiderItems(c echo.Context) error {
	sp, err := s.spiderParam(c)
	if err != nil {
		return err
	}
	limit, err := limitParam(c)
	if err != nil {
		return err
	}
	offset, err := intParam(c, "offset", 0)
	if err != nil {
		return err
	}
	items, total, err := s.store.Items().SpiderItems(c.Request().Context(), sp.ID, limit, offset)
	if err != nil {
		return err
	}
	if items == nil {
		items = []store.Item{}
	}
	return c.JSON(http.StatusOK, struct {
		Items []store.Item `json:"items"`
		Total int64        `json:"total"`
	}{items, total})
}
