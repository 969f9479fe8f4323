package tasklog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// localFile is a Writer's log file: its numbered lines, each followed by
// '\n' (see file.go), and the sparse index of where they start. Write's
// goroutine appends; Read, the saver and the publisher read through ReadAt
// at the same time, never holding a lock during I/O.
type localFile struct {
	taskID string
	// sanitize: only a resumed file may hold invalid UTF-8 (a torn last
	// line), and stores may refuse it. A file this Writer wrote needs no
	// check.
	sanitize bool

	// fileMu lets Read use f without holding mu during I/O: Read holds it
	// shared; close takes it to close f. (The saver and the publisher need
	// no share: Close stops them before it closes f.) Taken before mu.
	fileMu sync.RWMutex
	f      *os.File

	// mu guards the file's extent, which append moves and everyone else
	// reads. It is held only for bookkeeping, never during I/O.
	mu    sync.Mutex
	lines int64 // whole lines in the file
	size  int64 // bytes in the file: all of them whole lines
	index index
}

// openLocalFile creates the log file, or with resume reopens it and
// appends after its lines.
func openLocalFile(taskID, path string, resume bool) (*localFile, error) {
	// Private, like everything on a node: a task's log may hold what its
	// spider should not share.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tasklog: task %s: log directory: %w", taskID, err)
	}
	flags := os.O_RDWR | os.O_CREATE | os.O_APPEND
	if !resume {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tasklog: task %s: opening the log file: %w", taskID, err)
	}
	lf := &localFile{taskID: taskID, sanitize: resume, f: f, index: index{{0, 0}}}
	if resume {
		if err := lf.resume(); err != nil {
			f.Close()
			return nil, fmt.Errorf("tasklog: task %s: reopening the log file: %w", taskID, err)
		}
	}
	return lf, nil
}

// resume indexes the existing file and makes it end with '\n'.
func (lf *localFile) resume() error {
	fi, err := lf.f.Stat()
	if err != nil {
		return err
	}
	end := fi.Size()
	lr := lineReader{r: lf.f}
	n, err := lr.count(end, &lf.index)
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
			if _, err := lf.f.Write([]byte{'\n'}); err != nil {
				return err
			}
			end++
		}
	}
	lf.lines, lf.size = n, end
	return nil
}

// reader returns a reader of the file, for one goroutine.
func (lf *localFile) reader() lineReader {
	return lineReader{r: lf.f, sanitize: lf.sanitize}
}

// append writes lines to the file in one write, then makes them visible to
// readers, and returns the number of the first. out holds the lines, each
// followed by '\n'; ends[i] is the offset in out just past line i's '\n'.
// Only Write's goroutine (then Close) appends.
func (lf *localFile) append(out []byte, ends []int) (int64, error) {
	if _, err := lf.f.Write(out); err != nil {
		// A short write would leave a torn line and shift every later line
		// number, so cut the file back to its whole lines. (Only append
		// changes size, and its caller is this goroutine.)
		_, size := lf.extent()
		if terr := lf.f.Truncate(size); terr != nil {
			err = errors.Join(err, terr)
		}
		return 0, fmt.Errorf("tasklog: task %s: writing the log file: %w", lf.taskID, err)
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	first := lf.lines
	start := 0
	for _, e := range ends {
		lf.index.note(lf.lines, lf.size+int64(start))
		lf.lines++
		start = e
	}
	lf.size += int64(len(out))
	return first, nil
}

// extent returns how many whole lines the file holds and its size, which
// is where they end.
func (lf *localFile) extent() (lines, size int64) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.lines, lf.size
}

// tail returns the file's size and the first index mark at most lag bytes
// before its end ({-1, -1} if none): where a reader that far behind may
// skip to.
func (lf *localFile) tail(lag int64) (size int64, skipTo mark) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.size, lf.index.atOrAfter(lf.size - lag)
}

