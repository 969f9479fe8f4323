package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/server/scheduler"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wsapi"
)

// The schedules' REST routes and JSON-RPC methods: thin adapters over
// the functions in schedules.go, which both share.

func (s *Server) listSchedulesHTTP(c echo.Context) error {
	all, err := s.Schedules(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[ScheduleView]{Items: all, Total: len(all)})
}

func (s *Server) getScheduleHTTP(c echo.Context) error {
	v, err := s.Schedule(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) createScheduleHTTP(c echo.Context) error {
	var req ScheduleRequest
	if err := bindJSON(c, &req, scheduleExample); err != nil {
		return err
	}
	v, err := s.CreateSchedule(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) updateScheduleHTTP(c echo.Context) error {
	var req ScheduleRequest
	if err := bindJSON(c, &req, scheduleExample); err != nil {
		return err
	}
	v, err := s.UpdateSchedule(c.Request().Context(), c.Param("id"), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) deleteScheduleHTTP(c echo.Context) error {
	if err := s.DeleteSchedule(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) runScheduleHTTP(c echo.Context) error {
	tasks, err := s.RunSchedule(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, list[store.Task]{Items: tasks, Total: len(tasks)})
}

// CronPreview is what the dashboard shows as a cron expression is typed.
type CronPreview struct {
	NextFires []time.Time `json:"next_fires"`
}

// PreviewCron returns the next five fire times of expr in tz from now, or
// a bad request naming what is wrong.
func PreviewCron(expr, tz string) (*CronPreview, error) {
	now := time.Now()
	spec, err := scheduler.Parse(expr, tz, now)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	return &CronPreview{NextFires: spec.NextN(now, nextFires)}, nil
}

func (s *Server) previewCronHTTP(c echo.Context) error {
	p, err := PreviewCron(c.QueryParam("cron"), c.QueryParam("timezone"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, p)
}

// ---- JSON-RPC

// scheduleCall serves the schedule methods of the WebSocket API.
func (s *Server) scheduleCall(ctx context.Context, method string, params json.RawMessage) (any, error) {
	var byID struct {
		ID string `json:"id"`
	}
	switch method {
	case wsapi.MethodSchedulesList:
		if err := hub.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		all, err := s.Schedules(ctx)
		return list[ScheduleView]{Items: all, Total: len(all)}, err
	case wsapi.MethodScheduleCreate:
		var req ScheduleRequest
		if err := hub.DecodeParams(params, &req); err != nil {
			return nil, err
		}
		return s.CreateSchedule(ctx, req)
	case wsapi.MethodScheduleUpdate:
		var p struct {
			ID string `json:"id"`
			ScheduleRequest
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.UpdateSchedule(ctx, p.ID, p.ScheduleRequest)
	case wsapi.MethodSchedulePreview:
		var p struct {
			Cron     string `json:"cron"`
			Timezone string `json:"timezone"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return PreviewCron(p.Cron, p.Timezone)
	}
	if err := hub.DecodeParams(params, &byID); err != nil {
		return nil, err
	}
	switch method {
	case wsapi.MethodScheduleGet:
		return s.Schedule(ctx, byID.ID)
	case wsapi.MethodScheduleDelete:
		return struct{}{}, s.DeleteSchedule(ctx, byID.ID)
	default: // wsapi.MethodScheduleRun
		tasks, err := s.RunSchedule(ctx, byID.ID)
		return list[store.Task]{Items: tasks, Total: len(tasks)}, err
	}
}
