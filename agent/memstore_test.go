package agent_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"

	"github.com/crawlhub/crawlhub/store"
)

// memStore keeps logs and files in memory, and drops items, around a real store: a test
// whose process may only write small files (underFileSizeLimit) keeps the
// store's own files small, so that the limit meets the agent's files
// alone. The stores' own behaviour is the conformance suite's business.
type memStore struct {
	store.Store
	logs  *memLogs
	files *memFiles
}

func newMemStore() *memStore {
	return &memStore{logs: &memLogs{lines: map[string][]string{}}, files: &memFiles{data: map[string][]byte{}}}
}

// wrap is a config.wrap.
func (m *memStore) wrap(st store.Store) store.Store {
	m.Store = st
	return m
}

func (m *memStore) Logs() store.Logs   { return m.logs }
func (m *memStore) Files() store.Files { return m.files }
func (m *memStore) Items() store.Items { return dropItems{m.Store.Items()} }

// dropItems accepts items and keeps none.
type dropItems struct{ store.Items }

func (dropItems) AppendItems(_ context.Context, _, _ string, _ int64, items []json.RawMessage, _ store.Dedup) (store.ItemCounts, error) {
	return store.ItemCounts{New: int64(len(items))}, nil
}

type memLogs struct {
	mu    sync.Mutex
	lines map[string][]string
}

func (l *memLogs) AppendLog(_ context.Context, taskID string, from int64, lines []string) error {
	if err := store.CheckAppend(from, lines); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.lines[taskID]
	if from > int64(len(have)) {
		return store.ErrLogGap
	}
	if skip := int64(len(have)) - from; skip < int64(len(lines)) {
		l.lines[taskID] = append(have, lines[skip:]...)
	}
	return nil
}

func (l *memLogs) ReadLog(_ context.Context, taskID string, from int64, limit int) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	have := l.lines[taskID]
	if from >= int64(len(have)) {
		return nil, nil
	}
	return append([]string(nil), have[from:min(int64(len(have)), from+int64(limit))]...), nil
}

func (l *memLogs) LogLen(_ context.Context, taskID string) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int64(len(l.lines[taskID])), nil
}

func (l *memLogs) ScanLog(ctx context.Context, taskID string, from int64, fn func(int64, string) bool) error {
	lines, _ := l.ReadLog(ctx, taskID, from, 1<<30)
	for i, line := range lines {
		if !fn(from+int64(i), line) {
			break
		}
	}
	return nil
}

func (l *memLogs) DeleteLog(_ context.Context, taskID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.lines, taskID)
	return nil
}

func (l *memLogs) all(taskID string) []string {
	lines, _ := l.ReadLog(context.Background(), taskID, 0, 1<<30)
	return lines
}

type memFiles struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (f *memFiles) Put(_ context.Context, name string, r io.Reader) (string, int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[name] = b
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:]), int64(len(b)), nil
}

func (f *memFiles) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.data[name]
	if !ok {
		return nil, store.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (f *memFiles) Delete(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.data, name)
	return nil
}
