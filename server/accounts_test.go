package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// member stores a user with role and an API token of theirs with the same
// role, as an admin and the user would make them, and returns the user's
// id and the token's secret. The placeholders {<name>_id} and
// {<name>_token} name them in scenarios.
func (e *env) member(name, role string) (id, secret string) {
	e.t.Helper()
	e.adminID() // a user made first would stop the admin being made
	hash, err := auth.HashPassword("password-of-"+name, auth.TestParams)
	if err != nil {
		e.t.Fatal(err)
	}
	now := store.Now()
	u := &store.User{ID: store.NewID(), Username: name, Role: role, PasswordHash: hash, Created: now, Updated: now}
	if err := e.st.Users().Create(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	secret = e.credential(u.ID, store.CredentialToken, name+"-script", role)
	e.vars[name+"_id"], e.vars[name+"_token"] = u.ID, secret
	return u.ID, secret
}

// credential stores a credential of kind for a user and returns its secret.
func (e *env) credential(userID, kind, name, role string) string {
	e.t.Helper()
	secret := auth.NewSecret(auth.PrefixToken)
	if kind == store.CredentialSession {
		secret = auth.NewSecret(auth.PrefixSession)
	}
	c := &store.Credential{ID: store.NewID(), Kind: kind, Name: name, UserID: userID, Role: role,
		Hash: auth.HashSecret(secret), Created: store.Now()}
	if kind == store.CredentialSession {
		c.CSRF = auth.NewSecret(auth.PrefixCSRF)
	}
	if err := e.st.Credentials().Create(e.ctx, c); err != nil {
		e.t.Fatal(err)
	}
	return secret
}

// as sends a request with secret as its bearer token and a JSON body.
func (e *env) as(secret, method, path string, body any) (int, string) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	status, _, b := e.request(method, e.expand(path), "application/json", r, map[string]string{"Authorization": "Bearer " + secret})
	return status, b
}

