package tasklog

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/crawlhub/crawlhub/wire"
)

// liveLagBatches: a publisher more than this many batches' worth of bytes
// behind the file (8 MiB by default) skips ahead to the newest lines, and
// the skipped ones are lost for live viewers (logged; they can fetch them
// with get_log). Live viewers want what is happening now: after a long
// Redis outage, replaying minutes of output would only bury it.
const liveLagBatches = 256

// lossReportEvery limits warnings about lost batches to one per interval
// (with totals), so a Redis outage does not flood the agent's log.
const lossReportEvery = time.Second

var (
	errClosing     = errors.New("publishing failed while closing: the rest is dropped")
	errFarBehind   = errors.New("publishing is too far behind: skipped to the newest lines")
	errCatchUpRead = errors.New("reading the log file to catch up failed")
)

// publisher sends live batches with Config.Publish, from its own goroutine
// (run): the batches the batcher queued, in order, and the backlog the
// batcher left in the file, read back from there.
type publisher struct {
	taskID   string
	send     func(context.Context, wire.LogBatch) error
	timeout  time.Duration
	maxBytes int // BatchBytes, for batches read back from the file
	log      *slog.Logger
	file     *localFile
	batches  *batcher

	// ctx ends when Close gives up waiting: what is left is dropped.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // run has returned

	// Used only by run's goroutine, then by close once run has returned.
	failed bool // the last Publish failed
	loss   lossLog
}

func newPublisher(cfg *Config, log *slog.Logger, file *localFile, batches *batcher) *publisher {
	p := &publisher{
		taskID:   cfg.TaskID,
		send:     cfg.Publish,
		timeout:  cfg.PublishTimeout,
		maxBytes: cfg.BatchBytes,
		log:      log,
		file:     file,
		batches:  batches,
		done:     make(chan struct{}),
		loss:     lossLog{log: log},
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p
}

// run sends sealed batches, in order, and the lines seal left in the file
// when the queue was full, until the batcher closes the queue.
func (p *publisher) run() {
	defer close(p.done)
	c := catchUp{lr: p.file.reader(), line: -1}
	for {
		var b *pending
		var ok bool
		select {
		case b, ok = <-p.batches.queue:
		default:
			if p.catchUp(&c) {
				continue
			}
			// Nothing to catch up, or batches to send first: wait for one.
			// (seal falls back on the file only when the queue is full, so
			// this receive cannot sleep through a catch-up.)
			b, ok = <-p.batches.queue
		}
		if !ok {
			p.catchUp(&c) // what the last seals left in the file
			return
		}
		if err := p.dropReason(); err != nil {
			p.loss.add(b.from, len(b.ends), err)
			p.batches.recycle(b)
			continue
		}
		lb := b.batch(p.taskID)
		p.batches.recycle(b)
		p.publish(lb)
	}
}

// catchUp is where the publisher reads the file from.
type catchUp struct {
	lr   lineReader
	line int64 // line starts at byte off; -1: not known
	off  int64
}

// catchUp publishes, from the file, the lines seal did not queue, until it
// reaches the batch being built; then seal queues batches again. It reports
// whether there was anything to catch up.
func (p *publisher) catchUp(c *catchUp) bool {
	did := false
	lag := int64(liveLagBatches) * int64(p.maxBytes)
	for {
		from, target, ok := p.batches.backlog()
		if !ok {
			return did
		}
		// The file holds every line before target: append runs before add.
		size, skipTo := p.file.tail(lag)
		did = true

		skip := func(to int64, err error) {
			p.loss.add(from, int(to-from), err)
			p.batches.caughtUp(to)
		}
		if err := p.dropReason(); err != nil {
			skip(target, err)
			continue
		}
		if c.line != from {
			off, err := p.file.locate(&c.lr, from)
			if err != nil {
				p.log.Error("reading the log file to catch up live batches failed", "error", err)
				skip(target, errCatchUpRead)
				continue
			}
			c.line, c.off = from, off
		}
		if size-c.off > lag && skipTo.line > from && skipTo.line <= target {
			skip(skipTo.line, errFarBehind)
			c.line, c.off = skipTo.line, skipTo.off
			continue
		}
		lines, next, err := c.lr.read(c.off, size, int(target-from), p.maxBytes, false)
		if err != nil || len(lines) == 0 {
			p.log.Error("reading the log file to catch up live batches failed", "error", err)
			skip(target, errCatchUpRead)
			continue
		}
		p.publish(wire.LogBatch{TaskID: p.taskID, From: from, Lines: lines})
		c.line, c.off = from+int64(len(lines)), next
		p.batches.caughtUp(c.line)
	}
}

// dropReason says why the publisher should not even try to publish: Close
// is waiting and publishing is hopeless, or Close's ctx has ended.
func (p *publisher) dropReason() error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	if p.failed && p.batches.closing.Load() {
		return errClosing
	}
	return nil
}

func (p *publisher) publish(b wire.LogBatch) {
	ctx, cancel := context.WithTimeout(p.ctx, p.timeout)
	err := p.send(ctx, b)
	cancel()
	p.failed = err != nil
	if err != nil {
		p.loss.add(b.From, len(b.Lines), err)
	}
}

// close waits for run to send what is left, after the batcher's close. If
// ctx ends first, the rest is dropped (and logged) at once.
func (p *publisher) close(ctx context.Context) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	p.cancel()
	p.loss.flush()
}

// lossLog reports lines lost for live viewers, at most once per
// lossReportEvery with totals, and once more at Close. It belongs to the
// publisher's goroutine.
type lossLog struct {
	log   *slog.Logger
	lines int64
	from  int64 // the first lost line since the last report
	err   error // the latest reason
	last  time.Time
}

func (l *lossLog) add(from int64, lines int, err error) {
	if l.lines == 0 {
		l.from = from
	}
	l.lines += int64(lines)
	l.err = err
	if time.Since(l.last) >= lossReportEvery {
		l.flush()
	}
}

// flush reports the lines lost since the last report, if any.
func (l *lossLog) flush() {
	if l.lines == 0 {
		return
	}
	l.log.Warn("live log lines lost; the log file and the store still have them",
		"from", l.from, "lines", l.lines, "error", l.err)
	l.lines, l.err = 0, nil
	l.last = time.Now()
}
