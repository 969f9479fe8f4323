package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
)

// wsBackend serves the WebSocket API's calls with the same methods as the
// REST API.
type wsBackend struct{ s *Server }

var _ hub.Backend = wsBackend{}

// rpcRoles is every JSON-RPC method and the least role that may call it
// (docs/websocket-api.md lists the same): reads and subscriptions are
// viewer; running, cancelling and changing schedules is operator. A method
// missing here is refused as unknown before it is served.
var rpcRoles = map[string]string{
	wsapi.MethodSubscribe:       auth.Viewer,
	wsapi.MethodUnsubscribe:     auth.Viewer,
	wsapi.MethodNodesList:       auth.Viewer,
	wsapi.MethodNodeSysinfo:     auth.Viewer,
	wsapi.MethodTasksList:       auth.Viewer,
	wsapi.MethodTaskLog:         auth.Viewer,
	wsapi.MethodTaskItems:       auth.Viewer,
	wsapi.MethodTaskLogSearch:   auth.Viewer,
	wsapi.MethodSpidersList:     auth.Viewer,
	wsapi.MethodSchedulesList:   auth.Viewer,
	wsapi.MethodScheduleGet:     auth.Viewer,
	wsapi.MethodSchedulePreview: auth.Viewer,
	wsapi.MethodTaskRun:         auth.Operator,
	wsapi.MethodTaskCancel:      auth.Operator,
	wsapi.MethodScheduleCreate:  auth.Operator,
	wsapi.MethodScheduleUpdate:  auth.Operator,
	wsapi.MethodScheduleDelete:  auth.Operator,
	wsapi.MethodScheduleRun:     auth.Operator,
	wsapi.MethodMe:              auth.Viewer,
	wsapi.MethodAuditList:       auth.Admin,
	wsapi.MethodNodeMetrics:     auth.Viewer,
	wsapi.MethodWebhooksList:    auth.Admin,
	wsapi.MethodWebhookCreate:   auth.Admin,
	wsapi.MethodWebhookUpdate:   auth.Admin,
	wsapi.MethodWebhookDelete:   auth.Admin,
	wsapi.MethodWebhookTest:     auth.Admin,
	wsapi.MethodDeliveries:      auth.Admin,
	wsapi.MethodStats:           auth.Viewer,
}

// authorizeRPC is the hub's check of every call against rpcRoles.
// channelRoles are the channels that need more than the viewer role
// subscribe needs: the audit log is the admin's.
var channelRoles = map[string]string{
	wsapi.ChannelAudit:    auth.Admin,
	wsapi.ChannelWebhooks: auth.Admin,
}

// authorizeChannel is the hub's check of every subscription against
// channelRoles.
func authorizeChannel(p auth.Principal, channel string) error {
	if need, ok := channelRoles[channel]; ok && !auth.Allows(p.Role, need) {
		return hub.Errorf(wsapi.CodeForbidden, "channel %s needs the %s role; %s has the %s role: ask an admin", channel, need, p.Actor(), p.Role)
	}
	return nil
}

func authorizeRPC(p auth.Principal, method string) error {
	need, ok := rpcRoles[method]
	if !ok {
		return hub.Errorf(wsapi.CodeMethodNotFound, "unknown method %q: see docs/websocket-api.md for the methods", method)
	}
	if !auth.Allows(p.Role, need) {
		return hub.Errorf(wsapi.CodeForbidden, "%s needs the %s role; %s has the %s role: ask an admin", method, need, p.Actor(), p.Role)
	}
	return nil
}

// serveWS opens a WebSocket for a request access has authenticated: the
// connection acts as the request's principal for its whole life.
func (s *Server) serveWS(c echo.Context) error {
	r := c.Request()
	if !s.originAllowed(r) {
		return forbidden("Origin " + r.Header.Get("Origin") + " may not open a WebSocket here: start the server with --allowed-origins " + r.Header.Get("Origin"))
	}
	if s.draining.Load() {
		return errDraining()
	}
	s.hub.ServeHTTP(c.Response(), r)
	return nil
}

