package tasklog

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// saver copies the file's lines to the store from its own goroutine (run):
// every SaveEvery while the task runs, and completely for Close. It is the
// uploader's only user, so a periodic round and the final save never race.
type saver struct {
	log   *slog.Logger
	every time.Duration
	file  *localFile
	up    uploader

	// ctx ends the periodic rounds: close cancels it, so a round in flight
	// stops, and the final save redoes it.
	ctx    context.Context
	cancel context.CancelFunc
	// close hands run its ctx for the final save on final, and hears the
	// outcome on finalErr; when that ctx has already ended it closes quit.
	final    chan context.Context
	finalErr chan error
	quit     chan struct{}
	done     chan struct{} // run has returned
}

func newSaver(cfg *Config, log *slog.Logger, file *localFile) *saver {
	s := &saver{
		log:      log,
		every:    cfg.SaveEvery,
		file:     file,
		final:    make(chan context.Context),
		finalErr: make(chan error, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.up = uploader{st: cfg.Store, taskID: cfg.TaskID, lr: file.reader(), stored: -1}
	s.up.locate = func(line int64) (int64, error) { return file.locate(&s.up.lr, line) }
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// run saves every SaveEvery, then does the final save for close.
func (s *saver) run() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := s.save(s.ctx); err != nil && s.ctx.Err() == nil {
				// The lines are in the file; the next round retries them.
				s.log.Warn("saving the log to the store failed; retrying next round", "error", err)
			}
		case ctx := <-s.final:
			s.finalErr <- s.saveAll(ctx)
			return
		case <-s.quit:
			return
		}
	}
}

// save uploads every line written so far. With none there is nothing to
// ask the store: a task that prints (or saves) nothing costs it no call.
func (s *saver) save(ctx context.Context) error {
	total, end := s.file.extent()
	if total == 0 {
		return nil
	}
	return s.up.upload(ctx, total, end, false)
}

// saveAll saves every line, retrying until ctx ends.
func (s *saver) saveAll(ctx context.Context) error {
	err := retry(ctx, s.save, func(err error) {
		s.log.Warn("saving the log to the store failed; retrying", "error", err)
	})
	if err != nil {
		total, _ := s.file.extent()
		return fmt.Errorf("tasklog: task %s: %d of %d lines saved to the store: %w", s.up.taskID, max(s.up.stored, 0), total, err)
	}
	return nil
}

// close has run save every line, after the last Write, retrying until ctx
// ends, and stops run.
func (s *saver) close(ctx context.Context) error {
	s.cancel()
	var err error
	select {
	case s.final <- ctx:
		err = <-s.finalErr
	case <-ctx.Done():
		close(s.quit)
		err = fmt.Errorf("tasklog: task %s: log not saved to the store: %w", s.up.taskID, ctx.Err())
	}
	<-s.done
	return err
}