// locate returns where line starts in the file, reading with lr.
func (lf *localFile) locate(lr *lineReader, line int64) (int64, error) {
	lf.mu.Lock()
	m, size := lf.index.find(line), lf.size
	lf.mu.Unlock()
	off, found, err := lr.skip(m.off, size, line-m.line)
	if err == nil && found < line-m.line {
		err = io.ErrUnexpectedEOF
	}
	return off, err
}

// read returns up to limit lines from line from on: fewer at the end of
// the file, none past it, ErrClosed after close. It costs about limit lines
// of reading wherever from is.
func (lf *localFile) read(from int64, limit int) ([]string, error) {
	if from < 0 {
		return nil, fmt.Errorf("tasklog: task %s: negative line number %d", lf.taskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	lf.fileMu.RLock()
	defer lf.fileMu.RUnlock()
	if lf.f == nil {
		return nil, ErrClosed
	}
	lf.mu.Lock()
	total, end, m := lf.lines, lf.size, lf.index.find(from)
	lf.mu.Unlock()
	if from >= total {
		return nil, nil
	}
	// The file up to end is whole lines that never change, so it is read
	// without the lock.
	lr := lf.reader()
	off, _, err := lr.skip(m.off, end, from-m.line)
	if err != nil {
		return nil, fmt.Errorf("tasklog: task %s: %w", lf.taskID, err)
	}
	want := int(min(int64(limit), total-from))
	lines := make([]string, 0, want)
	for len(lines) < want {
		ls, next, err := lr.read(off, end, want-len(lines), 64<<10, false)
		if err != nil {
			return nil, fmt.Errorf("tasklog: task %s: %w", lf.taskID, err)
		}
		if len(ls) == 0 {
			return nil, fmt.Errorf("tasklog: task %s: line %d: %w", lf.taskID, from+int64(len(lines)), errShortFile)
		}
		lines = append(lines, ls...)
		off = next
	}
	return lines, nil
}

// scanChunk is how many bytes of lines scan reads at a time.
const scanChunk = 256 << 10

// scan calls fn with each line from line from on, in order, up to the
// lines the file holds when it starts, until fn returns false; it returns
// that many lines (the log's length for the caller). It reads scanChunk
// bytes at a time, so a scan of any log holds little of it in memory.
func (lf *localFile) scan(from int64, fn func(n int64, line string) bool) (int64, error) {
	if from < 0 {
		return 0, fmt.Errorf("tasklog: task %s: negative line number %d", lf.taskID, from)
	}
	lf.fileMu.RLock()
	defer lf.fileMu.RUnlock()
	if lf.f == nil {
		return 0, ErrClosed
	}
	lf.mu.Lock()
	total, end, m := lf.lines, lf.size, lf.index.find(from)
	lf.mu.Unlock()
	if from >= total {
		return total, nil
	}
	lr := lf.reader()
	off, _, err := lr.skip(m.off, end, from-m.line)
	if err != nil {
		return total, fmt.Errorf("tasklog: task %s: %w", lf.taskID, err)
	}
	for n := from; n < total; {
		ls, next, err := lr.read(off, end, int(min(total-n, 1<<30)), scanChunk, false)
		if err != nil {
			return total, fmt.Errorf("tasklog: task %s: %w", lf.taskID, err)
		}
		if len(ls) == 0 {
			return total, fmt.Errorf("tasklog: task %s: line %d: %w", lf.taskID, n, errShortFile)
		}
		for _, l := range ls {
			if !fn(n, l) {
				return total, nil
			}
			n++
		}
		off = next
	}
	return total, nil
}

// close closes the file once no Read is using it; read then returns
// ErrClosed.
func (lf *localFile) close() error {
	lf.fileMu.Lock()
	defer lf.fileMu.Unlock()
	err := lf.f.Close()
	lf.f = nil
	if err != nil {
		return fmt.Errorf("tasklog: task %s: closing the log file: %w", lf.taskID, err)
	}
	return nil
}
