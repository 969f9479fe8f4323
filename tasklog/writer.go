package tasklog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	// Store receives the durable copy. Required.
	Store store.Logs
	// MaxLine is the longest line in bytes; a longer one is split into
	// several lines, none lost. Zero means 64 KiB; at least 4 (one rune).
	MaxLine int
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
	// Log receives warnings (lost batches, store errors). Zero means
	// slog.Default().
	Log *slog.Logger
}

// Defaults and limits, see Config.
const (
	defaultMaxLine        = 64 << 10
	defaultBatchBytes     = 32 << 10
	defaultBatchDelay     = 20 * time.Millisecond
	defaultSaveEvery      = 2 * time.Second
	maxSaveEvery          = 5 * time.Second
	defaultPublishTimeout = 2 * time.Second
)

// liveQueue is how many sealed batches may wait for Publish. With BatchBytes
// it bounds the memory a slow publisher costs (1 MiB by default). Past it,
// batches are not queued: the publisher reads their lines back from the
// file once it has sent the queue, so a slow publisher loses nothing.
const liveQueue = 32

// liveLagBatches: a publisher more than this many batches' worth of bytes
// behind the file (8 MiB by default) skips ahead to the newest lines, and
// the skipped ones are lost for live viewers (logged; they can fetch them
// with get_log). Live viewers want what is happening now: after a long
// Redis outage, replaying minutes of output would only bury it.
const liveLagBatches = 256

// writeChunk: Write processes its input in pieces of at most this size, so
// its buffers stay small whatever one Write hands it. os/exec copies a
// command's output in 32 KiB reads, so one piece is the common case.
const writeChunk = 256 << 10

// lossReportEvery limits warnings about lost batches to one per interval
// (with totals), so a Redis outage does not flood the agent's log.
const lossReportEvery = time.Second

// ErrClosed is returned by Write and Read after Close.
var ErrClosed = errors.New("tasklog: writer closed")

// Writer is one task's log. Write is called by one goroutine (it is the
// command's stdout and stderr); Lines and Read may be called from any
// goroutine at any time; Close after the last Write returns.
type Writer struct {
	cfg Config
	log *slog.Logger

	// Used only by the goroutine that calls Write, then by Close (Write and
	// Close never run at once).
	split  splitter
	closed atomic.Bool

	// fileMu lets Read use f without holding mu during I/O: Read holds it
	// shared; Close takes it to close f.
	fileMu sync.RWMutex
	f      *os.File

	// mu guards what Write shares with Read, the saver and the batcher. It
	// is held only for bookkeeping, never during I/O.
	mu    sync.Mutex
	lines int64 // whole lines in the file
	size  int64 // bytes in the file: all of them whole lines
	index index
	batch *pending // nil when there is no Publish, and after Close

	// behind: the queue was full, so the lines of sealed batches from line
	// catchFrom on are left in the file for the publisher to read (mu).
	behind    bool
	catchFrom int64

	// Live batches: the batcher seals a batch BatchDelay after its first
	// line (size seals it in Write); the publisher sends sealed batches.
	queue         chan *pending
	free          chan *pending
	kick          chan struct{}
	stopBatcher   chan struct{}
	batcherDone   chan struct{}
	pubCtx        context.Context
	pubCancel     context.CancelFunc
	publisherDone chan struct{}
	pubFailed     bool // the last Publish failed; used by the publisher only
	closing       atomic.Bool
	loss          lossLog

	// Saving: the saver uploads every SaveEvery; Close hands it its ctx for
	// the final save, or closes quit when that ctx has already ended.
	up          uploader
	saveCtx     context.Context
	saveCancel  context.CancelFunc
	final       chan context.Context
	finalErr    chan error
	quit        chan struct{}
	saverDone   chan struct{}
	closeMu     sync.Mutex
	closeResult *closeResult
}

type closeResult struct {
	total int64
	err   error
}

// pending is a batch being built or waiting for Publish: the lines, each
// followed by '\n', in one buffer, so adding a line costs no allocation.
type pending struct {
	from int64
	born time.Time // when its first line came
	buf  []byte
	ends []int // offsets in buf just past each line's '\n'
}

func (p *pending) batch(taskID string) wire.LogBatch {
	s := string(p.buf) // one copy; the lines share it
	lines := make([]string, len(p.ends))
	start := 0
	for i, e := range p.ends {
		lines[i] = s[start : e-1]
		start = e
	}
	return wire.LogBatch{TaskID: taskID, From: p.from, Lines: lines}
}

