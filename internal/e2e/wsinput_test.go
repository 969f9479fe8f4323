package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wsapi"
	"github.com/gorilla/websocket"
)

func rawDial(t *testing.T, base string, h http.Header) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	return websocket.DefaultDialer.Dial(strings.Replace(base, "http", "ws", 1)+"/ws", h)
}

type rpcReply struct {
	ID     any             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestBadFrames(t *testing.T) {
	e := allInOne(t)
	auth := http.Header{"Authorization": {"Bearer " + token}}
	ws, _, err := rawDial(t, e.base(0), auth)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ask := func(frame string) rpcReply {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
		var r rpcReply
		if err := json.Unmarshal(msg, &r); err != nil {
			t.Fatalf("%s: reply %s", frame, msg)
		}
		return r
	}
	for _, tc := range []struct {
		frame string
		code  int
	}{
		{`not json`, -32700},
		{`{"jsonrpc":"2.0","id":1,"method":"no.such"}`, -32601},
		{`{"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"channel":5}}`, -32602},
		{`{"jsonrpc":"2.0","id":3,"method":"subscribe","params":{"channel":"elsewhere"}}`, -32602},
		{`{"jsonrpc":"2.0","id":4,"method":"task.log","params":{"task_id":"0123456789abcdef01234567"}}`, -32001},
		{`{"jsonrpc":"2.0","id":5,"method":"node.sysinfo","params":{"node_id":"nope"}}`, -32602},
		{`{"jsonrpc":"2.0","id":6,"method":"task.run","params":{"spider":"missing","mode":"any"}}`, -32001},
		{`{"jsonrpc":"2.0","id":7,"method":"nodes.list","params":{"bogus":1}}`, -32602},
		{`[{"jsonrpc":"2.0","id":8,"method":"nodes.list"}]`, -32600},
	} {
		r := ask(tc.frame)
		if r.Error == nil || r.Error.Code != tc.code || r.Error.Message == "" {
			t.Errorf("%s: got %+v, want code %d", tc.frame, r.Error, tc.code)
		}
	}
	// Still serving on the same connection.
	if r := ask(`{"jsonrpc":"2.0","id":9,"method":"nodes.list"}`); r.Error != nil {
		t.Fatalf("nodes.list after bad frames: %+v", r.Error)
	}

	// 10,000 subscribe calls: one per queued task up to the limit, then
	// "too many"; the same channel twice is "already subscribed".
	offline := store.Node{ID: store.NewID(), Name: "away", Status: store.NodeOffline}
	if err := e.stores[0].Nodes().Register(context.Background(), &offline); err != nil {
		t.Fatal(err)
	}
	sp := e.spider("idle", "true")
	var tasks []store.Task
	for range 11 {
		ids := make([]string, 100)
		for i := range ids {
			ids[i] = offline.ID
		}
		tasks = append(tasks, e.run(0, map[string]any{"spider_id": sp.ID, "mode": "nodes", "node_ids": ids, "queue": true})...)
	}
	codes := map[int]int{}
	for i := range 10_000 {
		ch := wsapi.LogChannel(tasks[i%len(tasks)].ID)
		r := ask(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"subscribe","params":{"channel":%q}}`, 100+i, ch))
		if r.Error == nil {
			codes[0]++
		} else {
			codes[r.Error.Code]++
		}
	}
	if codes[0] != 1000 || codes[wsapi.CodeTooManySubs]+codes[wsapi.CodeAlreadySubscribed] != 9000 || codes[wsapi.CodeTooManySubs] == 0 {
		t.Errorf("subscribe answers by code: %v", codes)
	}
	// Another client is served all along.
	other := e.dial(0)
	if err := other.Call(context.Background(), "nodes.list", nil, nil); err != nil {
		t.Fatal(err)
	}

	// A frame over the 64 KiB limit closes the connection with 1009.
	big := `{"jsonrpc":"2.0","id":1,"method":"nodes.list","params":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	ws.WriteMessage(websocket.TextMessage, []byte(big))
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err = ws.ReadMessage(); err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("1 MiB frame: %v, want close 1009", err)
	}
	if err := other.Call(context.Background(), "nodes.list", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestWebSocketAuth(t *testing.T) {
	e := allInOne(t)
	for _, tc := range []struct {
		name string
		h    http.Header
		code int
	}{
		{"no token", http.Header{}, http.StatusUnauthorized},
		{"wrong token", http.Header{"Authorization": {"Bearer wrong"}}, http.StatusUnauthorized},
		{"foreign origin", http.Header{"Authorization": {"Bearer " + token}, "Origin": {"http://evil.example"}}, http.StatusForbidden},
	} {
		_, resp, err := rawDial(t, e.base(0), tc.h)
		if err == nil || resp == nil || resp.StatusCode != tc.code {
			t.Errorf("%s: err %v, response %v, want %d", tc.name, err, resp, tc.code)
		}
	}
	// Its own origin, and ?token= as browsers send it.
	own := http.Header{"Origin": {e.base(0)}}
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.base(0), "http", "ws", 1)+"/ws?token="+token, own)
	if err != nil {
		t.Fatalf("own origin with ?token=: %v", err)
	}
	ws.Close()
}
