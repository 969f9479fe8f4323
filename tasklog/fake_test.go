package tasklog

import (
	"context"
	"fmt"
	"sync"

	"github.com/crawlhub/crawlhub/store"
)

// memLogs is an in-memory store.Logs with the contract's semantics
// (idempotent AppendLog, ErrLogGap), failure injection and accounting of
// what was sent. The real implementations have their own conformance suite;
// this only stands in for them in unit tests of this package.
type memLogs struct {
	mu   sync.Mutex
	logs map[string][]string
	// fail, if set, is asked before each AppendLog; a non-nil error fails it.
	fail func(from int64, n int) error
	// sent[i] counts how many times line i of any task was sent.
	sent      []int32
	calls     int
	maxLines  int
	maxBytes  int
	failures  int
	lenCalls  int
	appendLog []string // "from+n" of each successful call, for debugging
}

var _ store.Logs = (*memLogs)(nil)

func newMemLogs() *memLogs { return &memLogs{logs: map[string][]string{}} }

func (m *memLogs) AppendLog(ctx context.Context, taskID string, from int64, lines []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		if err := m.fail(from, len(lines)); err != nil {
			m.failures++
			return err
		}
	}
	m.calls++
	m.maxLines = max(m.maxLines, len(lines))
	size := 0
	for _, l := range lines {
		size += len(l) + 1
	}
	m.maxBytes = max(m.maxBytes, size)
	for i := range lines {
		n := from + int64(i)
		for int64(len(m.sent)) <= n {
			m.sent = append(m.sent, 0)
		}
		m.sent[n]++
	}
	have := m.logs[taskID]
	if from > int64(len(have)) {
		return fmt.Errorf("memLogs: append at %d to %d lines: %w", from, len(have), store.ErrLogGap)
	}
	if skip := int64(len(have)) - from; skip < int64(len(lines)) {
		m.logs[taskID] = append(have, lines[skip:]...)
	}
	m.appendLog = append(m.appendLog, fmt.Sprintf("%d+%d", from, len(lines)))
	return nil
}

func (m *memLogs) ReadLog(ctx context.Context, taskID string, from int64, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	have := m.logs[taskID]
	if from >= int64(len(have)) {
		return nil, nil
	}
	end := min(int64(len(have)), from+int64(limit))
	return append([]string(nil), have[from:end]...), nil
}

func (m *memLogs) LogLen(ctx context.Context, taskID string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lenCalls++
	return int64(len(m.logs[taskID])), nil
}

func (m *memLogs) DeleteLog(ctx context.Context, taskID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.logs, taskID)
	return nil
}

// lines returns a copy of a task's stored lines.
func (m *memLogs) lines(taskID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.logs[taskID]...)
}

func (m *memLogs) setFail(f func(from int64, n int) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = f
}

func (m *memLogs) ScanLog(ctx context.Context, taskID string, from int64, fn func(n int64, line string) bool) error {
	m.mu.Lock()
	lines := append([]string(nil), m.logs[taskID]...)
	m.mu.Unlock()
	for n := max(from, 0); n < int64(len(lines)); n++ {
		if !fn(n, lines[n]) {
			break
		}
	}
	return nil
}
