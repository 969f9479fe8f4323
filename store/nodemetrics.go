package store

import (
	"context"
	"fmt"
	"time"
)

// NodePoint is one sample of a node's load, as its heartbeats report it,
// or the average of the finer points of one slot.
type NodePoint struct {
	// At is the start of the point's slot at its resolution.
	At time.Time `json:"at"`
	// CPU is the share of all CPUs busy, 0–100.
	CPU       float64 `json:"cpu"`
	MemUsed   uint64  `json:"mem_used"`
	MemTotal  uint64  `json:"mem_total"`
	DiskUsed  uint64  `json:"disk_used"`
	DiskTotal uint64  `json:"disk_total"`
	// NetRx and NetTx are bytes per second received and sent.
	NetRx float64 `json:"net_rx"`
	NetTx float64 `json:"net_tx"`
	Load1 float64 `json:"load1"`
}

// NodeResolution is one tier of a node's history: a point per Step, kept
// for Keep.
type NodeResolution struct {
	Step, Keep time.Duration
}

// NodeResolutions are the tiers of every node's history, finest first. Each
// Step divides the next one's (a coarse slot is made of whole finer
// slots), and each tier is computed from the one before it; the charts'
// ranges (1 h, 24 h, 7 d) each fit in one tier's Keep.
var NodeResolutions = []NodeResolution{
	{Step: 10 * time.Second, Keep: time.Hour},
	{Step: time.Minute, Keep: 24 * time.Hour},
	{Step: 10 * time.Minute, Keep: 30 * 24 * time.Hour},
}

// NodeResolutionOf returns the tier whose Step is step; ok is false when
// there is none.
func NodeResolutionOf(step time.Duration) (NodeResolution, bool) {
	for _, r := range NodeResolutions {
		if r.Step == step {
			return r, true
		}
	}
	return NodeResolution{}, false
}

// NodeMetrics keeps a bounded history of each node's points at the
// NodeResolutions. Several masters hear every heartbeat and record it, so
// every write is a replacement of a whole slot, keyed by (node,
// resolution, slot): the same inputs write the same thing, and writing it
// twice stores it once. RecordNodePoint is how a heartbeat's point is
// written.
type NodeMetrics interface {
	// Add stores p for nodeID at resolution res (one of NodeResolutions'
	// steps) in the slot p.At falls in, replacing what the slot held. The
	// stored point's At is the slot's start.
	Add(ctx context.Context, nodeID string, res time.Duration, p NodePoint) error
	// Range returns nodeID's points in [from, to) at resolution res,
	// oldest first.
	Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]NodePoint, error)
	// Expire removes the points older than their resolution keeps,
	// relative to now. Idempotent: every master may run it. Where the
	// database removes them itself (a MongoDB TTL index), it does nothing.
	Expire(ctx context.Context, now time.Time) error
}

// CheckNodeResolution is the stores' check of a resolution argument.
func CheckNodeResolution(res time.Duration) error {
	if _, ok := NodeResolutionOf(res); !ok {
		return fmt.Errorf("node metrics: no resolution of %v (there are 10s, 1m and 10m)", res)
	}
	return nil
}

// RecordNodePoint writes a heartbeat's point p of nodeID: into its slot of
// the finest tier, and, when p is the first point heard past the end of a
// coarser slot, that slot whole, as the average of the finer tier's points
// in it. prev is the At of the previous point heard from the node (zero if
// none was: a master that just started, or a node heard for the first
// time), so a slot is closed once, when the node's heartbeats cross its
// end; with no prev, the slot just before p's is closed again, in case it
// was left open by a restart. Every master hearing the same heartbeats
// writes the same points, so several may record them without
// coordination.
func RecordNodePoint(ctx context.Context, m NodeMetrics, nodeID string, p NodePoint, prev time.Time) error {
	fine := NodeResolutions[0]
	p.At = p.At.Truncate(fine.Step)
	if err := m.Add(ctx, nodeID, fine.Step, p); err != nil {
		return err
	}
	if prev.IsZero() {
		prev = p.At.Add(-fine.Step)
	}
	for _, coarse := range NodeResolutions[1:] {
		closed := prev.Truncate(coarse.Step)
		if !closed.Before(p.At.Truncate(coarse.Step)) {
			// Still open (or p is older than prev: a late heartbeat); a
			// coarser slot cannot have closed either, its boundaries
			// being this one's.
			return nil
		}
		pts, err := m.Range(ctx, nodeID, fine.Step, closed, closed.Add(coarse.Step))
		if err != nil {
			return err
		}
		if len(pts) > 0 {
			if err := m.Add(ctx, nodeID, coarse.Step, AverageNodePoints(closed, pts)); err != nil {
				return err
			}
		}
		fine = coarse
	}
	return nil
}

// AverageNodePoints is the point of the slot starting at at made of pts:
// the mean of each figure. It depends only on the points' values, not
// their order, so every master computes the same.
func AverageNodePoints(at time.Time, pts []NodePoint) NodePoint {
	avg := NodePoint{At: at}
	if len(pts) == 0 {
		return avg
	}
	n := float64(len(pts))
	var memUsed, memTotal, diskUsed, diskTotal float64
	for _, p := range pts {
		avg.CPU += p.CPU
		avg.NetRx += p.NetRx
		avg.NetTx += p.NetTx
		avg.Load1 += p.Load1
		memUsed += float64(p.MemUsed)
		memTotal += float64(p.MemTotal)
		diskUsed += float64(p.DiskUsed)
		diskTotal += float64(p.DiskTotal)
	}
	avg.CPU /= n
	avg.NetRx /= n
	avg.NetTx /= n
	avg.Load1 /= n
	avg.MemUsed, avg.MemTotal = uint64(memUsed/n), uint64(memTotal/n)
	avg.DiskUsed, avg.DiskTotal = uint64(diskUsed/n), uint64(diskTotal/n)
	return avg
}
