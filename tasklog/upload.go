package tasklog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/crawlhub/crawlhub/loglevel"
	"github.com/crawlhub/crawlhub/store"
)

// Saving reads the file in chunks of at most saveChunkLines lines and
// saveChunkBytes bytes (more only for one line longer than that), one
// AppendLog each: big enough that a fast task needs few store calls, small
// enough for one MongoDB document update, and the only memory saving needs
// however far behind the store is.
const (
	saveChunkLines = 5000
	saveChunkBytes = 1 << 20
)

// storeCallTimeout bounds one store call, so a hung connection delays a
// save by one round instead of stopping saving for good.
const storeCallTimeout = 10 * time.Second

// errStoreAhead means the store holds more lines of the task than the log
// file: the file is not this task's (or was cut). Retrying cannot help.
var errStoreAhead = errors.New("the store holds more lines than the log file")

// fileError marks a failure to read the log file, which, unlike a store
// error, waiting does not cure.
type fileError struct{ err error }

func (e fileError) Error() string { return e.err.Error() }
func (e fileError) Unwrap() error { return e.err }

// uploader appends a log file's lines to the store, from where the store's
// copy ends. It is used by one goroutine: the Writer's saver, or Recover.
type uploader struct {
	st     Store
	taskID string
	lr     lineReader
	// stored is how many lines the store is known to hold, -1 until the
	// store is asked; off is where line stored starts in the file.
	stored int64
	off    int64
	// locate returns where line starts in the file.
	locate func(line int64) (int64, error)
}

// upload appends lines [stored, total) of the file, which end at byte end,
// to the store. AppendLog is idempotent, so after any error the next call
// may simply try again.
func (u *uploader) upload(ctx context.Context, total, end int64, partialLast bool) error {
	if u.stored < 0 {
		cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
		n, err := u.st.LogLen(cctx, u.taskID)
		cancel()
		if err != nil {
			return fmt.Errorf("tasklog: task %s: asking the store for the log length: %w", u.taskID, err)
		}
		if n > total {
			return fmt.Errorf("tasklog: task %s: %w (%d, the file %d)", u.taskID, errStoreAhead, n, total)
		}
		off := end // the store is complete (a final line may lack its '\n')
		if n < total {
			var err error
			if off, err = u.locate(n); err != nil {
				return fileError{fmt.Errorf("tasklog: task %s: finding line %d in the log file: %w", u.taskID, n, err)}
			}
		}
		u.stored, u.off = n, off
	}
	for u.stored < total {
		lines, next, err := u.lr.read(u.off, end, int(min(saveChunkLines, total-u.stored)), saveChunkBytes, partialLast)
		if err != nil {
			return fileError{fmt.Errorf("tasklog: task %s: %w", u.taskID, err)}
		}
		if len(lines) == 0 {
			return fileError{fmt.Errorf("tasklog: task %s: log file ends at line %d, expected %d: %w", u.taskID, u.stored, total, errShortFile)}
		}
		cctx, cancel := context.WithTimeout(ctx, storeCallTimeout)
		err = u.st.AppendLog(cctx, u.taskID, u.stored, lines)
		cancel()
		if err != nil {
			err = fmt.Errorf("tasklog: task %s: saving lines %d-%d: %w", u.taskID, u.stored, u.stored+int64(len(lines))-1, err)
			if errors.Is(err, store.ErrLogGap) {
				// The store holds fewer lines than we thought (it lost some,
				// or was reset): ask it again and resend from there.
				u.stored = -1
			}
			return err
		}
		u.stored += int64(len(lines))
		u.off = next
	}
	return nil
}

// retry calls f until it succeeds, fails for good, or ctx ends, backing off
// between attempts so a store that is down is not hammered. onErr, if not
// nil, hears of each failure that will be retried.
func retry(ctx context.Context, f func(context.Context) error, onErr func(error)) error {
	backoff := 50 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || errors.Is(err, errStoreAhead) || errors.As(err, new(fileError)) || ctx.Err() != nil {
			return err
		}
		if onErr != nil {
			onErr(err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// Recover uploads to the store whatever part of an existing log file (left
// by an agent that crashed, or killed before its Writer's Close) is not
// stored yet, and returns the task's total line count. It asks the store
// how many lines it holds and sends only the lines after those, so lines
// are sent once. A final line without '\n' counts. Store errors are retried
// until ctx ends.
//
// A missing file returns the store's line count with an error wrapping
// fs.ErrNotExist: the store's copy is all there is. A store that holds more
// lines than the file returns its count with an error, and nothing is sent.
func Recover(ctx context.Context, taskID, path string, st Store) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		n, lerr := st.LogLen(ctx, taskID)
		return n, errors.Join(fmt.Errorf("tasklog: recovering the log of task %s: %w", taskID, err), lerr)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("tasklog: recovering the log of task %s: %w", taskID, err)
	}
	end := fi.Size()
	lr := lineReader{r: f}
	total, err := lr.count(end, nil)
	if err != nil {
		return 0, fmt.Errorf("tasklog: recovering the log of task %s: %w", taskID, err)
	}
	u := &uploader{
		st:     st,
		taskID: taskID,
		lr:     lineReader{r: f, sanitize: true},
		stored: -1,
		locate: func(line int64) (int64, error) {
			off, found, err := lr.skip(0, end, line)
			if err == nil && found < line {
				err = io.ErrUnexpectedEOF
			}
			return off, err
		},
	}
	err = retry(ctx, func(ctx context.Context) error { return u.upload(ctx, total, end, true) }, nil)
	if errors.Is(err, errStoreAhead) {
		n, lerr := st.LogLen(ctx, taskID)
		return n, errors.Join(err, lerr)
	}
	if err != nil {
		return total, fmt.Errorf("tasklog: recovering the log of task %s: %d of %d lines in the store: %w", taskID, max(u.stored, 0), total, err)
	}
	return total, nil
}

// CountLevels feeds every line of the log file at path to c, in order, as
// a Writer with Config.Levels did while the task ran (a final line without
// '\n' counts): a recovered log gets the counts of all of its lines, not
// only of those reported before its agent died.
func CountLevels(path string, c *loglevel.Counter) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tasklog: counting the levels of %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var long []byte
	for {
		b, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, b...) // a line longer than the buffer
			continue
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		if line := bytes.TrimSuffix(b, []byte{'\n'}); len(b) > 0 {
			c.Line(line)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tasklog: counting the levels of %s: %w", path, err)
		}
	}
}
