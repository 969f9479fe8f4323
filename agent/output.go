package agent

import (
	"errors"
	"io"
	"io/fs"
	"strconv"
	"sync"
	"syscall"

	"github.com/crawlhub/crawlhub/tasklog"
)

// defaultMaxLogBytes is Config.MaxLogBytes's default: room for a long
// crawl's log at Scrapy's INFO level, while a spider printing in a loop
// fills neither the node's disk nor the store.
const defaultMaxLogBytes = 1 << 30

// taskOutput is what a task's process writes to: its log, and a signal
// when the log can no longer be written (a full disk), so that the agent
// stops the task rather than let it run on with its output going nowhere.
type taskOutput struct {
	log    *tasklog.Writer
	once   sync.Once
	failed chan struct{} // closed on the first failed Write
	err    error         // that Write's error, set before failed is closed
}

func newTaskOutput(log *tasklog.Writer) *taskOutput {
	return &taskOutput{log: log, failed: make(chan struct{})}
}

var _ io.Writer = (*taskOutput)(nil)

func (o *taskOutput) Write(p []byte) (int, error) {
	n, err := o.log.Write(p)
	if err != nil {
		o.once.Do(func() {
			o.err = err
			close(o.failed)
		})
	}
	return n, err
}

// logNotWritten is a task's end reason when its log file could not be
// written.
func logNotWritten(err error, lines int64, dataDir string) string {
	return "log not written: " + sysReason(err) + "; the task was stopped, its log keeps the " +
		plural(lines, "line") + " written before" + diskHint(err, dataDir)
}

// itemsNotWritten is a task's end reason when its items' spool file could
// not be written.
func itemsNotWritten(err error, items int64, dataDir string) string {
	return "items not written: " + sysReason(err) + "; the spider's requests to save more failed, the task keeps the " +
		plural(items, "item") + " written before" + diskHint(err, dataDir)
}

// sysReason is what the system said about a failed file operation ("no
// space left on device"), without the paths and layers wrapped around it.
func sysReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// diskHint tells the operator what to do when err says the node's disk
// (or the agent's share of it) is full.
func diskHint(err error, dataDir string) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return " (the node's disk is full: free space under " + dataDir + ")"
	case errors.Is(err, syscall.EFBIG):
		return " (a file reached the agent's file size limit, ulimit -f: raise it)"
	}
	return ""
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.FormatInt(n, 10) + " " + what + "s"
}