// adminID is the id of the user admin, which the master makes at its
// first start before it serves. A test that reads the store may get there
// first (the environment waits for the agent, not for that), and no event
// says it is done: the store is asked until it is there.
func (e *env) adminID() string {
	e.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		u, err := e.st.Users().GetByName(e.ctx, "admin")
		if err == nil {
			e.vars["admin_id"] = u.ID
			return u.ID
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the first start made no admin user: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// credentialsOf lists a user's credentials by kind.
func (e *env) credentialsOf(userID string) map[string]int {
	e.t.Helper()
	cs, err := e.st.Credentials().List(e.ctx, store.CredentialFilter{UserID: userID})
	if err != nil {
		e.t.Fatal(err)
	}
	n := map[string]int{}
	for _, c := range cs {
		n[c.Kind]++
	}
	return n
}

// audited waits for nothing: audit writes finish before the answer. It
// returns the entries of action, newest first.
func (e *env) audited(action string) []store.AuditEntry {
	e.t.Helper()
	es, _, err := e.st.Audit().List(e.ctx, store.AuditFilter{Action: action})
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) wantAudit(action, target string, detail ...string) store.AuditEntry {
	e.t.Helper()
	for i := range detail {
		detail[i] = e.expand(detail[i])
	}
	for _, a := range e.audited(action) {
		if a.Target == e.expand(target) && containsAll(a.Detail, detail) {
			return a
		}
	}
	e.t.Fatalf("no audit entry %s on %s with %q; have %+v", action, e.expand(target), detail, e.audited(""))
	return store.AuditEntry{}
}

func TestAccountScenarios(t *testing.T) {
	bearer := func(name string) map[string]string {
		return map[string]string{"Authorization": "Bearer {" + name + "_token}"}
	}
	withAlice := func(e *env) { e.adminID(); e.member("alice", auth.Operator) }
	for _, sc := range []scenario{
		// Users.
		{name: "admin creates a user", setup: withAlice, method: "POST", path: "/api/users",
			body: `{"username":"bob.b-1","password":"correct horse","role":"operator"}`, wantStatus: 201,
			want: []string{`"username":"bob.b-1"`, `"role":"operator"`, `"disabled":false`}, notWant: []string{"password", "argon2", "correct horse"},
			check: func(e *env, _ string) {
				u, err := e.st.Users().GetByName(e.ctx, "bob.b-1")
				if err != nil || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
					t.Errorf("stored user %+v, %v: want an argon2id hash", u, err)
				}
				a := e.wantAudit(server.AuditUserCreate, "bob.b-1", "role operator")
				if a.Actor != "admin (start token)" || strings.Contains(a.Detail, "horse") {
					t.Errorf("audit entry %+v: want actor admin (start token), no password", a)
				}
			}},
		{name: "a user's role defaults to viewer", method: "POST", path: "/api/users",
			body: `{"username":"carol","password":"12345678"}`, wantStatus: 201, want: []string{`"role":"viewer"`}},
		{name: "a username with a space is refused", method: "POST", path: "/api/users",
			body: `{"username":"bob smith","password":"12345678","role":"viewer"}`, wantStatus: 400, want: []string{"letters, digits, dots, underscores or hyphens"}},
		{name: "an empty username is refused", method: "POST", path: "/api/users",
			body: `{"username":"","password":"12345678","role":"viewer"}`, wantStatus: 400, want: []string{"username"}},
		{name: "a 65-character username is refused", method: "POST", path: "/api/users",
			body: `{"username":"` + strings.Repeat("a", 65) + `","password":"12345678","role":"viewer"}`, wantStatus: 400, want: []string{"1 to 64"}},
		{name: "a 7-character password is refused", method: "POST", path: "/api/users",
			body: `{"username":"dave","password":"1234567","role":"viewer"}`, wantStatus: 400, want: []string{"at least 8 characters"}},
		{name: "an unknown role is refused", method: "POST", path: "/api/users",
			body: `{"username":"dave","password":"12345678","role":"root"}`, wantStatus: 400, want: []string{`role \"root\" is not valid`}},
		{name: "a taken username is a conflict", setup: withAlice, method: "POST", path: "/api/users",
			body: `{"username":"alice","password":"12345678","role":"viewer"}`, wantStatus: 409, want: []string{"alice exists"}},
		{name: "an operator may not create users", setup: withAlice, method: "POST", path: "/api/users", headers: bearer("alice"),
			body: `{"username":"eve","password":"12345678","role":"admin"}`, wantStatus: 403},
		{name: "an operator may not list users", setup: withAlice, method: "GET", path: "/api/users", headers: bearer("alice"), wantStatus: 403},
		{name: "admin lists users", setup: withAlice, method: "GET", path: "/api/users", wantStatus: 200,
			want: []string{`"username":"admin"`, `"username":"alice"`, `"total":2`}, notWant: []string{"argon2"}},
		{name: "the last admin cannot be demoted", setup: withAlice, method: "PUT", path: "/api/users/{admin_id}",
			body: `{"role":"operator"}`, wantStatus: 409, want: []string{"admin is the last enabled admin and cannot be demoted"}},
		{name: "the last admin cannot be disabled", setup: withAlice, method: "PUT", path: "/api/users/{admin_id}",
			body: `{"disabled":true}`, wantStatus: 409, want: []string{"cannot be disabled"}},
		{name: "the last admin cannot be deleted", setup: withAlice, method: "DELETE", path: "/api/users/{admin_id}",
			wantStatus: 409, want: []string{"cannot be deleted"}},
		{name: "an admin can be demoted once another is enabled", setup: func(e *env) { e.adminID(); e.member("root2", auth.Admin) },
			method: "PUT", path: "/api/users/{admin_id}", body: `{"role":"viewer"}`, wantStatus: 200, want: []string{`"role":"viewer"`},
			check: func(e *env, _ string) { e.wantAudit(server.AuditUserUpdate, "admin", "role admin → viewer") }},
		{name: "a disabled admin does not count as another admin", setup: func(e *env) {
			e.adminID()
			id, _ := e.member("root2", auth.Admin)
			e.as(token, "PUT", "/api/users/"+id, map[string]any{"disabled": true})
		}, method: "DELETE", path: "/api/users/{admin_id}", wantStatus: 409},
		{name: "an unknown user is not found", method: "PUT", path: "/api/users/" + store.NewID(), body: `{"role":"viewer"}`, wantStatus: 404},
		{name: "a malformed user id is a bad request", method: "DELETE", path: "/api/users/bob", wantStatus: 400, want: []string{"24 hex digits"}},
		{name: "an update with nothing to change is refused", setup: withAlice, method: "PUT", path: "/api/users/{alice_id}", body: `{}`,
			wantStatus: 400, want: []string{"nothing to change"}},
		{name: "a username cannot be changed", setup: withAlice, method: "PUT", path: "/api/users/{alice_id}", body: `{"username":"al"}`,
			wantStatus: 400, want: []string{"unknown field"}},
		{name: "disabling a user deletes their sessions and tokens", setup: func(e *env) {
			withAlice(e)
			e.credential(e.vars["alice_id"], store.CredentialSession, "", auth.Operator)
		}, method: "PUT", path: "/api/users/{alice_id}", body: `{"disabled":true}`, wantStatus: 200, want: []string{`"disabled":true`},
			check: func(e *env, _ string) {
				if n := e.credentialsOf(e.vars["alice_id"]); len(n) != 0 {
					t.Errorf("a disabled user keeps credentials: %v", n)
				}
				if st, b := e.as(e.vars["alice_token"], "GET", "/api/me", nil); st != 401 {
					t.Errorf("a disabled user's token: %d %s, want 401", st, b)
				}
				e.wantAudit(server.AuditUserUpdate, "alice", "disabled")
			}},
		{name: "a new password signs the user out but keeps their tokens", setup: func(e *env) {
			withAlice(e)
			e.credential(e.vars["alice_id"], store.CredentialSession, "", auth.Operator)
			e.credential(e.vars["alice_id"], store.CredentialSession, "", auth.Operator)
		}, method: "PUT", path: "/api/users/{alice_id}", body: `{"password":"a new secret"}`, wantStatus: 200, notWant: []string{"a new secret"},
			check: func(e *env, _ string) {
				if n := e.credentialsOf(e.vars["alice_id"]); n[store.CredentialSession] != 0 || n[store.CredentialToken] != 1 {
					t.Errorf("credentials after a password reset: %v, want the token only", n)
				}
				u, _ := e.st.Users().Get(e.ctx, e.vars["alice_id"])
				if auth.CheckPassword(u.PasswordHash, "a new secret") != nil {
					t.Error("the new password does not check")
				}
				a := e.wantAudit(server.AuditUserUpdate, "alice", "password reset")
				if strings.Contains(a.Detail, "a new secret") {
					t.Errorf("the audit log has the password: %+v", a)
				}
			}},
		{name: "deleting a user deletes their credentials", setup: withAlice, method: "DELETE", path: "/api/users/{alice_id}", wantStatus: 204,
			check: func(e *env, _ string) {
				if n := e.credentialsOf(e.vars["alice_id"]); len(n) != 0 {
					t.Errorf("a deleted user keeps credentials: %v", n)
				}
				if _, err := e.st.Users().Get(e.ctx, e.vars["alice_id"]); err == nil {
					t.Error("the user is still there")
				}
				if st, _ := e.as(e.vars["alice_token"], "GET", "/api/tasks", nil); st != 401 {
					t.Errorf("a deleted user's token: %d, want 401", st)
				}
				e.wantAudit(server.AuditUserDelete, "alice")
			}},

		// Tokens.
		{name: "a viewer creates a token of their own role", setup: func(e *env) { e.member("vic", auth.Viewer) },
			method: "POST", path: "/api/tokens", headers: bearer("vic"), body: `{"name":"grafana"}`, wantStatus: 201,
			want: []string{`"token":"chk_`, `"name":"grafana"`, `"role":"viewer"`, `"user_id":"{vic_id}"`}, notWant: []string{"hash"},
			check: func(e *env, body string) {
				var nt struct {
					Token      string
					Credential store.Credential
				}
				json.Unmarshal([]byte(body), &nt)
				if st, b := e.as(nt.Token, "GET", "/api/me", nil); st != 200 || !strings.Contains(b, `"username":"vic"`) {
					t.Errorf("the new token: %d %s", st, b)
				}
				e.wantAudit(server.AuditTokenCreate, nt.Credential.ID, "name grafana", "role viewer")
			}},
		{name: "a token cannot outrank its creator", setup: func(e *env) { e.member("vic", auth.Viewer) },
			method: "POST", path: "/api/tokens", headers: bearer("vic"), body: `{"name":"x","role":"operator"}`, wantStatus: 403,
			want: []string{"more rights"}},
		{name: "an expiry in the past is refused", method: "POST", path: "/api/tokens",
			body: `{"name":"x","expires":"2001-01-01T00:00:00Z"}`, wantStatus: 400, want: []string{"not in the future"}},
		{name: "a token needs a name", method: "POST", path: "/api/tokens", body: `{"name":"  "}`, wantStatus: 400, want: []string{"1 to 64"}},
		{name: "a token name is at most 64 characters", method: "POST", path: "/api/tokens",
			body: `{"name":"` + strings.Repeat("n", 65) + `"}`, wantStatus: 400, want: []string{"1 to 64"}},
		{name: "a token name is unique per user", setup: withAlice, method: "POST", path: "/api/tokens", headers: bearer("alice"),
			body: `{"name":"alice-script"}`, wantStatus: 409},
		{name: "an expiring token with a lower role", setup: withAlice, method: "POST", path: "/api/tokens", headers: bearer("alice"),
			body: `{"name":"ro","role":"viewer","expires":"2099-01-02T03:04:05Z"}`, wantStatus: 201,
			want: []string{`"role":"viewer"`, `"expires":"2099-01-02T03:04:05Z"`}},
		{name: "a user lists only their own tokens", setup: func(e *env) { withAlice(e); e.member("vic", auth.Viewer) },
			method: "GET", path: "/api/tokens", headers: bearer("vic"), wantStatus: 200,
			want: []string{`"name":"vic-script"`, `"total":1`}, notWant: []string{"alice-script"}},
		{name: "a user may not list another's tokens", setup: func(e *env) { withAlice(e); e.member("vic", auth.Viewer) },
			method: "GET", path: "/api/tokens?user_id={alice_id}", headers: bearer("vic"), wantStatus: 403},
		{name: "an admin lists everyone's tokens", setup: func(e *env) { withAlice(e); e.member("vic", auth.Viewer) },
			method: "GET", path: "/api/tokens", wantStatus: 200, want: []string{"alice-script", "vic-script"}},
		{name: "an admin lists one user's tokens", setup: func(e *env) { withAlice(e); e.member("vic", auth.Viewer) },
			method: "GET", path: "/api/tokens?user_id={vic_id}", wantStatus: 200, want: []string{"vic-script"}, notWant: []string{"alice-script"}},
		{name: "another user's token is not found", setup: func(e *env) {
			withAlice(e)
			e.member("vic", auth.Viewer)
			e.vars["tok"] = e.firstToken(e.vars["alice_id"])
		}, method: "DELETE", path: "/api/tokens/{tok}", headers: bearer("vic"), wantStatus: 404,
			check: func(e *env, _ string) {
				if st, _ := e.as(e.vars["alice_token"], "GET", "/api/me", nil); st != 200 {
					t.Errorf("alice's token stopped working: %d", st)
				}
			}},
		{name: "a session cannot be deleted as a token", setup: func(e *env) {
			withAlice(e)
			e.credential(e.vars["alice_id"], store.CredentialSession, "", auth.Operator)
			cs, _ := e.st.Credentials().List(e.ctx, store.CredentialFilter{Kind: store.CredentialSession})
			e.vars["sess"] = cs[0].ID
		}, method: "DELETE", path: "/api/tokens/{sess}", wantStatus: 404},
		{name: "a user revokes their own token", setup: func(e *env) {
			withAlice(e)
			e.vars["tok"] = e.firstToken(e.vars["alice_id"])
		}, method: "DELETE", path: "/api/tokens/{tok}", headers: bearer("alice"), wantStatus: 204,
			check: func(e *env, _ string) {
				if st, _ := e.as(e.vars["alice_token"], "GET", "/api/me", nil); st != 401 {
					t.Errorf("a revoked token: %d, want 401", st)
				}
				e.wantAudit(server.AuditTokenRevoke, "{tok}", "name alice-script")
			}},
		{name: "an admin revokes anyone's token", setup: func(e *env) {
			withAlice(e)
			e.vars["tok"] = e.firstToken(e.vars["alice_id"])
		}, method: "DELETE", path: "/api/tokens/{tok}", wantStatus: 204,
			check: func(e *env, _ string) { e.wantAudit(server.AuditTokenRevoke, "{tok}", "of user {alice_id}") }},

		// Audit.
		{name: "the audit log is for admins", setup: withAlice, method: "GET", path: "/api/audit", headers: bearer("alice"), wantStatus: 403},
		{name: "the audit log filters by action", setup: func(e *env) {
			withAlice(e)
			e.as(e.vars["alice_token"], "POST", "/api/tokens", map[string]any{"name": "one"})
			e.do("POST", "/api/users", map[string]any{"username": "zed", "password": "12345678"}, nil)
		}, method: "GET", path: "/api/audit?action=token.create", wantStatus: 200,
			want:    []string{`"action":"token.create"`, `"actor":"alice (token alice-script)"`, `"user_id":"{alice_id}"`, `"total":1`},
			notWant: []string{"user.create"}},
		{name: "the audit log filters by user and target", setup: func(e *env) {
			withAlice(e)
			e.do("POST", "/api/users", map[string]any{"username": "zed", "password": "12345678"}, nil)
			e.do("POST", "/api/users", map[string]any{"username": "zoe", "password": "12345678"}, nil)
		}, method: "GET", path: "/api/audit?user_id={admin_id}&target=zoe", wantStatus: 200,
			want: []string{`"target":"zoe"`, `"total":1`}, notWant: []string{`"target":"zed"`}},
		{name: "a negative audit limit is the default page", setup: func(e *env) {
			for _, n := range []string{"u1", "u2", "u3"} {
				e.do("POST", "/api/users", map[string]any{"username": n, "password": "12345678"}, nil)
			}
		}, method: "GET", path: "/api/audit?action=user.create&limit=-5", wantStatus: 200, want: []string{`"total":3`, `"target":"u3"`, `"target":"u2"`, `"target":"u1"`}},
		{name: "an audit page is at most 1000 entries", method: "GET", path: "/api/audit?action=task.run&limit=5000", wantStatus: 200, want: []string{`"items":[]`, `"total":0`}},
		{name: "a negative audit offset is refused", method: "GET", path: "/api/audit?offset=-1", wantStatus: 400},
		{name: "audit.list mirrors GET /api/audit", setup: func(e *env) {
			e.do("POST", "/api/users", map[string]any{"username": "u1", "password": "12345678"}, nil)
		}, rpc: "audit.list", params: `{"action":"user.create","limit":10}`, want: []string{`"target":"u1"`, `"total":1`}},
		{name: "me says who the connection is", rpc: "me", want: []string{`"username":"admin"`, `"role":"admin"`}},
		{name: "new entries are pushed on the audit channel", subscribe: []string{wsapi.ChannelAudit},
			method: "POST", path: "/api/users", body: `{"username":"pushed","password":"12345678"}`, wantStatus: 201,
			events: []event{{channel: wsapi.ChannelAudit, fragments: []string{`"action":"user.create"`, `"target":"pushed"`, `"actor":"admin (start token)"`}}}},
	} {
		t.Run(sc.name, sc.run)
	}
}

// firstToken is the id of one of the user's tokens.
func (e *env) firstToken(userID string) string {
	e.t.Helper()
	cs, err := e.st.Credentials().List(e.ctx, store.CredentialFilter{Kind: store.CredentialToken, UserID: userID})
	if err != nil || len(cs) == 0 {
		e.t.Fatalf("no token of user %s: %v", userID, err)
	}
	return cs[0].ID
}

// Only admins may watch the audit log live.
func TestAuditChannelIsForAdmins(t *testing.T) {
	e := newEnv(t)
	_, op := e.member("alice", auth.Operator)
	ws, _ := e.dialAs(op)
	r := ws.call(wsapi.MethodSubscribe, `{"channel":"audit"}`)
	if !strings.Contains(r, `"error"`) || !strings.Contains(r, "admin") {
		t.Fatalf("an operator subscribing to audit: %s, want an error naming the admin role", r)
	}
	if r := ws.call(wsapi.MethodAuditList, `{}`); !strings.Contains(r, `"error"`) {
		t.Fatalf("an operator calling audit.list: %s", r)
	}
	if r := ws.call(wsapi.MethodMe, ``); !strings.Contains(r, `"username":"alice"`) || !strings.Contains(r, `"token_name":"alice-script"`) {
		t.Fatalf("me for alice's token: %s", r)
	}
}

// Revoking a token closes the WebSockets it opened, with the documented
// code.
func TestRevokedTokenClosesItsWebSocket(t *testing.T) {
	e := newEnv(t)
	id, secret := e.member("alice", auth.Operator)
	ws, _ := e.dialAs(secret)
	ws.call(wsapi.MethodNodesList, "") // the connection is served
	if st, b := e.as(secret, "DELETE", "/api/tokens/"+e.firstToken(id), nil); st != 204 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if code := ws.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("the revoked token's WebSocket closed with %d, want %d", code, wsapi.CloseRevoked)
	}
}

