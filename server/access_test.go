package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wsapi"
)

// users adds a user with role and a password (cheap to hash in tests) to
// the store, and returns it.
func (e *env) user(name, role, password string) *store.User {
	e.t.Helper()
	hash, err := auth.HashPassword(password, auth.TestParams)
	if err != nil {
		e.t.Fatal(err)
	}
	now := store.Now()
	u := &store.User{ID: store.NewID(), Username: name, Role: role, PasswordHash: hash, Created: now, Updated: now}
	if err := e.st.Users().Create(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// adminUser is the user created at first start.
func (e *env) adminUser() *store.User {
	e.t.Helper()
	u, err := e.st.Users().GetByName(e.ctx, "admin")
	if err != nil {
		e.t.Fatalf("the user admin was not created at start: %v", err)
	}
	return u
}

// apiToken stores an API token of u with role, expiring at expires (zero:
// never), as POST /api/tokens would, and returns its secret and id.
func (e *env) apiToken(u *store.User, role string, expires time.Time) (secret, id string) {
	e.t.Helper()
	secret = auth.NewSecret(auth.PrefixToken)
	c := &store.Credential{ID: store.NewID(), Kind: store.CredentialToken, Name: u.Username + "-" + role, UserID: u.ID,
		Role: role, Hash: auth.HashSecret(secret), Expires: expires, Created: store.Now()}
	if err := e.st.Credentials().Create(e.ctx, c); err != nil {
		e.t.Fatal(err)
	}
	return secret, c.ID
}

// bearer is the request headers of a bearer secret ("" for none).
func bearer(secret string) map[string]string {
	if secret == "" {
		return map[string]string{"Authorization": ""}
	}
	return map[string]string{"Authorization": "Bearer " + secret}
}

// callers are who the role matrix asks as: the three roles, nobody, a
// revoked token and an expired one.
type caller struct {
	name   string
	secret string
	role   string // "" when the credential is not valid
}

func (e *env) callers() []caller {
	admin := e.adminUser()
	op := e.user("olivia", auth.Operator, "olivia-pw")
	viewer := e.user("victor", auth.Viewer, "victor-pw")
	adminTok, _ := e.apiToken(admin, auth.Admin, time.Time{})
	opTok, _ := e.apiToken(op, auth.Operator, time.Now().Add(time.Hour))
	viewTok, _ := e.apiToken(viewer, auth.Viewer, time.Time{})
	revoked, revokedID := e.apiToken(admin, auth.Admin, time.Time{})
	if err := e.st.Credentials().Delete(e.ctx, revokedID); err != nil {
		e.t.Fatal(err)
	}
	expired, _ := e.apiToken(admin, auth.Admin, time.Now().Add(-time.Minute))
	return []caller{
		{"admin", adminTok, auth.Admin},
		{"operator", opTok, auth.Operator},
		{"viewer", viewTok, auth.Viewer},
		{"no credentials", "", ""},
		{"revoked token", revoked, ""},
		{"expired token", expired, ""},
	}
}

// TestRoleMatrix asks every REST route and every JSON-RPC method, as
// generated from the server's own tables, as each role, nobody, a revoked
// and an expired token: each is let through (any status but 401 and 403)
// or refused (401 without a valid credential, 403 for a role too low)
// exactly as its row says.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	callers := e.callers()
	const unknownID = "0123456789abcdef01234567"
	routes := server.RouteRoles()
	if len(routes) < 30 {
		t.Fatalf("the route table has %d rows: the matrix is not reading it", len(routes))
	}
	for _, r := range routes {
		method, path := r.Method, strings.ReplaceAll(r.Path, ":id", unknownID)
		switch {
		case method == server.AnyMethod:
			method = http.MethodGet
		}
		switch path {
		case "/*":
			path = "/"
		case "/api/*":
			path = "/api/no-such-endpoint"
		}
		for _, c := range callers {
			status, _, body := e.request(method, path, "application/json", strings.NewReader(""), bearer(c.secret))
			var want string
			switch {
			case r.Role == server.RoleNone:
				want = "allowed"
			case c.role == "":
				want = "401"
			case auth.Allows(c.role, r.Role):
				want = "allowed"
			default:
				want = "403"
			}
			got := "allowed"
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				got = strconv.Itoa(status)
			}
			if got != want {
				t.Errorf("%s %s as %s (route needs %s): %s, want %s; body %s", r.Method, r.Path, c.name, r.Role, got, want, body)
			}
			if want == "403" && !strings.Contains(body, "this needs the "+r.Role+" role") {
				t.Errorf("%s %s as %s: the 403 does not name the role needed: %s", r.Method, r.Path, c.name, body)
			}
		}
	}

	// The table itself keeps the policy: a read is for viewers (or, for
	// what only admins see, admins), never operators; whatever changes
	// state needs more than a viewer, but for a signed-in user's own
	// affairs (signing out, a WebSocket ticket, their own tokens).
	own := func(path string) bool {
		return path == "/api/auth/logout" || path == "/api/ws-ticket" || path == "/api/me/password" || strings.HasPrefix(path, "/api/tokens")
	}
	for _, r := range routes {
		if r.Role == server.RoleNone || r.Method == server.AnyMethod {
			continue
		}
		key := r.Method + " " + r.Path
		switch {
		case r.Method == http.MethodGet && r.Role == auth.Operator:
			t.Errorf("%s needs %s: reads are for viewers (or admins)", key, r.Role)
		case r.Method != http.MethodGet && r.Role == auth.Viewer && !own(r.Path):
			t.Errorf("%s changes state but a viewer may call it", key)
		}
	}
	methods := server.RPCRoles()
	for m, need := range methods {
		verb := m[strings.LastIndex(m, ".")+1:]
		read := m == wsapi.MethodSubscribe || m == wsapi.MethodUnsubscribe || !strings.Contains(m, ".") ||
			map[string]bool{"list": true, "get": true, "log": true, "items": true, "sysinfo": true, "preview": true, "search": true, "metrics": true}[verb]
		if read && need == auth.Operator || !read && need == auth.Viewer {
			t.Errorf("%s needs %s: reads are for viewers (or admins), changes for operators or admins", m, need)
		}
	}
	for _, m := range []string{wsapi.MethodSubscribe, wsapi.MethodNodesList, wsapi.MethodTaskRun, wsapi.MethodTaskCancel, wsapi.MethodScheduleCreate} {
		if _, ok := methods[m]; !ok {
			t.Fatalf("the method table lacks %s", m)
		}
	}
	for _, c := range callers {
		conn, status := e.dialAs(c.secret)
		if c.role == "" {
			if conn != nil || status != http.StatusUnauthorized {
				t.Errorf("/ws as %s: status %d, want 401", c.name, status)
			}
			continue
		}
		if conn == nil {
			t.Fatalf("/ws as %s: status %d", c.name, status)
		}
		for m, need := range methods {
			reply := conn.call(m, "{}")
			forbidden := strings.Contains(reply, `"code":`+strconv.Itoa(wsapi.CodeForbidden)+`,`)
			if allowed := auth.Allows(c.role, need); allowed == forbidden {
				t.Errorf("%s as %s (method needs %s): reply %s", m, c.name, need, reply)
			}
			if forbidden && !strings.Contains(reply, "needs the "+need+" role") {
				t.Errorf("%s as %s: the refusal does not name the role needed: %s", m, c.name, reply)
			}
		}
		// A method missing from the table is unknown, never served.
		if r := conn.call("users.drop", "{}"); !strings.Contains(r, `"code":`+strconv.Itoa(wsapi.CodeMethodNotFound)) {
			t.Errorf("a method outside the table as %s: %s", c.name, r)
		}
	}
}

