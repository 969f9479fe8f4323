package bench

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A Centrifugo ping that shares its frame with a publication: the client
// answers the ping and still hands the publication on.
func TestCentrifugoPingWithPublication(t *testing.T) {
	pong := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for _, reply := range []string{`{"id":1,"connect":{}}`, `{"id":2,"subscribe":{}}`} {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			ws.WriteMessage(websocket.TextMessage, []byte(reply))
		}
		ws.WriteMessage(websocket.TextMessage, []byte("{}\n{\"push\":{\"channel\":\"bench\",\"pub\":{\"data\":{\"m\":\"published\"}}}}"))
		_, b, err := ws.ReadMessage()
		if err == nil {
			pong <- b
		}
		ws.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	got := make(chan []byte, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, Sub{Kind: KindCentrifugo, URL: "ws" + strings.TrimPrefix(srv.URL, "http"), Channel: "bench"}, func(f []byte) {
		select {
		case got <- bytes.Clone(f):
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case f := <-got:
		if !bytes.Contains(f, []byte("published")) {
			t.Fatalf("handler got %q", f)
		}
	case <-ctx.Done():
		t.Fatal("the publication sharing the ping's frame was not handed on")
	}
	select {
	case b := <-pong:
		if string(b) != "{}" {
			t.Fatalf("ping answered with %q", b)
		}
	case <-ctx.Done():
		t.Fatal("the ping was not answered")
	}
}
