package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// StatsParams select the overview's window (GET /api/stats, the stats
// method): RFC 3339 times and "hour" or "day". Empty To is now; empty
// From is a day before To by hours, 30 days by days.
type StatsParams struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Bucket string `json:"bucket"`
}

// TaskStats is the overview of the window p selects.
func (s *Server) TaskStats(ctx context.Context, p StatsParams) (*store.TaskStats, error) {
	q := store.StatsQuery{Bucket: time.Hour, To: store.Now()}
	span := 24 * time.Hour
	switch p.Bucket {
	case "", "hour":
	case "day":
		q.Bucket, span = 24*time.Hour, 30*24*time.Hour
	default:
		return nil, badRequest(`bucket must be "hour" or "day", not "` + p.Bucket + `"`)
	}
	for _, f := range []struct {
		name, val string
		dst       *time.Time
	}{{"to", p.To, &q.To}, {"from", p.From, &q.From}} {
		if f.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.val)
		if err != nil {
			return nil, badRequest(f.name + " must be an RFC 3339 time, like 2026-12-01T00:00:00Z, not " + f.val)
		}
		*f.dst = t
	}
	if p.From == "" {
		q.From = q.To.Add(-span)
	}
	st, err := s.store.Stats().TaskStats(ctx, q)
	if errors.Is(err, store.ErrBadStatsQuery) {
		return nil, badRequest(err.Error())
	}
	return st, err
}

func (s *Server) taskStatsHTTP(c echo.Context) error {
	st, err := s.TaskStats(c.Request().Context(), StatsParams{From: c.QueryParam("from"), To: c.QueryParam("to"),
		Bucket: c.QueryParam("bucket")})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, st)
}

func (s *Server) taskStatsCall(ctx context.Context, params json.RawMessage) (any, error) {
	var p StatsParams
	if err := hub.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	return s.TaskStats(ctx, p)
}

// statsFoldEvery is how often each master tries to claim the fold; the
// claim (wire.StatsFoldTTL) decides how often one actually runs.
const statsFoldEvery = time.Minute

// foldStats folds the overview's task ends into the rollups of the closed
// hours (store.Stats.Fold), until ctx ends: every master tries, the one
// that claims wire.StatsFoldKey folds, and stops before its claim expires,
// so two folds never overlap.
func (s *Server) foldStats(ctx context.Context) {
	t := time.NewTicker(statsFoldEvery)
	defer t.Stop()
	for {
		s.foldStatsOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) foldStatsOnce(ctx context.Context) {
	ok, err := s.bus.Claim(ctx, wire.StatsFoldKey, wire.StatsFoldTTL)
	if err != nil || !ok {
		if err != nil && ctx.Err() == nil {
			s.log.Warn("the overview's fold not claimed; trying again later", "err", err)
		}
		return
	}
	fctx, cancel := context.WithTimeout(ctx, wire.StatsFoldTTL-time.Minute)
	defer cancel()
	n, err := s.store.Stats().Fold(fctx, time.Now().UTC().Truncate(time.Hour))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("the overview's task ends not folded; the next fold takes them", "err", err)
	case n > 0:
		s.log.Debug("the overview's task ends folded", "count", n)
	}
}