// Sign-ins, failed ones and sign-outs are in the audit log, never with a
// password.
func TestSignInsAreAudited(t *testing.T) {
	e := newEnv(t)
	e.member("alice", auth.Operator)
	login := func(body string) (int, http.Header, string) {
		return e.request("POST", "/api/auth/login", "application/json", strings.NewReader(body), map[string]string{"Authorization": ""})
	}
	if st, _, b := login(`{"username":"alice","password":"not-her-password"}`); st != 401 {
		t.Fatalf("wrong password: %d %s", st, b)
	}
	failed := e.wantAudit(server.AuditLoginFailed, "alice")
	if failed.Actor != "anonymous" || failed.UserID != "" || failed.Address == "" || strings.Contains(failed.Detail, "not-her-password") {
		t.Errorf("failed sign-in entry %+v: want actor anonymous, an address, no password", failed)
	}
	st, h, b := login(`{"username":"alice","password":"password-of-alice"}`)
	if st != 200 {
		t.Fatalf("sign-in: %d %s", st, b)
	}
	in := e.wantAudit(server.AuditLogin, "alice", "password")
	if in.Actor != "alice" || in.UserID != e.vars["alice_id"] || in.CredentialID == "" {
		t.Errorf("sign-in entry %+v", in)
	}
	var resp struct{ CSRF string }
	json.Unmarshal([]byte(b), &resp)
	cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
	st, _, b = e.request("POST", "/api/auth/logout", "", nil, map[string]string{"Authorization": "", "Cookie": cookie, server.CSRFHeader: resp.CSRF})
	if st != 204 {
		t.Fatalf("sign-out: %d %s", st, b)
	}
	if out := e.wantAudit(server.AuditLogout, "alice"); out.CredentialID != in.CredentialID {
		t.Errorf("sign-out entry %+v: want the session %s", out, in.CredentialID)
	}
}

