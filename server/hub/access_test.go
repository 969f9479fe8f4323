package hub_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestPrincipalAuthorizeDisconnect: a connection acts as the principal of
// the request that opened it; every call, subscriptions included, is
// authorized against it before it is served; Disconnect closes the
// connections of the principals it picks, with the code given, and no
// other.
func TestPrincipalAuthorizeDisconnect(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	cfg := hub.Config{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Authorize: func(p auth.Principal, method string) error {
			mu.Lock()
			asked = append(asked, p.Username+" "+method)
			mu.Unlock()
			if method == wsapi.MethodTaskRun && !auth.Allows(p.Role, auth.Operator) {
				return hub.Errorf(wsapi.CodeForbidden, "task.run needs the operator role")
			}
			if method == wsapi.MethodSubscribe && p.Role == "" {
				return errors.New("mapped by the backend")
			}
			return nil
		},
	}
	up := &fakeUpstream{subs: map[string]int{}, unsub: map[string]int{}}
	h, err := hub.New(cfg, backend{}, up)
	if err != nil {
		t.Fatal(err)
	}
	// The server authenticates; here a header names the principal.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, role, _ := strings.Cut(r.Header.Get("X-Who"), ":")
		p := auth.Principal{Username: name, Role: role, CredentialID: "cred-" + name, Address: "192.0.2.7"}
		h.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
	}))
	t.Cleanup(func() { srv.Close(); h.Close() })
	open := func(who string) *conn {
		ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), http.Header{"X-Who": {who}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.Close() })
		return &conn{t: t, ws: ws}
	}
	viewer, operator := open("victor:viewer"), open("olivia:operator")

	if code := viewer.call(wsapi.MethodTaskRun, `{}`); code == nil || *code != wsapi.CodeForbidden {
		t.Fatalf("task.run as a viewer: %v, want %d", code, wsapi.CodeForbidden)
	}
	// An operator passes the check and reaches the backend (which has no methods).
	if code := operator.call(wsapi.MethodTaskRun, `{}`); code == nil || *code != wsapi.CodeMethodNotFound {
		t.Fatalf("task.run as an operator: %v, want the backend's %d", code, wsapi.CodeMethodNotFound)
	}
	if code := viewer.call(wsapi.MethodSubscribe, `{"channel":"nodes"}`); code != nil {
		t.Fatalf("subscribe as a viewer: %d", *code)
	}
	if code := open("nobody:").call(wsapi.MethodSubscribe, `{"channel":"nodes"}`); code == nil || *code != wsapi.CodeInternal {
		t.Fatalf("a refusal that is no JSON-RPC error: %v, want it mapped by the backend", code)
	}

	ps := h.Principals()
	if len(ps) != 3 {
		t.Fatalf("Principals: %+v", ps)
	}
	n := h.Disconnect(func(p auth.Principal) bool { return p.CredentialID == "cred-victor" }, wsapi.CloseRevoked, "revoked")
	if n != 1 {
		t.Fatalf("Disconnect closed %d clients, want 1", n)
	}
	viewer.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, _, err := viewer.ws.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			if ce.Code != wsapi.CloseRevoked || ce.Text != "revoked" {
				t.Fatalf("closed with %d %q", ce.Code, ce.Text)
			}
			break
		}
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
	}
	// The others are untouched.
	if code := operator.call(wsapi.MethodSubscribe, `{"channel":"nodes"}`); code != nil {
		t.Fatalf("the operator after the viewer's disconnect: %d", *code)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(asked, ", "); got != "victor task.run, olivia task.run, victor subscribe, nobody subscribe, olivia subscribe" {
		t.Errorf("calls authorized: %s", got)
	}
}
