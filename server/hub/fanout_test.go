package hub_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Many broadcasts in a row reach every subscriber exactly once and in
// order, however they are framed: one by one, several in one array frame
// (the fan-out's batches, a behind client's queue), never nested. A
// client that pings all along gets its pongs between them intact, and
// one that reads nothing until every broadcast has been handed to the hub
// gets everything once it reads.
//
// Nothing here waits for a time to pass or bounds how long a read may
// take: on a loaded machine seconds can go by between two frames, and
// that says nothing about order. A reader whose messages never come is
// cut off just before the test binary's own timeout (see
// cutOffBeforeTimeout), so that the failure says which reader stopped
// where.
func TestBroadcastBurst(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	// A queue large enough for everything that waits for the paused
	// client, and a write deadline and a pong wait far longer than the
	// burst can take however busy the machine: this test is about order,
	// not about slow or silent clients. Otherwise a write blocked for half
	// of WriteWait closes the paused client as too slow (4008), and a
	// client that pongs only once it has read its way to the server's ping
	// through megabytes of messages may be closed as gone after PongWait.
	h, srv := startHub(t, hub.Config{SendQueue: 64 << 20, WriteWait: time.Hour, PongWait: time.Hour}, up, backend{})
	// Every sixth message is large (12 MiB in all, more than the socket
	// buffers hold), so that what the paused client is sent fills its
	// socket buffers and the rest waits in its queue.
	const n = 9000
	big := strings.Repeat("x", 8<<10)
	type reader struct {
		c      *conn
		ping   bool
		paused bool // reads nothing until every broadcast is sent
		pongs  atomic.Int64
		got    []int
		frames int
		arrays int
	}
	readers := []*reader{{}, {ping: true}, {paused: true}}
	// The clients' receive buffers are left as the kernel sizes them: one
	// shrunk to a few KiB makes loopback TCP drop segments while its
	// reader is away and retransmit them with a backoff that doubles, so
	// that seconds of silence follow the reader's return, the kernel's and
	// not the hub's.
	for _, r := range readers {
		r.c = dial(t, srv)
		if code := r.c.call("subscribe", `{"channel":"tasks"}`); code != nil {
			t.Fatalf("subscribe: error %d", *code)
		}
		// call's read deadline must not outlive it.
		r.c.ws.SetReadDeadline(time.Time{})
		if r.ping {
			r.c.ws.SetPongHandler(func(string) error { r.pongs.Add(1); return nil })
		}
	}
	cutOffBeforeTimeout(t, readers[0].c, readers[1].c, readers[2].c)
	sent := make(chan struct{}) // closed once every broadcast is handed to the hub
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() {
			stop, pinged := make(chan struct{}), make(chan struct{})
			defer func() { close(stop); <-pinged }()
			if !r.ping {
				close(pinged)
			} else {
				go func() {
					defer close(pinged)
					tk := time.NewTicker(time.Millisecond)
					defer tk.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tk.C:
							// No deadline: a ping that waits long on a busy
							// machine is still a ping.
							if r.c.ws.WriteControl(websocket.PingMessage, []byte("p"), time.Time{}) != nil {
								return
							}
						}
					}
				}()
			}
			if r.paused {
				<-sent // the server's writes to it have piled up meanwhile
			}
			for len(r.got) < n {
				_, b, err := r.c.ws.ReadMessage()
				if err != nil {
					t.Errorf("after %d messages: %v", len(r.got), err)
					return
				}
				r.frames++
				ms, err := decodeFrame(b)
				if err != nil {
					t.Error(err)
					return
				}
				if b[0] == '[' {
					r.arrays++
				}
				for _, m := range ms {
					if m.Method != "publish" || m.Params.Channel != "tasks" {
						t.Errorf("unexpected message %+v in %.200s", m, b)
						return
					}
					r.got = append(r.got, m.Params.Data.N)
				}
			}
		})
	}
	for i := range n {
		pad := ""
		if i%6 == 0 {
			pad = big
		}
		h.Broadcast(wsapi.ChannelTasks, map[string]any{"n": i, "pad": pad})
	}
	close(sent)
	wg.Wait()
	for k, r := range readers {
		if len(r.got) != n {
			t.Fatalf("reader %d got %d messages, want %d", k, len(r.got), n)
		}
		for i, v := range r.got {
			if v != i {
				t.Fatalf("reader %d: message %d is %d", k, i, v)
			}
		}
		t.Logf("reader %d: %d messages in %d frames (%d arrays), %d pongs", k, n, r.frames, r.arrays, r.pongs.Load())
	}
	if readers[1].pongs.Load() == 0 {
		t.Error("the pinging client got no pong")
	}
}