// login signs in with body and returns the status, the session cookie
// and the answer.
func (e *env) login(body any) (int, *http.Cookie, string) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", e.base+"/api/auth/login", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.hc.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == server.SessionCookie {
			return resp.StatusCode, ck, out.String()
		}
	}
	return resp.StatusCode, nil, out.String()
}

// withCookie sends a request with the session cookie and, unless csrf is
// "", the CSRF header.
func (e *env) withCookie(method, path string, ck *http.Cookie, csrf string) (int, http.Header, string) {
	e.t.Helper()
	hdr := bearer("")
	hdr["Cookie"] = ck.Name + "=" + ck.Value
	if csrf != "" {
		hdr[server.CSRFHeader] = csrf
	}
	return e.request(method, path, "application/json", strings.NewReader(""), hdr)
}

// TestSignInCSRFAndSignOut: a password sign-in sets a strict, HttpOnly
// cookie; with it, reads work, changes need the CSRF header, /api/me says
// who; signing out ends the session.
func TestSignInCSRFAndSignOut(t *testing.T) {
	e := newEnv(t)
	e.user("olivia", auth.Operator, "right horse")

	status, _, body := e.login(map[string]string{"username": "olivia", "password": "wrong"})
	_, _, unknown := e.login(map[string]string{"username": "nobody", "password": "wrong"})
	if status != http.StatusUnauthorized || body != unknown {
		t.Fatalf("a wrong password: %d %s; an unknown user: %s (want the same 401)", status, body, unknown)
	}
	status, ck, body := e.login(map[string]string{"username": "olivia", "password": "right horse"})
	if status != http.StatusOK || ck == nil {
		t.Fatalf("sign-in: %d %s", status, body)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Secure {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, not Secure without TLS", ck)
	}
	if !strings.HasPrefix(ck.Value, "chs_") || ck.Expires.Before(time.Now().Add(6*24*time.Hour)) {
		t.Errorf("cookie value %q expires %v: want a session secret lasting a week", ck.Value, ck.Expires)
	}
	var in struct {
		User store.User
		Role string
		CSRF string
	}
	json.Unmarshal([]byte(body), &in)
	if in.User.Username != "olivia" || in.Role != auth.Operator || !strings.HasPrefix(in.CSRF, "chc_") || strings.Contains(body, "$argon2id") {
		t.Fatalf("sign-in answer %s", body)
	}

	status, _, body = e.withCookie("GET", "/api/me", ck, "")
	if status != 200 || !strings.Contains(body, `"kind":"session"`) || !strings.Contains(body, `"role":"operator"`) || !strings.Contains(body, `"csrf":"`+in.CSRF+`"`) {
		t.Fatalf("GET /api/me with the cookie: %d %s", status, body)
	}
	// A change with the cookie but no CSRF header, or a wrong one, is refused.
	for _, csrf := range []string{"", "chc_forged"} {
		status, _, body = e.withCookie("POST", "/api/ws-ticket", ck, csrf)
		if status != http.StatusForbidden || !strings.Contains(body, server.CSRFHeader) {
			t.Fatalf("POST with the cookie and CSRF %q: %d %s", csrf, status, body)
		}
	}
	if status, _, body = e.withCookie("POST", "/api/ws-ticket", ck, in.CSRF); status != 200 {
		t.Fatalf("POST with the cookie and its CSRF: %d %s", status, body)
	}
	// A bearer request needs no CSRF header.
	tok, _ := e.apiToken(e.adminUser(), auth.Admin, time.Time{})
	if status, _, body = e.request("POST", "/api/ws-ticket", "", nil, bearer(tok)); status != 200 {
		t.Fatalf("POST with a bearer token: %d %s", status, body)
	}

	// Signing out: a WebSocket the session opened is closed, the session ends.
	ws, _ := e.dialURL(e.wsURL("/ws"), http.Header{"Cookie": {ck.Name + "=" + ck.Value}})
	if ws == nil {
		t.Fatal("the session cookie did not open /ws")
	}
	ws.subscribe(wsapi.ChannelTasks)
	status, h, _ := e.withCookie("POST", "/api/auth/logout", ck, in.CSRF)
	if status != http.StatusNoContent || !strings.Contains(h.Get("Set-Cookie"), server.SessionCookie+"=;") {
		t.Fatalf("sign-out: %d, Set-Cookie %q", status, h.Get("Set-Cookie"))
	}
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("the session's WebSocket closed with %d, want %d", code, wsapi.CloseRevoked)
	}
	if status, _, _ = e.withCookie("GET", "/api/me", ck, ""); status != http.StatusUnauthorized {
		t.Fatalf("the cookie after sign-out: %d, want 401", status)
	}
	// Sign-ins and failures are in the audit log, never a password.
	entries, _, err := e.st.Audit().List(e.ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range entries {
		actions = append(actions, a.Action)
		if strings.Contains(a.Detail, "right horse") || strings.Contains(a.Detail, "wrong") && a.Detail != "wrong password" {
			t.Errorf("an audit entry holds a password: %+v", a)
		}
	}
	if got := strings.Join(actions, " "); got != "auth.logout auth.login auth.login_failed auth.login_failed" {
		t.Errorf("audit actions (newest first): %s", got)
	}
	if strings.Contains(e.logs.String(), "right horse") {
		t.Error("the log holds a password")
	}
}

// TestSignInWithTokens: the start token signs in as admin, an API token
// as its user with at most the token's role.
func TestSignInWithTokens(t *testing.T) {
	e := newEnv(t)
	status, ck, body := e.login(map[string]string{"token": token})
	if status != 200 || !strings.Contains(body, `"username":"admin"`) || !strings.Contains(body, `"role":"admin"`) {
		t.Fatalf("sign-in with the start token: %d %s", status, body)
	}
	if status, _, body = e.withCookie("GET", "/api/me", ck, ""); !strings.Contains(body, `"kind":"session"`) || strings.Contains(body, "token_name") {
		t.Fatalf("me: %d %s", status, body)
	}
	v := e.user("vera", auth.Admin, "pw")
	tok, _ := e.apiToken(v, auth.Viewer, time.Time{})
	status, ck, body = e.login(map[string]string{"token": tok})
	if status != 200 || !strings.Contains(body, `"role":"viewer"`) {
		t.Fatalf("sign-in with a viewer token of an admin: %d %s", status, body)
	}
	if status, _, me := e.request("GET", "/api/me", "", nil, bearer(tok)); status != 200 ||
		!strings.Contains(me, `"kind":"token"`) || !strings.Contains(me, `"token_name":"vera-viewer"`) || strings.Contains(me, "csrf") {
		t.Fatalf("me with a token: %d %s", status, me)
	}
	if status, _, _ = e.withCookie("POST", "/api/tasks/0123456789abcdef01234567/cancel", ck, csrfOf(body)); status != http.StatusForbidden {
		t.Fatalf("a viewer token's session cancelled a task: %d", status)
	}
	if status, _, body = e.login(map[string]string{"token": "chk_nope"}); status != http.StatusUnauthorized {
		t.Fatalf("sign-in with an unknown token: %d %s", status, body)
	}
	if status, _, body = e.login(map[string]string{"token": tok, "username": "vera"}); status != http.StatusBadRequest {
		t.Fatalf("sign-in with both: %d %s", status, body)
	}
}

func csrfOf(body string) string {
	var v struct{ CSRF string }
	json.Unmarshal([]byte(body), &v)
	return v.CSRF
}

// TestStartToken: the token the server started with acts as the user
// admin, on REST and on /ws with ?token=.
func TestStartToken(t *testing.T) {
	e := newEnv(t)
	status, _, body := e.request("GET", "/api/me", "", nil, nil)
	if status != 200 || !strings.Contains(body, `"kind":"start-token"`) || !strings.Contains(body, `"role":"admin"`) ||
		!strings.Contains(body, `"username":"admin"`) || !strings.Contains(body, `"id":"`+e.adminUser().ID+`"`) {
		t.Fatalf("me with the start token: %d %s", status, body)
	}
	ws := e.dial() // ?token=<start token>
	if r := ws.call(wsapi.MethodTaskCancel, `{"task_id":"0123456789abcdef01234567"}`); strings.Contains(r, strconv.Itoa(wsapi.CodeForbidden)) ||
		!strings.Contains(r, `"code":`+strconv.Itoa(wsapi.CodeNotFound)) {
		t.Fatalf("task.cancel over /ws?token=: %s", r)
	}
	if c, status := e.dialURL(e.wsURL("/ws?token=wrong"), nil); c != nil || status != http.StatusUnauthorized {
		t.Fatalf("/ws?token=wrong: %d", status)
	}
}

// TestAdminPassword: the user admin made at first start gets the
// configured password.
func TestAdminPassword(t *testing.T) {
	e := newEnv(t, func(c *server.Config) { c.AdminPassword = "first-start" })
	if status, _, body := e.login(map[string]string{"username": "admin", "password": "first-start"}); status != 200 {
		t.Fatalf("admin sign-in with --admin-password: %d %s", status, body)
	}
}

// TestLoginThrottle: five wrong passwords lock the username out, even for
// the right password, with 429 and Retry-After.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	e.user("olivia", auth.Operator, "right")
	for i := range 4 {
		if status, _, body := e.login(map[string]string{"username": "olivia", "password": "wrong"}); status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, status, body)
		}
	}
	b, _ := json.Marshal(map[string]string{"username": "olivia", "password": "wrong"})
	status, h, body := e.request("POST", "/api/auth/login", "application/json", bytes.NewReader(b), bearer(""))
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "60" || !strings.Contains(body, "too_many_requests") {
		t.Fatalf("the 5th failure: %d Retry-After %q %s", status, h.Get("Retry-After"), body)
	}
	if status, _, body := e.login(map[string]string{"username": "olivia", "password": "right"}); status != http.StatusTooManyRequests {
		t.Fatalf("the right password while locked out: %d %s", status, body)
	}
	// Another user from the same address is not locked out (yet).
	e.user("victor", auth.Viewer, "pw")
	if status, _, body := e.login(map[string]string{"username": "victor", "password": "pw"}); status != 200 {
		t.Fatalf("another user: %d %s", status, body)
	}
	if !strings.Contains(e.logs.String(), `msg="sign-in failed" username=olivia address=127.0.0.1`) {
		t.Error("failures are not logged with the username and the address")
	}
}
