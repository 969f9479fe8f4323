package server

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Node history: every master records each heartbeat's load in the store
// (store.NodeRecorder: idempotent, so the masters need not agree on who
// does it), expires old points, serves ranges of it and pushes each new
// point to the nodes channel for open charts.

// heardPoint is a heartbeat's load waiting to be recorded.
type heardPoint struct {
	nodeID string
	point  store.NodePoint
}

// metricsQueue bounds the points waiting for the store. A heartbeat every
// 5 s from each of 1,000 nodes is 200 a second; this is several seconds of
// them, for a store that is slow for a moment. Past it points are dropped
// (the chart has a gap) rather than the bus goroutine waiting.
const metricsQueue = 2048

// metricsExpireEvery is how often each master deletes expired points
// where the store does not do it itself; every master does it, and it is
// idempotent.
const metricsExpireEvery = time.Minute

// droppedReportEvery is how often the points dropped are logged.
const droppedReportEvery = 10 * time.Second

// NodeMetricsEvent is a notification on the nodes channel carrying a
// node's new point, told apart from status changes (NodeEvent) by Event.
type NodeMetricsEvent struct {
	Event  string          `json:"event"` // "metrics"
	NodeID string          `json:"node_id"`
	Point  store.NodePoint `json:"point"`
}

// nodeMetricsEvent is NodeMetricsEvent.Event.
const nodeMetricsEvent = "metrics"

// heardMetrics takes a heartbeat's load on the bus goroutine: it pushes
// the point to the nodes channel and queues it for the store, never
// waiting for either.
func (s *Server) heardMetrics(nodeID string, hb *wire.Heartbeat) {
	m := hb.Metrics
	p := store.NodePoint{
		At: hb.At.UTC().Truncate(store.NodeResolutions[0].Step), CPU: m.CPU, MemUsed: m.MemUsed, MemTotal: m.MemTotal,
		DiskUsed: m.DiskUsed, DiskTotal: m.DiskTotal, NetRx: m.NetRx, NetTx: m.NetTx, Load1: m.Load1,
	}
	s.hub.Broadcast(wsapi.ChannelNodes, NodeMetricsEvent{Event: nodeMetricsEvent, NodeID: nodeID, Point: p})
	select {
	case s.points <- heardPoint{nodeID: nodeID, point: p}:
	default:
		// Counted and told every droppedReportEvery: a store that is
		// behind would otherwise get a log line per heartbeat.
		s.pointsDropped.Add(1)
	}
}

// recordNodeMetrics writes the queued points to the store and expires old
// ones, until ctx ends. It owns the recorder, which keeps the open slots'
// points of every node heard.
func (s *Server) recordNodeMetrics(ctx context.Context) {
	rec := store.NewNodeRecorder(s.store.NodeMetrics())
	t := time.NewTicker(metricsExpireEvery)
	defer t.Stop()
	report := time.NewTicker(droppedReportEvery)
	defer report.Stop()
	s.expireNodeMetrics(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case hp := <-s.points:
			wctx, cancel := context.WithTimeout(ctx, s.cfg.Heartbeat)
			err := rec.Record(wctx, hp.nodeID, hp.point)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("node load not recorded", "node_id", hp.nodeID, "err", err)
			}
		case <-report.C:
			if n := s.pointsDropped.Swap(0); n > 0 {
				s.log.Warn("node load not recorded: the store is behind", "points_dropped", n)
			}
		case now := <-t.C:
			s.expireNodeMetrics(ctx)
			// Nodes silent for a while are forgotten; if they come back,
			// their slots are closed from the store, as after a restart.
			rec.Forget(now.Add(-time.Hour))
		}
	}
}

func (s *Server) expireNodeMetrics(ctx context.Context) {
	if err := s.store.NodeMetrics().Expire(ctx, time.Now()); err != nil && ctx.Err() == nil {
		s.log.Warn("expired node load not deleted", "err", err)
	}
}

// metricsRanges are the ranges a node's history is read in, and the
// resolution each is read at: the finest tier that keeps the whole range.
var metricsRanges = map[string]struct{ span, step time.Duration }{
	"1h":  {time.Hour, store.NodeResolutions[0].Step},
	"24h": {24 * time.Hour, store.NodeResolutions[1].Step},
	"7d":  {7 * 24 * time.Hour, store.NodeResolutions[2].Step},
}

// NodeMetrics is the body of GET /api/nodes/:id/metrics and of node.metrics.
type NodeMetrics struct {
	NodeID string `json:"node_id"`
	Range  string `json:"range"`
	// Step is the points' resolution in seconds: each point is one slot.
	Step   int64             `json:"step"`
	From   time.Time         `json:"from"`
	To     time.Time         `json:"to"`
	Points []store.NodePoint `json:"points"`
}

// NodeMetrics reads a node's history over rng ("1h", "24h" or "7d"; empty
// means "1h") up to now.
func (s *Server) NodeMetrics(ctx context.Context, nodeID, rng string) (*NodeMetrics, error) {
	if rng == "" {
		rng = "1h"
	}
	r, ok := metricsRanges[rng]
	if !ok {
		return nil, badRequest("range " + rng + " is not one of 1h, 24h and 7d")
	}
	if !store.ValidID(nodeID) {
		return nil, badRequest("node id " + nodeID + " is not valid: ids are 24 hex digits, as listed by GET /api/nodes")
	}
	if _, err := s.store.Nodes().Get(ctx, nodeID); err != nil {
		return nil, err
	}
	to := time.Now().UTC()
	from := to.Add(-r.span).Truncate(r.step)
	pts, err := s.store.NodeMetrics().Range(ctx, nodeID, r.step, from, to.Add(r.step))
	if err != nil {
		return nil, err
	}
	if pts == nil {
		pts = []store.NodePoint{}
	}
	return &NodeMetrics{NodeID: nodeID, Range: rng, Step: int64(r.step / time.Second), From: from, To: to, Points: pts}, nil
}

func (s *Server) nodeMetrics(c echo.Context) error {
	m, err := s.NodeMetrics(c.Request().Context(), c.Param("id"), c.QueryParam("range"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, m)
}

func (s *Server) nodeMetricsCall(ctx context.Context, params []byte) (any, error) {
	var p struct {
		ID    string `json:"id"`
		Range string `json:"range"`
	}
	if err := hub.DecodeParams(params, &p); err != nil {
		return nil, err
	}
	return s.NodeMetrics(ctx, p.ID, p.Range)
}
