package tasklog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/loglevel"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// Config configures a Writer. Zero values mean the documented default.
type Config struct {
	// TaskID names the task in batches, in the store and in logs. Required.
	TaskID string
	// Path is the log file on the agent. Its directory is created if need be.
	Path string
	// Resume reopens an existing file and appends after its lines, instead
	// of starting a new one. A final line without '\n' (a torn write) is
	// kept as a line, as Recover counts it.
	Resume bool
	// Publish sends a live batch: TaskID, From and Lines are set, End never
	// is (the agent sends the end itself, with the task's status). It is
	// called from one goroutine, in line order, and must return when its
	// ctx ends. Errors are logged and the batch is lost for live viewers
	// only. Nil means no live batches.
	Publish func(ctx context.Context, b wire.LogBatch) error
	// PublishTimeout bounds one Publish call. Zero means 2 s: a batch that
	// late is of little use to a live viewer, and a dead connection must not
	// hold up the batches behind it for long.
	PublishTimeout time.Duration
	// Store receives the durable copy: a store.Logs, or ItemStore for a
	// task's items. Required.
	Store Store
	// MaxLine is the longest line in bytes; a longer one is split into
	// several lines, none lost. Zero means 64 KiB; at least 4 (one rune).
	// For items it must exceed the largest item, which is never split.
	MaxLine int
	// MaxBytes bounds the output kept: past its first MaxBytes bytes the
	// rest is only counted, and a line of the log says so where it was cut
	// and another at the end, how much ("[crawlhub] …"). The file may end a
	// little larger (invalid UTF-8 made valid, those notes). Zero means no
	// limit, as for items, which must never be cut.
	MaxBytes int64
	// BatchBytes: a batch is published when it reaches this size (its lines
	// plus one byte each, as in the file), and never exceeds it unless one
	// line alone does. Zero means 32 KiB.
	BatchBytes int
	// BatchDelay: a batch is published at the latest this long after its
	// first line. Zero means 20 ms.
	BatchDelay time.Duration
	// SaveEvery: lines reach the store at least this often, so an agent that
	// dies loses at most this much of the store's copy. Zero means 2 s; it
	// must be under 5 s, the design's promise.
	SaveEvery time.Duration
	// Levels, when set, counts the lines by level as they are written
	// (loglevel's rules), in order, before they are published: the
	// agent's live log_levels. Nil for a task's items.
	Levels *loglevel.Counter
	// Log receives warnings (lost batches, store errors). Zero means
	// slog.Default().
	Log *slog.Logger
}

// Store is the part of store.Logs a Writer and Recover use: where the
// lines are kept for good. store.Logs is one; ItemStore is another, which
// keeps each line as an item.
type Store interface {
	// AppendLog stores lines from, from+1, …: lines already stored are
	// skipped, and from past the stored length is store.ErrLogGap.
	AppendLog(ctx context.Context, taskID string, from int64, lines []string) error
	// LogLen returns how many lines are stored.
	LogLen(ctx context.Context, taskID string) (int64, error)
}

var _ Store = store.Logs(nil)

// Defaults and limits, see Config.
const (
	defaultMaxLine        = 64 << 10
	defaultBatchBytes     = 32 << 10
	defaultBatchDelay     = 20 * time.Millisecond
	defaultSaveEvery      = 2 * time.Second
	maxSaveEvery          = 5 * time.Second
	defaultPublishTimeout = 2 * time.Second
)

func (c *Config) setDefaults() error {
	switch {
	case c.TaskID == "":
		return errors.New("tasklog: a task id is required")
	case c.Path == "":
		return errors.New("tasklog: a log file path is required")
	case c.Store == nil:
		return errors.New("tasklog: a store is required")
	case c.MaxLine < 0, c.MaxBytes < 0, c.BatchBytes < 0, c.BatchDelay < 0, c.SaveEvery < 0, c.PublishTimeout < 0:
		return errors.New("tasklog: sizes and durations must not be negative (zero means the default)")
	case c.MaxLine > 0 && c.MaxLine < utf8.UTFMax:
		return fmt.Errorf("tasklog: MaxLine %d is too small: a line piece must hold a rune (%d bytes)", c.MaxLine, utf8.UTFMax)
	case c.SaveEvery >= maxSaveEvery:
		return fmt.Errorf("tasklog: SaveEvery %v must be under %v: the store must never be further behind", c.SaveEvery, maxSaveEvery)
	}
	if c.MaxLine == 0 {
		c.MaxLine = defaultMaxLine
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = defaultBatchBytes
	}
	if c.BatchDelay == 0 {
		c.BatchDelay = defaultBatchDelay
	}
	if c.SaveEvery == 0 {
		c.SaveEvery = defaultSaveEvery
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = defaultPublishTimeout
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return nil
}