// Open creates the log file (or reopens it, with Resume) and starts the
// Writer's goroutines, which Close stops. A task id gets one log: the store
// keeps lines by number and skips those it has, so a new log (no Resume)
// for a task whose lines are already stored would not replace them.
func Open(cfg Config) (*Writer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o755); err != nil {
		return nil, fmt.Errorf("tasklog: task %s: log directory: %w", cfg.TaskID, err)
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if !cfg.Resume {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(cfg.Path, flags, 0o644)
	if err != nil {
		return nil, fmt.Errorf("tasklog: task %s: opening the log file: %w", cfg.TaskID, err)
	}
	w := &Writer{
		cfg:         cfg,
		log:         cfg.Log.With("task_id", cfg.TaskID),
		split:       splitter{max: cfg.MaxLine},
		f:           f,
		index:       index{{0, 0}},
		stopBatcher: make(chan struct{}),
		batcherDone: make(chan struct{}),
		final:       make(chan context.Context),
		finalErr:    make(chan error, 1),
		quit:        make(chan struct{}),
		saverDone:   make(chan struct{}),
	}
	if cfg.Resume {
		if err := w.resume(); err != nil {
			f.Close()
			return nil, fmt.Errorf("tasklog: task %s: reopening the log file: %w", cfg.TaskID, err)
		}
	}
	w.loss.log = w.log
	w.up = uploader{st: cfg.Store, taskID: cfg.TaskID, lr: w.reader(), stored: -1}
	w.up.locate = func(line int64) (int64, error) { return w.locate(&w.up.lr, line) }
	w.saveCtx, w.saveCancel = context.WithCancel(context.Background())
	w.pubCtx, w.pubCancel = context.WithCancel(context.Background())
	if cfg.Publish != nil {
		w.batch = &pending{}
		w.queue = make(chan *pending, liveQueue)
		w.free = make(chan *pending, 4)
		w.kick = make(chan struct{}, 1)
		w.publisherDone = make(chan struct{})
		go w.publishLoop()
		go w.batchLoop()
	} else {
		close(w.batcherDone)
	}
	go w.saveLoop()
	return w, nil
}

func (c *Config) setDefaults() error {
	switch {
	case c.TaskID == "":
		return errors.New("tasklog: a task id is required")
	case c.Path == "":
		return errors.New("tasklog: a log file path is required")
	case c.Store == nil:
		return errors.New("tasklog: a store is required")
	case c.MaxLine < 0, c.BatchBytes < 0, c.BatchDelay < 0, c.SaveEvery < 0, c.PublishTimeout < 0:
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

// reader returns a reader of the file. Only a resumed file may hold
// invalid UTF-8 (a torn last line), and stores may refuse it.
func (w *Writer) reader() lineReader {
	return lineReader{r: w.f, sanitize: w.cfg.Resume}
}

// resume indexes the existing file and makes it end with '\n'.
func (w *Writer) resume() error {
	fi, err := w.f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	lr := lineReader{r: w.f}
	n, err := lr.count(end, &w.index)
	if err != nil {
		return err
	}
	if end > 0 {
		b, err := lr.fill(end-1, 1)
		if err != nil {
			return err
		}
		if b[0] != '\n' {
			// A torn last line (the writer died mid-write): end it, so that
			// new lines start on a line of their own.
			if _, err := w.f.Write([]byte{'\n'}); err != nil {
				return err
			}
			end++
		}
	}
	w.lines, w.size = n, end
	return nil
}

// Write splits p into lines and appends them to the file. It returns an
// error only when the file cannot be written. It never waits for the
// network.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	n := 0
	for len(p) > 0 {
		c := p[:min(len(p), writeChunk)]
		w.split.write(c)
		if err := w.flush(); err != nil {
			return n, err
		}
		n += len(c)
		p = p[len(c):]
	}
	return n, nil
}

// flush writes the lines the splitter emitted to the file in one write, then
// makes them visible to Read, the saver and the batcher.
func (w *Writer) flush() error {
	s := &w.split
	defer s.reset()
	if len(s.ends) == 0 {
		return nil
	}
	if _, err := w.f.Write(s.out); err != nil {
		// A short write would leave a torn line and shift every later line
		// number, so cut the file back to its whole lines. (Only Write and
		// Close change size, and they are this goroutine.)
		w.mu.Lock()
		size := w.size
		w.mu.Unlock()
		if terr := w.f.Truncate(size); terr != nil {
			err = errors.Join(err, terr)
		}
		return fmt.Errorf("tasklog: task %s: writing the log file: %w", w.cfg.TaskID, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	start := 0
	for _, e := range s.ends {
		w.index.note(w.lines, w.size+int64(start))
		if w.batch != nil {
			w.addToBatch(s.out[start:e])
		}
		w.lines++
		start = e
	}
	w.size += int64(len(s.out))
	return nil
}

// addToBatch adds line number w.lines (l, with its '\n') to the batch being
// built, sealing batches by size. w.mu is held.
func (w *Writer) addToBatch(l []byte) {
	b := w.batch
	if len(b.buf) > 0 && len(b.buf)+len(l) > w.cfg.BatchBytes {
		w.seal()
		b = w.batch
	}
	if len(b.ends) == 0 {
		b.from = w.lines
		b.born = time.Now()
		select {
		case w.kick <- struct{}{}: // the batcher times the new batch
		default: // it already has a kick coming, and will look at this batch
		}
	}
	b.buf = append(b.buf, l...)
	b.ends = append(b.ends, len(b.buf))
	if len(b.buf) >= w.cfg.BatchBytes {
		w.seal()
	}
}

// seal queues the batch being built for Publish and starts a new one. w.mu
// is held, so there is one sender at a time and sealed batches stay in line
// order.
func (w *Writer) seal() {
	p := w.batch
	if len(p.ends) == 0 {
		return
	}
	select {
	case q := <-w.free:
		w.batch = q
	default:
		w.batch = &pending{buf: make([]byte, 0, w.cfg.BatchBytes)}
	}
	if !w.behind {
		select {
		case w.queue <- p:
			return
		default:
		}
		// Publish is a whole queue behind. Rather than block the task, grow
		// memory or drop lines, leave them in the file: the publisher reads
		// them from there once it has sent the queue.
		w.behind, w.catchFrom = true, p.from
	}
	w.recycle(p)
}

var (
	errClosing     = errors.New("publishing failed while closing: the rest is dropped")
	errFarBehind   = errors.New("publishing is too far behind: skipped to the newest lines")
	errCatchUpRead = errors.New("reading the log file to catch up failed")
)

func (w *Writer) recycle(p *pending) {
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	select {
	case w.free <- p:
	default:
	}
}

// batchLoop publishes a batch BatchDelay after its first line if size has
// not done it first. It sleeps until Write starts a batch (kick).
func (w *Writer) batchLoop() {
	defer close(w.batcherDone)
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-w.kick:
		case <-w.stopBatcher:
			return
		}
		for {
			w.mu.Lock()
			if len(w.batch.ends) == 0 {
				w.mu.Unlock()
				break
			}
			wait := w.cfg.BatchDelay - time.Since(w.batch.born)
			if wait <= 0 {
				w.seal()
				w.mu.Unlock()
				break
			}
			w.mu.Unlock()
			// Possibly a newer batch than the kick was for (size sealed the
			// old one): sleep until this one is due and look again.
			t.Reset(wait)
			select {
			case <-t.C:
			case <-w.stopBatcher:
				t.Stop()
				return
			}
		}
	}
}

// publishLoop sends sealed batches, in order, and the lines seal left in
// the file when the queue was full, until Close closes the queue.
func (w *Writer) publishLoop() {
	defer close(w.publisherDone)
	c := catchUp{lr: w.reader(), line: -1}
	for {
		var p *pending
		var ok bool
		select {
		case p, ok = <-w.queue:
		default:
			if w.catchUp(&c) {
				continue
			}
			// Nothing to catch up, or batches to send first: wait for one.
			// (seal falls back on the file only when the queue is full, so
			// this receive cannot sleep through a catch-up.)
			p, ok = <-w.queue
		}
		if !ok {
			w.catchUp(&c) // what the last seals left in the file
			return
		}
		if err := w.dropReason(); err != nil {
			w.loss.add(p.from, len(p.ends), err)
			w.recycle(p)
			continue
		}
		b := p.batch(w.cfg.TaskID)
		w.recycle(p)
		w.publish(b)
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
func (w *Writer) catchUp(c *catchUp) bool {
	did := false
	lag := int64(liveLagBatches) * int64(w.cfg.BatchBytes)
	for {
		w.mu.Lock()
		// Batches still queued are older than catchFrom and go first. (seal
		// may have filled the queue and fallen back on the file since the
		// publisher last saw it empty; it sends under mu, and sends nothing
		// more while behind, so an empty queue stays empty here.)
		if !w.behind || len(w.queue) > 0 {
			w.mu.Unlock()
			return did
		}
		target := w.lines
		if w.batch != nil && len(w.batch.ends) > 0 {
			target = w.batch.from
		}
		if w.catchFrom >= target {
			w.behind = false
			w.mu.Unlock()
			return did
		}
		from, size := w.catchFrom, w.size
		skipTo := w.index.atOrAfter(size - lag)
		w.mu.Unlock()
		did = true

		skip := func(to int64, err error) {
			w.loss.add(from, int(to-from), err)
			w.mu.Lock()
			w.catchFrom = to
			w.mu.Unlock()
		}
		if err := w.dropReason(); err != nil {
			skip(target, err)
			continue
		}
		if c.line != from {
			off, err := w.locate(&c.lr, from)
			if err != nil {
				w.log.Error("reading the log file to catch up live batches failed", "error", err)
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
		lines, next, err := c.lr.read(c.off, size, int(target-from), w.cfg.BatchBytes, false)
		if err != nil || len(lines) == 0 {
			w.log.Error("reading the log file to catch up live batches failed", "error", err)
			skip(target, errCatchUpRead)
			continue
		}
		w.publish(wire.LogBatch{TaskID: w.cfg.TaskID, From: from, Lines: lines})
		c.line, c.off = from+int64(len(lines)), next
		w.mu.Lock()
		w.catchFrom = c.line
		w.mu.Unlock()
	}
}

// dropReason says why the publisher should not even try to publish: Close
// is waiting and publishing is hopeless, or Close's ctx has ended.
func (w *Writer) dropReason() error {
	if err := w.pubCtx.Err(); err != nil {
		return err
	}
	if w.pubFailed && w.closing.Load() {
		return errClosing
	}
	return nil
}

func (w *Writer) publish(b wire.LogBatch) {
	ctx, cancel := context.WithTimeout(w.pubCtx, w.cfg.PublishTimeout)
	err := w.cfg.Publish(ctx, b)
	cancel()
	w.pubFailed = err != nil
	if err != nil {
		w.loss.add(b.From, len(b.Lines), err)
	}
}

// saveLoop saves to the store every SaveEvery, then does the final save for
// Close.
func (w *Writer) saveLoop() {
	defer close(w.saverDone)
	t := time.NewTicker(w.cfg.SaveEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := w.save(w.saveCtx); err != nil && w.saveCtx.Err() == nil {
				// The lines are in the file; the next round retries them.
				w.log.Warn("saving the log to the store failed; retrying next round", "error", err)
			}
		case ctx := <-w.final:
			w.finalErr <- w.saveAll(ctx)
			return
		case <-w.quit:
			return
		}
	}
}

// save uploads every line written so far.
func (w *Writer) save(ctx context.Context) error {
	w.mu.Lock()
	total, end := w.lines, w.size
	w.mu.Unlock()
	return w.up.upload(ctx, total, end, false)
}

// saveAll saves every line, retrying until ctx ends.
func (w *Writer) saveAll(ctx context.Context) error {
	err := retry(ctx, w.save, func(err error) {
		w.log.Warn("saving the log to the store failed; retrying", "error", err)
	})
	if err != nil {
		w.mu.Lock()
		total := w.lines
		w.mu.Unlock()
		return fmt.Errorf("tasklog: task %s: %d of %d lines saved to the store: %w", w.cfg.TaskID, max(w.up.stored, 0), total, err)
	}
	return nil
}

// locate returns where line starts in the file, reading with lr.
func (w *Writer) locate(lr *lineReader, line int64) (int64, error) {
	w.mu.Lock()
	m, size := w.index.find(line), w.size
	w.mu.Unlock()
	off, found, err := lr.skip(m.off, size, line-m.line)
	if err == nil && found < line-m.line {
		err = io.ErrUnexpectedEOF
	}
	return off, err
}

// Lines returns how many lines are in the file so far (a line still missing
// its '\n' is not counted until it ends or Close).
func (w *Writer) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Read returns up to limit lines from line from on, read from the file (for
// get_log on a running task): fewer at the end of the log, none past it. It
// is safe concurrently with Write and costs about limit lines of reading
// wherever from is. After Close it returns ErrClosed: the store has the log.
func (w *Writer) Read(from int64, limit int) ([]string, error) {
	if from < 0 {
		return nil, fmt.Errorf("tasklog: task %s: negative line number %d", w.cfg.TaskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	w.fileMu.RLock()
	defer w.fileMu.RUnlock()
	if w.f == nil {
		return nil, ErrClosed
	}
	w.mu.Lock()
	total, end, m := w.lines, w.size, w.index.find(from)
	w.mu.Unlock()
	if from >= total {
		return nil, nil
	}
	// The file up to end is whole lines that never change, so it is read
	// without the lock.
	lr := w.reader()
	off, _, err := lr.skip(m.off, end, from-m.line)
	if err != nil {
		return nil, fmt.Errorf("tasklog: task %s: %w", w.cfg.TaskID, err)
	}
	want := int(min(int64(limit), total-from))
	lines := make([]string, 0, want)
	for len(lines) < want {
		ls, next, err := lr.read(off, end, want-len(lines), 64<<10, false)
		if err != nil {
			return nil, fmt.Errorf("tasklog: task %s: %w", w.cfg.TaskID, err)
		}
		if len(ls) == 0 {
			return nil, fmt.Errorf("tasklog: task %s: line %d: %w", w.cfg.TaskID, from+int64(len(lines)), errShortFile)
		}
		lines = append(lines, ls...)
		off = next
	}
	return lines, nil
}

// Close ends the log: it writes the last line (even without '\n'), publishes
// the last batch, saves every line to the store (retrying until ctx ends)
// and stops the Writer's goroutines. It returns the total line count. If
// ctx ends first, the error says how many lines the store has; the file has
// them all, and Recover can upload the rest later. Calling Close again
// returns the same result.
func (w *Writer) Close(ctx context.Context) (int64, error) {
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	if r := w.closeResult; r != nil {
		return r.total, r.err
	}
	w.closed.Store(true)
	var errs []error
	w.split.finish()
	if err := w.flush(); err != nil {
		errs = append(errs, err)
	}

	// The last batch: stop the timer first, so nothing seals after the
	// queue is closed.
	close(w.stopBatcher)
	<-w.batcherDone
	w.mu.Lock()
	total := w.lines
	if w.batch != nil {
		w.seal()
		w.batch = nil
		w.closing.Store(true)
		close(w.queue)
	}
	w.mu.Unlock()

	// The final save, by the saver itself, so it never races a round. A
	// periodic round in flight is cancelled: the final save redoes it.
	w.saveCancel()
	select {
	case w.final <- ctx:
		if err := <-w.finalErr; err != nil {
			errs = append(errs, err)
		}
	case <-ctx.Done():
		close(w.quit)
		errs = append(errs, fmt.Errorf("tasklog: task %s: log not saved to the store: %w", w.cfg.TaskID, ctx.Err()))
	}
	<-w.saverDone

	if w.publisherDone != nil {
		select {
		case <-w.publisherDone:
		case <-ctx.Done():
			w.pubCancel() // the rest are dropped (and logged) at once
			<-w.publisherDone
		}
	}
	w.pubCancel()
	w.loss.flush()

	w.fileMu.Lock()
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("tasklog: task %s: closing the log file: %w", w.cfg.TaskID, err))
	}
	w.f = nil
	w.fileMu.Unlock()

	w.closeResult = &closeResult{total: total, err: errors.Join(errs...)}
	return total, w.closeResult.err
}

// lossLog reports lines lost for live viewers, at most once per
// lossReportEvery with totals, and once more at Close.
type lossLog struct {
	log   *slog.Logger
	mu    sync.Mutex
	lines int64
	from  int64 // the first lost line since the last report
	err   error // the latest reason
	last  time.Time
}

func (l *lossLog) add(from int64, lines int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines == 0 {
		l.from = from
	}
	l.lines += int64(lines)
	l.err = err
	if time.Since(l.last) >= lossReportEvery {
		l.reportLocked()
	}
}

func (l *lossLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reportLocked()
}

func (l *lossLog) reportLocked() {
	if l.lines == 0 {
		return
	}
	l.log.Warn("live log lines lost; the log file and the store still have them",
		"from", l.from, "lines", l.lines, "error", l.err)
	l.lines, l.err = 0, nil
	l.last = time.Now()
}
