// Package auth says who is asking and what they may do: the three roles,
// the principal a request acts as, and (in its other files) passwords,
// secrets and the login throttle. The server resolves a principal once per
// request or WebSocket connection and checks it against one table of the
// role each route and JSON-RPC method needs.
package auth

import (
	"context"
	"time"
)

// Roles, from most to least powerful. A role may do everything the roles
// below it may.
const (
	// Admin may do everything, including managing users and tokens and
	// reading the audit log.
	Admin = "admin"
	// Operator may run, cancel and restart tasks, upload, update, delete
	// and deploy spiders, and manage schedules.
	Operator = "operator"
	// Viewer may read: nodes, spiders, tasks, logs, results, schedules.
	Viewer = "viewer"
)

// Rank orders roles: Admin 3, Operator 2, Viewer 1, anything else 0.
func Rank(role string) int {
	switch role {
	case Admin:
		return 3
	case Operator:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// ValidRole reports whether role is one of the three roles.
func ValidRole(role string) bool { return Rank(role) > 0 }

// Allows reports whether role may do what needs the role need.
func Allows(role, need string) bool { return Rank(need) > 0 && Rank(role) >= Rank(need) }

// Kinds of credential a principal presented.
const (
	// KindSession is the dashboard's cookie.
	KindSession = "session"
	// KindToken is a named API token.
	KindToken = "token"
	// KindTicket is a single-use WebSocket ticket (POST /api/ws-ticket);
	// the connection it opens acts as the credential that asked for it.
	KindTicket = "ticket"
	// KindStartToken is the token the server was started with (--token,
	// CRAWLHUB_TOKEN, data/token): an admin token that lives in the
	// configuration, not in the store.
	KindStartToken = "start-token"
)

// Principal is who a request acts as.
type Principal struct {
	UserID   string `json:"user_id"`
	Username string `json:"username"`
	// Role is the effective role: the credential's, which is never higher
	// than its owner's.
	Role string `json:"role"`
	// Kind is how the principal authenticated (Kind* above).
	Kind string `json:"kind"`
	// CredentialID is the stored credential (session or token) behind the
	// request; "" for the start token. Revoking it ends the principal's
	// access, WebSocket connections included.
	CredentialID string `json:"credential_id,omitempty"`
	// TokenName names the API token, for the audit log.
	TokenName string `json:"token_name,omitempty"`
	// Address is where the request came from (behind trusted proxies, the
	// address they forwarded), for the audit log and the login throttle.
	Address string `json:"-"`
	// Expires is when the credential stops working (zero: never): a
	// WebSocket opened with it is closed then.
	Expires time.Time `json:"-"`
}

// Actor is how the audit log and task records name the principal:
// "alice", "alice (token ci-deploy)", "admin (start token)".
func (p Principal) Actor() string {
	switch p.Kind {
	case KindToken:
		return p.Username + " (token " + p.TokenName + ")"
	case KindStartToken:
		return p.Username + " (start token)"
	}
	return p.Username
}

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal ctx carries, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// Lower is the less powerful of two roles, or "" if either is no role.
func Lower(a, b string) string {
	if Rank(a) == 0 || Rank(b) == 0 {
		return ""
	}
	if Rank(a) < Rank(b) {
		return a
	}
	return b
}
