package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func (s *Store) NodeMetrics() store.NodeMetrics { return (*nodeMetrics)(s) }

type nodeMetrics Store

const nodeMetricCols = `at, cpu, mem_used, mem_total, disk_used, disk_total, net_rx, net_tx, load1`

func (s *nodeMetrics) Add(ctx context.Context, nodeID string, res time.Duration, p store.NodePoint) error {
	if err := checkID(nodeID); err != nil {
		return fmt.Errorf("store: add node point: %w", err)
	}
	if err := store.CheckNodeResolution(res); err != nil {
		return fmt.Errorf("store: add node point: %w", err)
	}
	// The slot's key decides: the first point written to it stands, as
	// in the MongoDB store.
	_, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO node_metrics (node_id, res, `+nodeMetricCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		nodeID, int64(res/time.Second), ms(p.At.Truncate(res)), p.CPU, int64(p.MemUsed), int64(p.MemTotal),
		int64(p.DiskUsed), int64(p.DiskTotal), p.NetRx, p.NetTx, p.Load1)
	if err != nil {
		return fmt.Errorf("store: add node point: %w", err)
	}
	return nil
}

func (s *nodeMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]store.NodePoint, error) {
	if err := checkID(nodeID); err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	if err := store.CheckNodeResolution(res); err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+nodeMetricCols+` FROM node_metrics
		WHERE node_id = ? AND res = ? AND at >= ? AND at < ? ORDER BY at`,
		nodeID, int64(res/time.Second), ms(from), ms(to))
	if err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	defer rows.Close()
	var pts []store.NodePoint
	for rows.Next() {
		var p store.NodePoint
		var at, memUsed, memTotal, diskUsed, diskTotal int64
		if err := rows.Scan(&at, &p.CPU, &memUsed, &memTotal, &diskUsed, &diskTotal, &p.NetRx, &p.NetTx, &p.Load1); err != nil {
			return nil, fmt.Errorf("store: node points: %w", err)
		}
		p.At = fromMS(at)
		p.MemUsed, p.MemTotal, p.DiskUsed, p.DiskTotal = uint64(memUsed), uint64(memTotal), uint64(diskUsed), uint64(diskTotal)
		pts = append(pts, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: node points: %w", err)
	}
	return pts, nil
}

// Expire deletes each resolution's points past its keep; SQLite has no
// expiry of its own, so the masters run it periodically.
func (s *nodeMetrics) Expire(ctx context.Context, now time.Time) error {
	for _, r := range store.NodeResolutions {
		if _, err := s.w.ExecContext(ctx, `DELETE FROM node_metrics WHERE res = ? AND at < ?`,
			int64(r.Step/time.Second), ms(now.Add(-r.Keep))); err != nil {
			return fmt.Errorf("store: expire node points: %w", err)
		}
	}
	return nil
}
