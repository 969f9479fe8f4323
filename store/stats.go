package store

import (
	"context"
	"time"
)

// StatsQuery selects a window of task outcomes: tasks that ended in
// [From, To), counted per Bucket (time.Hour or 24*time.Hour, aligned to
// UTC).
type StatsQuery struct {
	From   time.Time
	To     time.Time
	Bucket time.Duration
}

// StatsBucket is one bucket of a window: how many tasks ended in it, by
// their final status.
type StatsBucket struct {
	Start  time.Time        `json:"start"`
	Counts map[string]int64 `json:"counts"`
}

// SpiderStats is one spider's share of a window.
type SpiderStats struct {
	SpiderID   string           `json:"spider_id"`
	SpiderName string           `json:"spider_name"`
	Counts     map[string]int64 `json:"counts"`
	// Failed counts error and abnormal ends.
	Failed int64 `json:"failed"`
	// AvgSeconds and P95Seconds are the run time (started → finished) of
	// its tasks that ran; P95 may be approximate (a histogram's bound).
	AvgSeconds float64 `json:"avg_seconds"`
	P95Seconds float64 `json:"p95_seconds"`
	Items      int64   `json:"items"`
}

// TaskStats is the overview of a window.
type TaskStats struct {
	From    time.Time     `json:"from"`
	To      time.Time     `json:"to"`
	Bucket  string        `json:"bucket"` // "hour" or "day"
	Buckets []StatsBucket `json:"buckets"`
	// Totals are the window's ends by final status.
	Totals map[string]int64 `json:"totals"`
	// SuccessRate is finished / ended in the window, 0 when none ended.
	SuccessRate float64 `json:"success_rate"`
	// Running and Pending are now, not in the window.
	Running int64 `json:"running"`
	Pending int64 `json:"pending"`
	Items   int64 `json:"items"`
	// Spiders are the spiders with ends in the window, those failing most
	// first.
	Spiders []SpiderStats `json:"spiders"`
}

// Stats computes the overview from what the store keeps as tasks end
// (never by loading every task).
type Stats interface {
	TaskStats(ctx context.Context, q StatsQuery) (*TaskStats, error)
}