// Lowering a user's role closes the WebSockets that acted above the new
// role, and only those.
func TestDemotionClosesWebSocketsAboveTheNewRole(t *testing.T) {
	e := newEnv(t)
	id, adminTok := e.member("root2", auth.Admin)
	viewerTok := e.credential(id, store.CredentialToken, "dashboards", auth.Viewer)
	high, _ := e.dialAs(adminTok)
	low, _ := e.dialAs(viewerTok)
	high.call(wsapi.MethodNodesList, "") // both connections are served
	low.call(wsapi.MethodNodesList, "")
	if st, b := e.as(token, "PUT", "/api/users/"+id, map[string]any{"role": auth.Operator}); st != 200 {
		t.Fatalf("demote: %d %s", st, b)
	}
	if code := high.closeCode(); code != wsapi.CloseRevoked {
		t.Fatalf("the admin token's WebSocket closed with %d, want %d", code, wsapi.CloseRevoked)
	}
	if r := low.call(wsapi.MethodNodesList, ""); !strings.Contains(r, `"result"`) {
		t.Fatalf("the viewer token's WebSocket: %s, want it still served", r)
	}
	if st, b := e.as(adminTok, "GET", "/api/me", nil); st != 200 || !strings.Contains(b, `"role":"operator"`) {
		t.Errorf("the admin token after the demotion: %d %s, want it working as operator", st, b)
	}
}

