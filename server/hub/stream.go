package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/server/hub/internal/wsconn"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// A task has two streams a client can follow with no gap: its log (lines,
// JSON strings) and its items (JSON objects). One follower (streamSub)
// serves both; a kind is what differs between them: the channels, how the
// backlog is read and how a bus batch is read. Past that, entries of
// either are JSON values already encoded for clients, so the follower, the
// backlog pages and the frames never look inside one.
type kind struct {
	name string // in messages: "log", "items"
	key  string // the notification's array: "lines", "items"
	// page is how many entries one backlog read asks for. Items are up to
	// 1 MiB (log lines 64 KiB), so their pages are shorter.
	page     int
	upstream func(taskID string) string // the bus channel
	channel  func(taskID string) string // the client channel
	// read reads entries from..from+limit of the task's stream (fewer at
	// its end) and the stream's current length.
	read func(ctx context.Context, b Backend, taskID string, from int64, limit int) (*entries, int64, error)
	// decode reads a batch from the bus channel.
	decode func(payload []byte) (*liveBatch, error)
	// end is the data of the end notification.
	end func(status string, total int64) any
}

var logKind = &kind{
	name: "log", key: "lines", page: 10000, upstream: wire.LogChannel, channel: wsapi.LogChannel,
	read: func(ctx context.Context, b Backend, taskID string, from int64, limit int) (*entries, int64, error) {
		ll, err := b.ReadLog(ctx, taskID, from, limit)
		if err != nil || ll == nil {
			return &entries{from: from, arr: emptyArray}, 0, err
		}
		return linesEntries(ll.From, ll.Lines), ll.Total, nil
	},
	decode: func(payload []byte) (*liveBatch, error) {
		if lb, ok := parseLogBatch(payload); ok {
			return lb, nil
		}
		// Not as wire writes it, or lines to sanitise: decode, and encode
		// the lines as encoding/json would.
		var b wire.LogBatch
		if err := json.Unmarshal(payload, &b); err != nil {
			return nil, err
		}
		return &liveBatch{taskID: b.TaskID, entries: *linesEntries(b.From, b.Lines), end: b.End, status: b.Status, total: b.Total}, nil
	},
	end: func(status string, total int64) any { return wsapi.LogData{End: true, Status: status, Total: total} },
}

var itemsKind = &kind{
	name: "items", key: "items", page: 1000, upstream: wire.ItemsChannel, channel: wsapi.ItemsChannel,
	read: func(ctx context.Context, b Backend, taskID string, from int64, limit int) (*entries, int64, error) {
		ib, err := b.ReadItems(ctx, taskID, from, limit)
		if err != nil || ib == nil {
			return &entries{from: from, arr: emptyArray}, 0, err
		}
		return itemsEntries(ib.From, ib.Items), ib.Total, nil
	},
	decode: func(payload []byte) (*liveBatch, error) {
		var b wire.ItemBatch
		if err := json.Unmarshal(payload, &b); err != nil {
			return nil, err
		}
		return &liveBatch{taskID: b.TaskID, entries: *itemsEntries(b.From, b.Items), end: b.End, status: b.Status, total: b.Total}, nil
	},
	end: func(status string, total int64) any { return wsapi.ItemsData{End: true, Status: status, Total: total} },
}

// streamOf is the stream a client channel follows and its task; k is nil
// for any other channel.
func streamOf(channel string) (taskID string, k *kind) {
	if id, ok := wsapi.TaskOfLogChannel(channel); ok {
		return id, logKind
	}
	if id, ok := wsapi.TaskOfItemsChannel(channel); ok {
		return id, itemsKind
	}
	return "", nil
}

var emptyArray = []byte("[]")

// span is where one entry's JSON value is in an array.
type span struct{ start, end int }

// entries are entries from, from+1, … of a stream, as the JSON array
// clients get (arr), with where each value is in it.
type entries struct {
	from  int64
	arr   []byte
	spans []span
}

func (e *entries) n() int { return len(e.spans) }

// tail is the JSON array of the entries from index k on.
func (e *entries) tail(k int) []byte {
	if k == 0 {
		return e.arr
	}
	return e.slice(k, e.n())
}

// slice is the JSON array of the entries k..m-1 (k < m).
func (e *entries) slice(k, m int) []byte {
	out := make([]byte, 0, e.spans[m-1].end-e.spans[k].start+2)
	out = append(out, '[')
	out = append(out, e.arr[e.spans[k].start:e.spans[m-1].end]...)
	return append(out, ']')
}

// linesEntries encodes log lines as encoding/json would: invalid UTF-8
// becomes U+FFFD, and <, >, &, U+2028 and U+2029 are escaped.
func linesEntries(from int64, lines []string) *entries {
	e := &entries{from: from, spans: make([]span, 0, len(lines))}
	size := 2
	for _, l := range lines {
		size += len(l) + 3
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, l := range lines {
		if i > 0 {
			buf = append(buf, ',')
		}
		start := len(buf)
		buf = appendJSONString(buf, l)
		e.spans = append(e.spans, span{start, len(buf)})
	}
	e.arr = append(buf, ']')
	return e
}

// itemsEntries puts items (each a JSON object, as the agent checked it)
// in one array. Only invalid UTF-8 is mended, as encoding/json would
// (U+FFFD): a text frame carrying it would make a browser drop the
// connection, and outside strings valid JSON has none.
func itemsEntries(from int64, items []json.RawMessage) *entries {
	e := &entries{from: from, spans: make([]span, 0, len(items))}
	size := 2
	for _, it := range items {
		size += len(it) + 1
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '[')
	for i, it := range items {
		if i > 0 {
			buf = append(buf, ',')
		}
		if len(it) == 0 {
			it = json.RawMessage("null")
		} else if !utf8.Valid(it) {
			it = bytes.ToValidUTF8(it, []byte("\uFFFD"))
		}
		start := len(buf)
		buf = append(buf, it...)
		e.spans = append(e.spans, span{start, len(buf)})
	}
	e.arr = append(buf, ']')
	return e
}

// liveBatch is a batch from a task's bus channel. Every subscription in
// step with the stream (nearly all of them) gets the same notification,
// built and framed once; the batch is not changed after it is decoded, so
// subscriptions catching up on other goroutines may hold it.
type liveBatch struct {
	taskID string
	entries
	end    bool
	status string
	total  int64

	fullOnce sync.Once
	full     []byte // the notification for subscribers in step, framed
}

// frame is the notification of the whole batch on channel, framed (see
// wsconn.TextFrame), made once: every subscriber of one batch's task has
// the same channel.
func (lb *liveBatch) frame(k *kind, channel string) []byte {
	lb.fullOnce.Do(func() {
		lb.full = wsconn.TextFrame(appendPublish(make([]byte, 0, len(lb.arr)+len(channel)+80), channel, k.key, lb.from, lb.arr))
	})
	return lb.full
}
