package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/wsapi"
	"github.com/gorilla/websocket"
)

// dialAs opens /ws with secret in the Authorization header ("" for none).
// A refused upgrade returns nil and the HTTP status.
func (e *env) dialAs(secret string) (*wsClient, int) {
	e.t.Helper()
	h := http.Header{}
	if secret != "" {
		h.Set("Authorization", "Bearer "+secret)
	}
	return e.dialURL(e.wsURL("/ws"), h)
}

// closeCode waits for the server to close c and returns the close code.
func (c *wsClient) closeCode() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(wait):
		c.t.Fatalf("the connection was not closed in %s", wait)
	}
	// The reader has returned: read once more for the close error.
	_, _, err := c.conn.ReadMessage()
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	c.t.Fatalf("no close frame: %v", err)
	return 0
}

// TestWebSocketTicket: a ticket opens one connection, acting as the
// credential that asked for it, and only once.
func TestWebSocketTicket(t *testing.T) {
	e := newEnv(t)
	v := e.user("victor", auth.Viewer, "pw")
	tok, tokID := e.apiToken(v, auth.Viewer, time.Time{})
	var tk struct {
		Ticket  string
		Expires time.Time
	}
	status, _, body := e.request("POST", "/api/ws-ticket", "", nil, bearer(tok))
	if json.Unmarshal([]byte(body), &tk); status != 200 || !strings.HasPrefix(tk.Ticket, "chw_") ||
		time.Until(tk.Expires) > 31*time.Second || tk.Expires.Before(time.Now()) {
		t.Fatalf("ticket: %d %s", status, body)
	}
	ws, status := e.dialURL(e.wsURL("/ws?ticket="+tk.Ticket), nil)
	if ws == nil {
		t.Fatalf("/ws?ticket=: %d", status)
	}
	if r := ws.call(wsapi.MethodTaskRun, `{}`); !strings.Contains(r, `"code":`+strconv.Itoa(wsapi.CodeForbidden)) {
		t.Fatalf("task.run on a viewer's ticket: %s", r)
	}
	if r := ws.call(wsapi.MethodNodesList, ``); !strings.Contains(r, `"result"`) {
		t.Fatalf("nodes.list on a viewer's ticket: %s", r)
	}
	if c, status := e.dialURL(e.wsURL("/ws?ticket="+tk.Ticket), nil); c != nil || status != http.StatusUnauthorized {
		t.Fatalf("a ticket used twice: %d, want 401", status)
	}
	// A ticket is no bearer token, on REST or on /ws.
	if status, _, _ := e.request("GET", "/api/me", "", nil, bearer(tk.Ticket)); status != http.StatusUnauthorized {
		t.Fatalf("a ticket as a bearer token: %d", status)
	}
	// Revoking the token that asked for the ticket closes the connection.
	if err := e.st.Credentials().Delete(e.ctx, tokID); err != nil {
		t.Fatal(err)
	}
	e.srv.CredentialsRevoked(e.ctx, []string{tokID})
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("the ticket's connection closed with %d, want %d", code, wsapi.CloseRevoked)
	}
}

// TestRevokedAndExpiredCloseWebSockets: an open WebSocket ends with 4001
// when its token is revoked (on every master: the other one hears it on
// the bus), when it expires, and when its user is disabled.
func TestRevokedAndExpiredCloseWebSockets(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.CredentialCheck = 50 * time.Millisecond })
	v := e.user("victor", auth.Viewer, "pw")

	// A second master on the same bus and store.
	other := e.secondMaster()
	tok, id := e.apiToken(v, auth.Viewer, time.Time{})
	here, _ := e.dialAs(tok)
	there, _ := dialServer(e, other, tok)
	here.subscribe(wsapi.ChannelTasks)
	there.subscribe(wsapi.ChannelTasks)
	if err := e.st.Credentials().Delete(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	e.srv.CredentialsRevoked(e.ctx, []string{id})
	if code := here.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("revoked here: closed with %d", code)
	}
	if code := there.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("revoked on the other master: closed with %d", code)
	}

	// Expiry: closed by the periodic check.
	tok, _ = e.apiToken(v, auth.Viewer, time.Now().Add(time.Second))
	ws, _ := e.dialAs(tok)
	ws.subscribe(wsapi.ChannelTasks)
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("expired: closed with %d", code)
	}

	// A disabled user.
	tok, _ = e.apiToken(v, auth.Viewer, time.Time{})
	ws, _ = e.dialAs(tok)
	ws.subscribe(wsapi.ChannelTasks)
	v.Disabled = true
	if err := e.st.Users().Update(e.ctx, v); err != nil {
		t.Fatal(err)
	}
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("user disabled: closed with %d", code)
	}
	if status, _, _ := e.request("GET", "/api/me", "", nil, bearer(tok)); status != http.StatusUnauthorized {
		t.Fatalf("a disabled user's token: %d", status)
	}
	// The start token's connection stays.
	admin := e.dial()
	if r := admin.call(wsapi.MethodNodesList, ""); !strings.Contains(r, `"result"`) {
		t.Fatalf("the start token's connection: %s", r)
	}
}

// TestExpiryClosesWebSocketAtOnce: a connection opened with a token that
// expires is closed with 4001 when it expires, not at the next periodic
// check (here an hour away); one opened with a token that does not expire
// stays.
func TestExpiryClosesWebSocketAtOnce(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.CredentialCheck = time.Hour })
	v := e.user("erin", auth.Viewer, "pw")
	short, _ := e.apiToken(v, auth.Viewer, time.Now().Add(time.Second))
	long, _ := e.apiToken(v, auth.Viewer, time.Time{})
	ws, _ := e.dialAs(short)
	stays, _ := e.dialAs(long)
	ws.subscribe(wsapi.ChannelTasks)
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("expired: closed with %d, want %d", code, wsapi.CloseRevoked)
	}
	if r := stays.call(wsapi.MethodNodesList, ""); !strings.Contains(r, `"result"`) {
		t.Fatalf("the token without expiry: %s, want it still served", r)
	}
}

// secondMaster starts another master on e's bus and store, stopped at the
// test's end.
func (e *env) secondMaster() *server.Server {
	e.t.Helper()
	connect := func(h bus.Handler) (bus.Bus, error) { return e.broker.Connect(h), nil }
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Log: log, PasswordParams: auth.TestParams}, e.st, connect)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	e.t.Cleanup(func() { cancel(); <-done })
	return s
}

// dialServer opens /ws on s with a bearer secret.
func dialServer(e *env, s *server.Server, secret string) (*wsClient, int) {
	e.t.Helper()
	return e.dialURL("ws://"+s.Addr()+"/ws", http.Header{"Authorization": {"Bearer " + secret}})
}