// The closing a demotion asks for reaches every master, this one again
// through the bus: a connection reopened at the new role in the meantime
// is left alone, since its credential is still valid.
func TestDemotionLeavesReopenedWebSocketsAlone(t *testing.T) {
	e := newEnv(t)
	id, adminTok := e.member("root3", auth.Admin)
	creds, err := e.st.Credentials().List(e.ctx, store.CredentialFilter{UserID: id})
	if err != nil || len(creds) != 1 {
		t.Fatalf("credentials of root3: %v %v", creds, err)
	}
	if st, b := e.as(token, "PUT", "/api/users/"+id, map[string]any{"role": auth.Operator}); st != 200 {
		t.Fatalf("demote: %d %s", st, b)
	}
	again, _ := e.dialAs(adminTok)
	again.call(wsapi.MethodNodesList, "")
	watch, _ := e.dialAs(token)
	watch.subscribe(wsapi.ChannelAudit)

	// What another master (or this one's own event, late) says about the
	// demotion, then an audit entry after it on the same channel.
	ob := e.broker.Connect(func(string, []byte) {})
	defer ob.Close()
	other := wire.NewCaller(wire.CallerConfig{Bus: ob, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := other.Emit(e.ctx, wire.EvCredentialsRevoked, wire.CredentialsRevoked{IDs: []string{creds[0].ID}, Above: auth.Operator}); err != nil {
		t.Fatal(err)
	}
	e.do("POST", "/api/users", map[string]any{"username": "after-the-event", "password": "12345678"}, nil)
	watch.expect(wsapi.ChannelAudit, `"target":"after-the-event"`)

	if r := again.call(wsapi.MethodNodesList, ""); !strings.Contains(r, `"result"`) {
		t.Fatalf("the connection reopened as operator: %s, want it still served", r)
	}
}

// An entry recorded on one master reaches the audit subscribers of
// another: entries travel on the bus, as every master's events do.
func TestAuditReachesEveryMaster(t *testing.T) {
	e := newEnv(t)
	other := &env{t: t, ctx: e.ctx, st: e.st, logs: e.logs, vars: map[string]string{}, hc: e.hc}
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Log: slog.New(slog.NewTextHandler(e.logs, nil))}, e.st,
		func(h bus.Handler) (bus.Bus, error) { return e.broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	other.base = "http://" + srv.Addr()
	ctx, stop := context.WithCancel(e.ctx)
	done := make(chan struct{})
	go func() { defer close(done); srv.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })

	ws, status := other.dialAs(token)
	if ws == nil {
		t.Fatalf("/ws on the second master: %d", status)
	}
	ws.subscribe(wsapi.ChannelAudit)
	e.do("POST", "/api/users", map[string]any{"username": "seen-everywhere", "password": "12345678"}, nil)
	ws.expect(wsapi.ChannelAudit, `"action":"user.create"`, `"target":"seen-everywhere"`)
}
