package tasklog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/crawlhub/crawlhub/loglevel"
)

// writeChunk: Write processes its input in pieces of at most this size, so
// its buffers stay small whatever one Write hands it. os/exec copies a
// command's output in 32 KiB reads, so one piece is the common case.
const writeChunk = 256 << 10

// ErrClosed is returned by Write and Read after Close.
var ErrClosed = errors.New("tasklog: writer closed")

// Writer is one task's log. Write is called by one goroutine (it is the
// command's stdout and stderr); Lines and Read may be called from any
// goroutine at any time; Close after the last Write returns.
//
// A Writer is its parts, each with one job (see the package doc): split
// numbers the lines, file keeps them, batches and pub send them live, save
// copies them to the store. Write and Close drive them in that order.
type Writer struct {
	log *slog.Logger

	// Used only by the goroutine that calls Write, then by Close (Write and
	// Close never run at once).
	split splitter
	limit outputLimit
	// failed is the file's first write error. The lines of that write are
	// lost, so a later line numbered after them would hide a gap: every
	// later Write returns it instead, and Close writes nothing more.
	failed error
	closed atomic.Bool

	file    *localFile
	levels  *loglevel.Counter // nil without Config.Levels
	batches *batcher          // nil without Config.Publish
	pub     *publisher        // nil without Config.Publish
	save    *saver

	// closeMu makes a second Close wait for the first and return its result.
	closeMu     sync.Mutex
	closeResult *closeResult
}

type closeResult struct {
	total int64
	err   error
}

// Open creates the log file (or reopens it, with Resume) and starts the
// Writer's goroutines, which Close stops. A task id gets one log: the store
// keeps lines by number and skips those it has, so a new log (no Resume)
// for a task whose lines are already stored would not replace them.
func Open(cfg Config) (*Writer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	file, err := openLocalFile(cfg.TaskID, cfg.Path, cfg.Resume)
	if err != nil {
		return nil, err
	}
	log := cfg.Log.With("task_id", cfg.TaskID)
	w := &Writer{
		log:    log,
		split:  splitter{max: cfg.MaxLine},
		limit:  outputLimit{max: cfg.MaxBytes},
		file:   file,
		levels: cfg.Levels,
		save:   newSaver(&cfg, log, file),
	}
	if cfg.Publish != nil {
		lines, _ := file.extent()
		w.batches = newBatcher(cfg.BatchBytes, cfg.BatchDelay, lines)
		w.pub = newPublisher(&cfg, log, file, w.batches)
		go w.pub.run()
		go w.batches.run()
	}
	go w.save.run()
	return w, nil
}

// Write splits p into lines and appends them to the file; past
// Config.MaxBytes it only counts them. It returns an error only when the
// file cannot be written, and from then on returns that error (see
// WriteErr). It never waits for the network.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	if w.failed != nil {
		return 0, w.failed
	}
	keep, reached := w.limit.take(p)
	n, err := w.write(keep)
	if err != nil {
		return n, err
	}
	if reached {
		// The line the limit cut ends here, and the note says why.
		w.split.finish()
		w.split.write(w.limit.limitNote())
		if err := w.flush(); err != nil {
			return n, err
		}
	}
	return len(p), nil
}

// write is Write without the limit.
func (w *Writer) write(p []byte) (int, error) {
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

// WriteErr returns the error that made the file unwritable, if any: the
// lines from the failed write on are not in the log. It is for Write's
// goroutine, or for anyone after Close.
func (w *Writer) WriteErr() error { return w.failed }

// flush appends the lines the splitter emitted to the file, which numbers
// them, then hands them to the batcher. The file comes first: the
// publisher reads the batcher's backlog from it.
func (w *Writer) flush() error {
	s := &w.split
	defer s.reset()
	if len(s.ends) == 0 {
		return nil
	}
	first, err := w.file.append(s.out, s.ends)
	if err != nil {
		w.failed = err
		return err
	}
	if w.levels != nil {
		start := 0
		for _, e := range s.ends {
			w.levels.Line(s.out[start : e-1])
			start = e
		}
	}
	if w.batches != nil {
		w.batches.add(first, s.out, s.ends)
	}
	return nil
}

// Lines returns how many lines are in the file so far (a line still missing
// its '\n' is not counted until it ends or Close).
func (w *Writer) Lines() int64 {
	lines, _ := w.file.extent()
	return lines
}

// Read returns up to limit lines from line from on, read from the file (for
// get_log on a running task): fewer at the end of the log, none past it. It
// is safe concurrently with Write and costs about limit lines of reading
// wherever from is. After Close it returns ErrClosed: the store has the log.
func (w *Writer) Read(from int64, limit int) ([]string, error) {
	return w.file.read(from, limit)
}

// Scan calls fn with each line from line from on, in order, until fn
// returns false or it reaches the lines the log had when Scan began, and
// returns that count. Like Read, it is safe concurrently with Write, reads
// the file a chunk at a time, and returns ErrClosed after Close.
func (w *Writer) Scan(from int64, fn func(n int64, line string) bool) (int64, error) {
	return w.file.scan(from, fn)
}

// Close ends the log: it writes the last line (even without '\n') and, if
// Config.MaxBytes cut the output, a last line saying how much, publishes
// the last batch, saves every line to the store (retrying until ctx ends)
// and stops the Writer's goroutines. It returns the total line count. If
// ctx ends first, the error says how many lines the store has; the file has
// them all, and Recover can upload the rest later. Calling Close again
// returns the same result. A file that could not be written is not Close's
// error but WriteErr's: the store still gets every line the file has.
func (w *Writer) Close(ctx context.Context) (int64, error) {
	w.closeMu.Lock()
	defer w.closeMu.Unlock()
	if r := w.closeResult; r != nil {
		return r.total, r.err
	}
	w.closed.Store(true)
	var errs []error
	if w.failed == nil {
		w.split.finish()
		w.split.write(w.limit.cutNote())
		_ = w.flush() // an error is WriteErr's
	}
	if w.batches != nil {
		w.batches.close() // the last batch
	}
	total, _ := w.file.extent()
	if err := w.save.close(ctx); err != nil {
		errs = append(errs, err)
	}
	if w.pub != nil {
		w.pub.close(ctx)
	}
	if err := w.file.close(); err != nil {
		errs = append(errs, err)
	}
	w.closeResult = &closeResult{total: total, err: errors.Join(errs...)}
	return total, w.closeResult.err
}
