package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestChangeOwnPassword: any user changes their own password with the
// current one; a wrong current one is refused and counts as a failed
// sign-in; the old password stops working, the new one works, the user's
// other dashboards are signed out and the one that changed it is not.
func TestChangeOwnPassword(t *testing.T) {
	e := newEnv(t)
	e.member("vera", auth.Viewer) // password "password-of-vera"
	login := func(pw string) (int, string, string) {
		st, ck, body := e.login(map[string]string{"username": "vera", "password": pw})
		var r struct{ CSRF string }
		json.Unmarshal([]byte(body), &r)
		if ck == nil {
			return st, "", ""
		}
		return st, ck.Name + "=" + ck.Value, r.CSRF
	}
	st, here, csrf := login("password-of-vera")
	if st != 200 {
		t.Fatalf("sign in: %d", st)
	}
	_, there, _ := login("password-of-vera")
	ws, _ := e.dialURL(e.wsURL("/ws"), http.Header{"Cookie": {there}})
	ws.call(wsapi.MethodNodesList, "")

	change := func(current, next string) (int, string) {
		b, _ := json.Marshal(map[string]string{"current": current, "password": next})
		st, _, body := e.request("PUT", "/api/me/password", "application/json", bytes.NewReader(b),
			map[string]string{"Authorization": "", "Cookie": here, server.CSRFHeader: csrf})
		return st, body
	}
	if st, body := change("not-the-password", "a-new-password"); st != 403 {
		t.Fatalf("a wrong current password: %d %s, want 403", st, body)
	}
	if st, body := change("password-of-vera", "short"); st != 400 {
		t.Fatalf("a too short new password: %d %s, want 400", st, body)
	}
	if st, body := change("password-of-vera", "a-new-password"); st != 200 {
		t.Fatalf("change: %d %s", st, body)
	}
	if st, _, _ := login("password-of-vera"); st != 401 {
		t.Errorf("the old password signs in: %d, want 401", st)
	}
	if st, _, _ := login("a-new-password"); st != 200 {
		t.Errorf("the new password: %d, want 200", st)
	}
	if st, _, body := e.request("GET", "/api/me", "", nil, map[string]string{"Authorization": "", "Cookie": here}); st != 200 {
		t.Errorf("the dashboard that changed it: %d %s, want still signed in", st, body)
	}
	if st, _, _ := e.request("GET", "/api/me", "", nil, map[string]string{"Authorization": "", "Cookie": there}); st != 401 {
		t.Errorf("the other dashboard: %d, want signed out (401)", st)
	}
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Errorf("the other dashboard's WebSocket closed with %d, want %d", code, wsapi.CloseRevoked)
	}
	if st, body := e.as(token, "GET", "/api/audit?action=user.password", nil); st != 200 || !bytes.Contains([]byte(body), []byte(`"target":"vera"`)) {
		t.Errorf("audit: %d %s, want the change recorded", st, body)
	}

	// admin, made at the first start with no password, sets one with the
	// start token and an empty current password, then signs in with it.
	if st, body := e.as(token, "PUT", "/api/me/password", map[string]string{"current": "", "password": "admin-password-1"}); st != 200 {
		t.Fatalf("admin sets a first password: %d %s", st, body)
	}
	if st, _, _ := e.login(map[string]string{"username": "admin", "password": "admin-password-1"}); st != 200 {
		t.Errorf("admin signs in with the new password: %d, want 200", st)
	}
}