type published struct {
	Method string `json:"method"`
	Params struct {
		Channel string `json:"channel"`
		Data    struct {
			N int `json:"n"`
		} `json:"data"`
	} `json:"params"`
}

// A connection stays usable after the server's pings: a blocking write's
// deadline must not outlive it and fail the writes that follow.
func TestBroadcastAfterPingDeadline(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	const writeWait = 100 * time.Millisecond
	h, srv := startHub(t, hub.Config{PingPeriod: 3 * writeWait, PongWait: 2 * time.Second, WriteWait: writeWait}, up, backend{})
	c := dial(t, srv)
	if code := c.call("subscribe", `{"channel":"tasks"}`); code != nil {
		t.Fatalf("subscribe: error %d", *code)
	}
	pings := make(chan struct{}, 100)
	c.ws.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	var p []msg
	for i := range 5 {
		// Wait for a ping (read runs the handler), then for longer than
		// the ping's write deadline, then broadcast.
		got := false
		for !got {
			h.Broadcast(wsapi.ChannelTasks, map[string]int{"n": i})
			c.next(&p)
			select {
			case <-pings:
				got = true
			default:
			}
		}
		time.Sleep(2 * writeWait) // past the deadline, before the next ping: nothing to wait for
		h.Broadcast(wsapi.ChannelTasks, map[string]int{"n": -1})
		for m := c.next(&p); ; m = c.next(&p) {
			var d struct {
				Data struct {
					N int `json:"n"`
				} `json:"data"`
			}
			json.Unmarshal(m.Params, &d)
			if d.Data.N == -1 {
				break
			}
		}
	}
}

// With enough subscribers the fan-out spreads its writes over goroutines;
// every client still gets every message once and in order.
func TestBroadcastManyClients(t *testing.T) {
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	h, srv := newHub(t, up, backend{})
	const clients, n = 150, 2000
	conns := make([]*conn, clients)
	for i := range conns {
		conns[i] = dial(t, srv)
		if code := conns[i].call("subscribe", `{"channel":"tasks"}`); code != nil {
			t.Fatalf("subscribe: error %d", *code)
		}
	}
	for _, c := range conns {
		c.ws.SetReadDeadline(time.Time{}) // no bound on a read: see TestBroadcastBurst
	}
	cutOffBeforeTimeout(t, conns...)
	var wg sync.WaitGroup
	for k, c := range conns {
		wg.Go(func() {
			for i := 0; i < n; {
				_, b, err := c.ws.ReadMessage()
				if err != nil {
					t.Errorf("client %d after %d messages: %v", k, i, err)
					return
				}
				ms, err := decodeFrame(b)
				if err != nil {
					t.Error(err)
					return
				}
				for _, m := range ms {
					if m.Params.Data.N != i {
						t.Errorf("client %d: message %d is %d", k, i, m.Params.Data.N)
						return
					}
					i++
				}
			}
		})
	}
	for i := range n {
		h.Broadcast(wsapi.ChannelTasks, map[string]int{"n": i})
	}
	wg.Wait()
}

// cutOffBeforeTimeout closes conns shortly before the test binary's own
// timeout (go test -timeout), so that a test whose readers wait for
// messages that never come fails saying what each one got, instead of
// being ended by the binary's panic. It does not bound how long the test
// may take.
func cutOffBeforeTimeout(t *testing.T, conns ...*conn) {
	deadline, ok := t.Deadline()
	if !ok {
		return
	}
	left := time.Until(deadline)
	cut := time.AfterFunc(left-min(left/10, 10*time.Second), func() {
		for _, c := range conns {
			c.ws.Close()
		}
	})
	t.Cleanup(func() { cut.Stop() })
}

// decodeFrame reads the publications of one frame: one object, or an
// array of them.
func decodeFrame(b []byte) ([]published, error) {
	if b[0] == '[' {
		var ms []published
		if err := json.Unmarshal(b, &ms); err != nil {
			return nil, fmt.Errorf("array frame: %v: %.200s", err, b)
		}
		return ms, nil
	}
	ms := make([]published, 1)
	if err := json.Unmarshal(b, &ms[0]); err != nil {
		return nil, fmt.Errorf("frame: %v: %.200s", err, b)
	}
	return ms, nil
}
