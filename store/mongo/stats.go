package mongo

import (
	"context"
	"errors"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func (s *Store) Stats() store.Stats { return (*stats)(s) }

type stats Store

func (s *stats) TaskStats(ctx context.Context, q store.StatsQuery) (*store.TaskStats, error) {
	return nil, errors.ErrUnsupported
}

func (s *stats) Fold(ctx context.Context, before time.Time) (int, error) { return 0, nil }
