package hub_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/server/hub"
)

// A request refused by the upgrade (not a WebSocket handshake) or by the
// caps does not keep a place: the caps count connections, not attempts.
func TestCapsCountConnectionsNotAttempts(t *testing.T) {
	h, srv := startHub(t, hub.Config{MaxConnections: 1, MaxPerAddress: 1}, &fakeUpstream{}, backend{})
	for range 3 {
		resp, err := http.Get(srv.URL) // no Upgrade header
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("a plain GET: %d, want 400 from the upgrader", resp.StatusCode)
		}
	}
	c := dial(t, srv)
	// A reply means the hub has registered the client: its reader runs
	// only after that, which may come a moment after the dialler sees 101.
	c.call("subscribe", `{"channel":"nodes"}`)
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err == nil {
		t.Fatal("a second connection past a cap of one was upgraded")
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the second connection: %d %s", resp.StatusCode, b)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Error("a refusal without Retry-After")
	}
	if h.Clients() != 1 {
		t.Fatalf("%d clients, want 1", h.Clients())
	}
}

func TestCapsNegativeRefused(t *testing.T) {
	if _, err := hub.New(hub.Config{MaxConnections: -1}, backend{}, &fakeUpstream{}); err == nil {
		t.Fatal("a negative cap was taken")
	}
}
