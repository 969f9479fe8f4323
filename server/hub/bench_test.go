package hub_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// benchReader is a client that reads as fast as it can and counts the
// notifications it gets.
type benchReader struct {
	ws   *websocket.Conn
	got  atomic.Int64
	tick chan struct{} // capacity 1: got grew
}

var publishMark = []byte(`"method":"publish"`)

func (r *benchReader) read() {
	for {
		_, b, err := r.ws.ReadMessage()
		if err != nil {
			return
		}
		r.got.Add(int64(bytes.Count(b, publishMark)))
		select {
		case r.tick <- struct{}{}:
		default:
		}
	}
}

// waitFor blocks until every reader has n notifications.
func waitFor(readers []*benchReader, n int64) {
	for _, r := range readers {
		for r.got.Load() < n {
			<-r.tick
		}
	}
}

// BenchmarkDeliver measures what one message costs the master from the
// bus to the sockets of its clients: a broadcast on "tasks" (what the
// fan-out scenario of make bench sends), and a live log batch of 10 lines
// (the log scenario). Every client reads all it is sent; an op ends only
// once every client has its message, so the cost of the write path is in
// ns/op.
func BenchmarkDeliver(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("broadcast/clients=%d", n), func(b *testing.B) {
			h, readers := benchClients(b, n, `{"channel":"`+wsapi.ChannelTasks+`"}`)
			ev := map[string]any{"task_id": "0123456789abcdef01234567", "status": "running", "log_lines": 42}
			runDeliver(b, readers, 0, func(int) { h.Broadcast(wsapi.ChannelTasks, ev) })
		})
		b.Run(fmt.Sprintf("log/clients=%d", n), func(b *testing.B) {
			h, readers := benchClients(b, n, `{"channel":"`+wsapi.LogChannel(taskID)+`"}`)
			lines := make([]string, 10)
			for i := range lines {
				lines[i] = strings.Repeat("x", 100)
			}
			batch := func(from int64, lines []string) []byte {
				p, _ := json.Marshal(wire.LogBatch{TaskID: taskID, From: from, Lines: lines})
				return p
			}
			// Line 0 first: every subscription is then in step with the
			// stream, as a live viewer's is.
			h.HandleLog(batch(0, lines[:1]))
			waitFor(readers, 1)
			runDeliver(b, readers, 1, func(i int) { h.HandleLog(batch(1+int64(i)*10, lines)) })
		})
	}
}

// runDeliver sends b.N messages with send, never letting a client fall
// more than a window behind (so none is dropped as too slow), and waits
// until every client has them all.
func runDeliver(b *testing.B, readers []*benchReader, base int64, send func(i int)) {
	const window = 64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		send(i)
		i++
		if i%window == 0 {
			waitFor(readers, base+int64(i-window/2))
		}
	}
	waitFor(readers, base+int64(i))
}

func benchClients(b *testing.B, n int, subscribe string) (*hub.Hub, []*benchReader) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	h, srv := startHub(b, hub.Config{}, up, backend{})
	readers := make([]*benchReader, n)
	for i := range readers {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ws.Close() })
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"subscribe","params":`+subscribe+`}`)); err != nil {
			b.Fatal(err)
		}
		if _, reply, err := ws.ReadMessage(); err != nil || !bytes.Contains(reply, []byte(`"result"`)) {
			b.Fatalf("subscribe: %s %v", reply, err)
		}
		readers[i] = &benchReader{ws: ws, tick: make(chan struct{}, 1)}
		go readers[i].read()
	}
	return h, readers
}