// originAllowed: scripts send no Origin; a browser's must be this server
// or listed in AllowedOrigins.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return slices.ContainsFunc(s.cfg.AllowedOrigins, func(o string) bool { return strings.EqualFold(strings.TrimSuffix(o, "/"), origin) })
}

// ErrorCode maps err through the same table as the REST API; an internal
// error is logged and answered with a request id, as there.
func (b wsBackend) ErrorCode(err error) (int, string) {
	ae := b.s.publicError(err, "api", "websocket")
	return ae.rpcCode(), ae.Message
}

func (b wsBackend) ReadLog(ctx context.Context, taskID string, from int64, limit int) (*wire.LogBatch, error) {
	return b.s.ReadLog(ctx, taskID, from, limit)
}

func (b wsBackend) ReadItems(ctx context.Context, taskID string, from int64, limit int) (*wire.ItemBatch, error) {
	return b.s.ReadItems(ctx, taskID, from, limit)
}

func (b wsBackend) TaskEnded(ctx context.Context, taskID string) (bool, string, error) {
	t, err := b.s.taskByID(ctx, taskID)
	if err != nil {
		return false, "", err
	}
	return store.TaskEnded(t.Status), t.Status, nil
}

func (b wsBackend) Call(ctx context.Context, c *hub.Client, method string, params json.RawMessage) (any, error) {
	s := b.s
	// Who asked is recorded with what they did (tasks, the audit log).
	// A call's store calls share one deadline once the store is away, as
	// a request's do.
	ctx = withStoreOutage(auth.NewContext(ctx, c.Principal()))
	switch method {
	case wsapi.MethodMe:
		if err := hub.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		return s.whoami(ctx, c.Principal())
	case wsapi.MethodNodesList:
		if err := hub.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		nodes, err := s.store.Nodes().List(ctx)
		return list[store.Node]{Items: nodes, Total: len(nodes)}, err
	case wsapi.MethodNodeSysinfo:
		var p struct {
			NodeID string `json:"node_id"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if !store.ValidID(p.NodeID) {
			return nil, badRequest("node_id " + p.NodeID + " is not valid: ids are 24 hex digits, as nodes.list gives them")
		}
		var si wire.SysInfo
		err := s.caller.Call(ctx, p.NodeID, wire.OpGetSysinfo, nil, &si)
		return si, err
	case wsapi.MethodTasksList:
		var p struct {
			Filter store.TaskFilter `json:"filter"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		if p.Filter.Offset < 0 {
			return nil, badRequest("filter.offset cannot be negative")
		}
		p.Filter.Limit = listLimit(p.Filter.Limit)
		tasks, total, err := s.store.Tasks().List(ctx, p.Filter)
		if tasks == nil {
			tasks = []store.Task{}
		}
		s.withLiveCounts(ctx, tasks)
		return list[store.Task]{Items: tasks, Total: total}, err
	case wsapi.MethodTaskRun:
		var req RunRequest
		if err := hub.DecodeParams(params, &req); err != nil {
			return nil, err
		}
		tasks, err := s.RunTasks(ctx, req)
		return list[store.Task]{Items: tasks, Total: len(tasks)}, err
	case wsapi.MethodTaskCancel:
		var p struct {
			TaskID string `json:"task_id"`
			Reason string `json:"reason"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.CancelTask(ctx, p.TaskID, actor(ctx), p.Reason)
	case wsapi.MethodTaskLog:
		var p struct {
			TaskID string `json:"task_id"`
			From   int64  `json:"from"`
			Limit  int    `json:"limit"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.ReadLog(ctx, p.TaskID, p.From, p.Limit)
	case wsapi.MethodTaskLogSearch:
		var q wire.SearchLog
		if err := hub.DecodeParams(params, &q); err != nil {
			return nil, err
		}
		return s.SearchLog(ctx, q)
	case wsapi.MethodTaskItems:
		var p struct {
			TaskID string `json:"task_id"`
			From   int64  `json:"from"`
			Limit  int    `json:"limit"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.ReadItems(ctx, p.TaskID, p.From, p.Limit)
	case wsapi.MethodSpidersList:
		sps, err := s.store.Spiders().List(ctx)
		return list[store.Spider]{Items: sps, Total: len(sps)}, err
	case wsapi.MethodSchedulesList, wsapi.MethodScheduleGet, wsapi.MethodScheduleCreate, wsapi.MethodScheduleUpdate,
		wsapi.MethodScheduleDelete, wsapi.MethodScheduleRun, wsapi.MethodSchedulePreview:
		return s.scheduleCall(ctx, method, params)
	case wsapi.MethodAuditList:
		return s.auditCall(ctx, params)
	case wsapi.MethodNodeMetrics:
		return s.nodeMetricsCall(ctx, params)
	case wsapi.MethodWebhooksList, wsapi.MethodWebhookCreate, wsapi.MethodWebhookUpdate, wsapi.MethodWebhookDelete,
		wsapi.MethodWebhookTest, wsapi.MethodDeliveries:
		return s.webhookCall(ctx, method, params)
	case wsapi.MethodStats:
		return s.taskStatsCall(ctx, params)
	}
	return nil, hub.Errorf(wsapi.CodeMethodNotFound, "unknown method %q: see docs/websocket-api.md for the methods", method)
}

// NodeEvent is the data of a notification on the nodes channel.
type NodeEvent struct {
	NodeID string `json:"node_id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// SpiderSyncEvent is the data of a notification on the spiders channel:
// the outcome of a spider sync on one node (a deploy, or a node fetching
// the spider before a run).
type SpiderSyncEvent struct {
	wire.SpiderSynced
	NodeID   string `json:"node_id"`
	NodeName string `json:"node_name,omitempty"`
}

// emitTaskStatus tells every master (this one included) that a task
// changed state: masters forward task_status events to their clients.
func (s *Server) emitTaskStatus(ctx context.Context, t *store.Task) {
	ev := wire.TaskStatus{TaskID: t.ID, NodeID: t.NodeID, SpiderID: t.SpiderID, Status: t.Status,
		ExitCode: t.ExitCode, Reason: t.Reason, LogLines: t.LogLines, LogLevels: wire.LogLevels(t.LogLevels),
		ItemCount: t.ItemCount, Created: t.Created, Started: t.Started, Finished: t.Finished}
	if err := s.caller.Emit(ctx, wire.EvTaskStatus, ev); err != nil {
		s.log.Warn("task status not published", "task_id", t.ID, "err", err)
	}
}

// endLog closes a task's live log and items for their viewers when no
// agent will: the task never started, or its node died. The totals are
// what the store has; a viewer short of them catches up from it.
func (s *Server) endLog(ctx context.Context, t *store.Task) {
	p, _ := json.Marshal(wire.LogBatch{TaskID: t.ID, From: t.LogLines, Lines: []string{}, End: true, Status: t.Status, Total: t.LogLines})
	if err := s.bus.Publish(ctx, wire.LogChannel(t.ID), s.signer.Sign(p)); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("log end not published", "task_id", t.ID, "err", err)
	}
	items := t.ItemCount
	if n, _, err := s.store.Items().ItemCount(ctx, t.SpiderID, t.ID); err == nil {
		items = max(items, n)
	}
	p, _ = json.Marshal(wire.ItemBatch{TaskID: t.ID, From: items, Items: []json.RawMessage{}, End: true, Status: t.Status, Total: items})
	if err := s.bus.Publish(ctx, wire.ItemsChannel(t.ID), s.signer.Sign(p)); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("items end not published", "task_id", t.ID, "err", err)
	}
}
