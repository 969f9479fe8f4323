package store

import (
	"context"
	"time"
)

// NodePoint is one sample of a node's load, as its heartbeats report it.
type NodePoint struct {
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

// NodeMetrics keeps a bounded history of each node's points at a few
// resolutions (see the implementation for which and for how long).
type NodeMetrics interface {
	// Add records p for nodeID. Recording the same point twice (two
	// masters hearing one heartbeat) stores it once.
	Add(ctx context.Context, nodeID string, p NodePoint) error
	// Range returns nodeID's points in [from, to) at resolution res,
	// oldest first.
	Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]NodePoint, error)
	// Expire removes the points older than their resolution keeps.
	Expire(ctx context.Context, now time.Time) error
}
