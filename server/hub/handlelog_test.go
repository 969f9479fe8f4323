package hub_test

import (
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// A subscriber that stops reading never holds up the bus: HandleLog goes
// on delivering to the others while the stalled one's socket and queue
// fill, and the stalled one is closed with 4008. The write deadline is
// far away, so if HandleLog waited for the stalled client's socket the
// test would hang instead of passing late.
func TestHandleLogNeverWaitsForASlowClient(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	h, srv := startHub(t, hub.Config{SendQueue: 256 << 10, WriteWait: 10 * time.Minute}, up, backend{})
	channel := wsapi.LogChannel(taskID)
	stalled, live := dial(t, srv), dial(t, srv)
	stalled.ws.NetConn().(*net.TCPConn).SetReadBuffer(16 << 10)
	for _, c := range []*conn{stalled, live} {
		if code := c.call(wsapi.MethodSubscribe, `{"channel":"`+channel+`"}`); code != nil {
			t.Fatalf("subscribe: error %d", *code)
		}
	}
	// Lines from, from+1, … of one batch.
	const perBatch, batches = 1000, 80 // 8 MB in all: far more than the stalled client's socket buffers and queue
	line := strings.Repeat("x", 96)
	push := func(from int64, n int) {
		lines := make([]string, n)
		for i := range lines {
			lines[i] = line
		}
		p, _ := json.Marshal(wire.LogBatch{TaskID: taskID, From: from, Lines: lines})
		h.HandleLog(p)
	}
	// Both get line 0, so both subscriptions are in step with the stream;
	// then one stops reading.
	readLines := func(c *conn, pending *[]msg) (from int64, n int) {
		t.Helper()
		for {
			m := c.next(pending)
			if m.Method != wsapi.MethodPublish {
				continue
			}
			var p wsapi.Publication[wsapi.LogData]
			if err := json.Unmarshal(m.Params, &p); err != nil {
				t.Fatal(err)
			}
			return p.Data.From, len(p.Data.Lines)
		}
	}
	push(0, 1)
	var stalledPending, livePending []msg
	readLines(stalled, &stalledPending)
	readLines(live, &livePending)

	next := int64(1)
	for range batches {
		push(next, perBatch)
		// The live client reads the batch before the next comes, as a
		// client keeping up with the task would.
		for got := 0; got < perBatch; {
			from, n := readLines(live, &livePending)
			if from != next+int64(got) {
				t.Fatalf("live client: lines from %d, want %d", from, next+int64(got))
			}
			got += n
		}
		next += perBatch
	}
	if n := h.Stats().SlowDisconnects; n != 1 {
		t.Fatalf("%d clients dropped as too slow, want 1 (the stalled one)", n)
	}
	// What the stalled client was sent, then the close that says why.
	var err error
	for err == nil {
		stalled.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err = stalled.ws.ReadMessage()
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != wsapi.CloseSlowClient {
		t.Fatalf("stalled client ended with %v, want close %d", err, wsapi.CloseSlowClient)
	}
}
