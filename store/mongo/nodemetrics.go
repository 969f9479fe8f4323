package mongo

import (
	"context"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func (s *Store) NodeMetrics() store.NodeMetrics { return (*nodeMetrics)(s) }

type nodeMetrics Store

func (s *nodeMetrics) Add(ctx context.Context, nodeID string, p store.NodePoint) error {
	return errors.ErrUnsupported
}

func (s *nodeMetrics) Range(ctx context.Context, nodeID string, res time.Duration, from, to time.Time) ([]store.NodePoint, error) {
	return nil, errors.ErrUnsupported
}

func (s *nodeMetrics) Expire(ctx context.Context, now time.Time) error { return errors.ErrUnsupported }
