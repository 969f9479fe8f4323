package store

import (
	"context"
	"fmt"
	"slices"
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
// a point is keyed by (node, resolution, slot) and the first one written
// to a slot stands: the same heartbeat, or the same average, written by
// two masters is stored once, and no write reads or changes what is
// stored (an insert that may find its key taken: on FerretDB an update
// scans the collection, an insert does not). A NodeRecorder is how
// heartbeats' points are written.
type NodeMetrics interface {
	// Add stores p for nodeID at resolution res (one of NodeResolutions'
	// steps) in the slot p.At falls in, unless the slot holds a point
	// already: then it does nothing. The stored point's At is the slot's
	// start.
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

// NodeRecorder writes the points of heartbeats as one master hears them:
// each slot of the finest tier gets the first heartbeat heard in it, and, when a node's heartbeats
// cross the end of a coarser slot, that slot whole, as the average of the
// finer tier's points in it. Every master hearing the same heartbeats
// writes the same points, so several may record them without
// coordination.
//
// The finer points of the open slots are kept in memory, so that closing
// a slot costs one write and no read (on FerretDB a read scans the whole
// collection). A slot this recorder did not hear from its start (it
// started meanwhile, or the node was silent) is averaged from the store
// instead, so a restart loses nothing another master or its predecessor
// wrote. Not safe for concurrent use: a master has one, owned by the
// goroutine that records.
type NodeRecorder struct {
	m     NodeMetrics
	nodes map[string]*nodeWindow
}

// nodeWindow is what a NodeRecorder keeps of one node.
type nodeWindow struct {
	since time.Time // the first point heard (its slot at the finest tier)
	prev  time.Time // the newest point heard
	// open[i] are the points of tier i (finest first) since the start
	// of the open slot of tier i+1, by slot.
	open []map[time.Time]NodePoint
}

// NewNodeRecorder returns a NodeRecorder writing to m.
func NewNodeRecorder(m NodeMetrics) *NodeRecorder {
	return &NodeRecorder{m: m, nodes: map[string]*nodeWindow{}}
}

// Record writes the point p of a heartbeat of nodeID and the coarser
// slots it closes. A point older than the newest heard of the node (a late
// heartbeat) is written to its fine slot only.
func (r *NodeRecorder) Record(ctx context.Context, nodeID string, p NodePoint) error {
	fine := NodeResolutions[0]
	p.At = p.At.UTC().Truncate(fine.Step)
	if err := r.m.Add(ctx, nodeID, fine.Step, p); err != nil {
		return err
	}
	w := r.nodes[nodeID]
	if w == nil {
		w = &nodeWindow{since: p.At, prev: p.At.Add(-fine.Step), open: make([]map[time.Time]NodePoint, len(NodeResolutions)-1)}
		for i := range w.open {
			w.open[i] = map[time.Time]NodePoint{}
		}
		r.nodes[nodeID] = w
	}
	if p.At.Before(w.prev) {
		return nil
	}
	prev := w.prev
	w.prev = p.At
	if _, ok := w.open[0][p.At]; !ok {
		// The first point of a slot is the one the store keeps.
		w.open[0][p.At] = p
	}
	for i, coarse := range NodeResolutions[1:] {
		closed := prev.Truncate(coarse.Step)
		if !closed.Before(p.At.Truncate(coarse.Step)) {
			// Still open; a coarser slot cannot have closed either, its
			// boundaries being this one's.
			return nil
		}
		end := closed.Add(coarse.Step)
		var pts []NodePoint
		for at, q := range w.open[i] {
			if at.Before(end) {
				if !at.Before(closed) {
					pts = append(pts, q)
				}
				delete(w.open[i], at)
			}
		}
		if w.since.After(closed) {
			// Not heard from the slot's start: the store has what others
			// (or this master before a restart) heard.
			stored, err := r.m.Range(ctx, nodeID, NodeResolutions[i].Step, closed, end)
			if err != nil {
				return err
			}
			pts = stored
		}
		if len(pts) == 0 {
			continue
		}
		avg := AverageNodePoints(closed, pts)
		if err := r.m.Add(ctx, nodeID, coarse.Step, avg); err != nil {
			return err
		}
		if i+1 < len(w.open) {
			w.open[i+1][closed] = avg
		}
	}
	return nil
}

// Forget drops what is kept of the nodes not heard since before: if one
// is heard again, it is as after a restart.
func (r *NodeRecorder) Forget(before time.Time) {
	for id, w := range r.nodes {
		if w.prev.Before(before) {
			delete(r.nodes, id)
		}
	}
}

// AverageNodePoints is the point of the slot starting at at made of pts:
// the mean of each figure. It depends only on the points' values, not
// their order, so every master computes the same.
func AverageNodePoints(at time.Time, pts []NodePoint) NodePoint {
	avg := NodePoint{At: at}
	if len(pts) == 0 {
		return avg
	}
	// Summed in time order: floating-point sums depend on the order, and
	// every master must write the very same figures.
	pts = slices.Clone(pts)
	slices.SortFunc(pts, func(a, b NodePoint) int { return a.At.Compare(b.At) })
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
