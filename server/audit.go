package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// Audit actions: what the audit log records, one dotted verb each.
const (
	AuditTaskRun        = "task.run"
	AuditTaskCancel     = "task.cancel"
	AuditTaskRestart    = "task.restart"
	AuditSpiderCreate   = "spider.create"
	AuditSpiderUpdate   = "spider.update"
	AuditSpiderDelete   = "spider.delete"
	AuditSpiderDeploy   = "spider.deploy"
	AuditScheduleCreate = "schedule.create"
	AuditScheduleUpdate = "schedule.update"
	AuditScheduleDelete = "schedule.delete"
	AuditScheduleRun    = "schedule.run"
	AuditUserCreate     = "user.create"
	AuditUserUpdate     = "user.update"
	AuditUserDelete     = "user.delete"
	// AuditPasswordChange is a user changing their own password (an admin
	// setting someone's is a user.update).
	AuditPasswordChange = "user.password"
	AuditTokenCreate    = "token.create"
	AuditTokenRevoke    = "token.revoke"
	AuditLogin          = "auth.login"
	AuditLoginFailed    = "auth.login_failed"
	AuditLogout         = "auth.logout"
	AuditWebhookCreate  = "webhook.create"
	AuditWebhookUpdate  = "webhook.update"
	AuditWebhookDelete  = "webhook.delete"
	AuditWebhookTest    = "webhook.test"
)

// auditWriteTimeout bounds one audit write. The write outlives the request
// (a client hanging up does not erase what it did) but never holds a
// goroutine for long on a store that is away.
const auditWriteTimeout = 5 * time.Second

// audit records that the principal of ctx did action to target; detail
// says anything else a person would want to know, in words (never a
// secret). Requests without a principal are recorded as "system".
func (s *Server) audit(ctx context.Context, action, target, detail string) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		p = auth.Principal{Username: "system"}
	}
	s.auditAs(ctx, p, action, target, detail)
}

// actor names who ctx acts for, as tasks record it (Task.CreatedBy,
// CancelledBy) and the audit log does.
func actor(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok && p.Username != "" {
		return p.Actor()
	}
	return "anonymous"
}

// auditAs records an entry for p, for the requests that have no principal
// in their context yet or any more: a sign-in (the principal it made), a
// failed one (only the address, and the username tried as target).
func (s *Server) auditAs(ctx context.Context, p auth.Principal, action, target, detail string) {
	actor := ""
	if p.Username != "" {
		actor = p.Actor()
	}
	s.appendAudit(ctx, &store.AuditEntry{Actor: actor, UserID: p.UserID, CredentialID: p.CredentialID,
		Address: p.Address, Action: action, Target: target, Detail: detail})
}

// appendAudit stores e (with a fresh id, at now, "anonymous" for no actor)
// and publishes it to every master's audit channel.
//
// A failed write is logged and the request goes on: the thing was done,
// and refusing it afterwards would not undo it.
func (s *Server) appendAudit(ctx context.Context, e *store.AuditEntry) {
	e.ID = store.NewID()
	if e.Time.IsZero() {
		e.Time = store.Now()
	}
	if e.Actor == "" {
		e.Actor = "anonymous"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditWriteTimeout)
	defer cancel()
	if err := s.store.Audit().Append(ctx, e); err != nil {
		s.log.Error("audit entry not stored", "action", e.Action, "actor", e.Actor, "target", e.Target, "detail", e.Detail, "err", err)
		return
	}
	// Every master's admins watching the audit channel see it.
	if err := s.caller.Emit(ctx, wire.EvAudit, e); err != nil {
		s.log.Warn("audit entry not published", "action", e.Action, "err", err)
	}
}

// auditEvent forwards an audit entry a master published to this master's
// subscribers of the audit channel.
func (s *Server) auditEvent(payload json.RawMessage) {
	var e store.AuditEntry
	if err := json.Unmarshal(payload, &e); err != nil || e.Action == "" {
		s.log.Warn("dropped malformed audit event", "err", err)
		return
	}
	// Forwarded as it came: encoding it again would gain nothing.
	s.hub.Broadcast(wsapi.ChannelAudit, payload)
}

// AuditLog lists the entries f selects, newest first, and how many match.
// It is shared by GET /api/audit and the audit.list method.
func (s *Server) AuditLog(ctx context.Context, f store.AuditFilter) (list[store.AuditEntry], error) {
	if f.Offset < 0 {
		return list[store.AuditEntry]{}, badRequest("offset cannot be negative")
	}
	f.Limit = listLimit(f.Limit)
	items, total, err := s.store.Audit().List(ctx, f)
	if err != nil {
		return list[store.AuditEntry]{}, err
	}
	if items == nil {
		items = []store.AuditEntry{}
	}
	return list[store.AuditEntry]{Items: items, Total: total}, nil
}

func (s *Server) listAudit(c echo.Context) error {
	f := store.AuditFilter{Action: c.QueryParam("action"), UserID: c.QueryParam("user_id"), Target: c.QueryParam("target")}
	for name, dst := range map[string]*int{"limit": &f.Limit, "offset": &f.Offset} {
		if v := c.QueryParam(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return badRequest(name + " must be a whole number")
			}
			*dst = n
		}
	}
	l, err := s.AuditLog(c.Request().Context(), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// auditCall serves audit.list: the same filter as GET /api/audit.
func (s *Server) auditCall(ctx context.Context, params json.RawMessage) (any, error) {
	var f store.AuditFilter
	if err := hub.DecodeParams(params, &f); err != nil {
		return nil, err
	}
	return s.AuditLog(ctx, f)
}

// auditRetention is how long audit entries are kept when Config says
// nothing; auditSweep how often each master deletes older ones (every
// master does: the delete is idempotent).
const (
	auditRetention = 90 * 24 * time.Hour
	auditSweep     = time.Hour
)

// expireAudit deletes audit entries older than the retention, at start and
// then every auditSweep, until ctx ends. The store has no TTL index to
// rely on (FerretDB), so this is the one place entries go.
func (s *Server) expireAudit(ctx context.Context) {
	keep := s.cfg.AuditRetention
	if keep <= 0 {
		keep = auditRetention
	}
	t := time.NewTicker(auditSweep)
	defer t.Stop()
	for {
		n, err := s.store.Audit().DeleteBefore(ctx, store.Now().Add(-keep))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("old audit entries not deleted; retrying at the next sweep", "err", err)
		case n > 0:
			s.log.Info("old audit entries deleted", "count", n, "older_than", keep.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
