package server

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// list is the shape of every list response.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

// route is one REST route: who may call it is part of its definition, so
// no route exists without a role and the role matrix test covers them all.
type route struct {
	Method string // an HTTP method, or anyMethod
	Path   string
	// Role is the least role that may call the route (auth.Viewer,
	// auth.Operator, auth.Admin), or roleNone for a route anyone may call
	// without credentials.
	Role    string
	Handler func(*Server, echo.Context) error
}

const (
	// roleNone: the route needs no credentials.
	roleNone = "none"
	// anyMethod registers a route for every method.
	anyMethod = "*"
)

// routeTable is every REST route and the role it needs (docs/rest-api.md
// lists the same). Reads are viewer; what runs, stops or changes spiders,
// tasks and schedules is operator; users, everyone's tokens and the audit
// log are admin.
var routeTable = []route{
	{http.MethodGet, "/healthz", roleNone, (*Server).healthz},
	{http.MethodGet, "/readyz", roleNone, (*Server).readyz},
	{http.MethodGet, "/metrics", auth.Viewer, (*Server).metrics},
	{http.MethodGet, "/ws", auth.Viewer, (*Server).serveWS},

	{http.MethodPost, "/api/auth/login", roleNone, (*Server).login},
	{http.MethodPost, "/api/auth/logout", auth.Viewer, (*Server).logout},
	{http.MethodGet, "/api/me", auth.Viewer, (*Server).me},
	{http.MethodPut, "/api/me/password", auth.Viewer, (*Server).changeOwnPassword},
	{http.MethodPost, "/api/ws-ticket", auth.Viewer, (*Server).wsTicket},

	{http.MethodGet, "/api/system", auth.Viewer, (*Server).systemHTTP},

	{http.MethodGet, "/api/nodes", auth.Viewer, (*Server).listNodes},
	{http.MethodGet, "/api/nodes/:id", auth.Viewer, (*Server).getNode},
	{http.MethodGet, "/api/nodes/:id/sysinfo", auth.Viewer, (*Server).nodeSysinfo},
	{http.MethodGet, "/api/nodes/:id/metrics", auth.Viewer, (*Server).nodeMetrics},

	{http.MethodGet, "/api/spiders", auth.Viewer, (*Server).listSpiders},
	{http.MethodPost, "/api/spiders", auth.Operator, (*Server).createSpider},
	{http.MethodGet, "/api/spiders/:id", auth.Viewer, (*Server).getSpider},
	{http.MethodPut, "/api/spiders/:id", auth.Operator, (*Server).updateSpider},
	{http.MethodDelete, "/api/spiders/:id", auth.Operator, (*Server).deleteSpider},
	{http.MethodPost, "/api/spiders/:id/deploy", auth.Operator, (*Server).deploySpider},
	{http.MethodGet, "/api/spiders/:id/items", auth.Viewer, (*Server).spiderItems},
	{http.MethodGet, "/api/spiders/:id/items/export", auth.Viewer, (*Server).exportSpiderItems},

	{http.MethodPost, "/api/tasks", auth.Operator, (*Server).runTasksHTTP},
	{http.MethodGet, "/api/tasks", auth.Viewer, (*Server).listTasks},
	{http.MethodGet, "/api/stats", auth.Viewer, (*Server).taskStatsHTTP},
	{http.MethodGet, "/api/tasks/:id", auth.Viewer, (*Server).getTask},
	{http.MethodPost, "/api/tasks/:id/cancel", auth.Operator, (*Server).cancelTaskHTTP},
	{http.MethodPost, "/api/tasks/:id/restart", auth.Operator, (*Server).restartTask},
	{http.MethodGet, "/api/tasks/:id/log", auth.Viewer, (*Server).taskLog},
	{http.MethodGet, "/api/tasks/:id/log/search", auth.Viewer, (*Server).searchLogHTTP},
	{http.MethodGet, "/api/tasks/:id/items", auth.Viewer, (*Server).taskItems},
	{http.MethodGet, "/api/tasks/:id/items/export", auth.Viewer, (*Server).exportTaskItems},

	{http.MethodGet, "/api/schedules", auth.Viewer, (*Server).listSchedulesHTTP},
	{http.MethodPost, "/api/schedules", auth.Operator, (*Server).createScheduleHTTP},
	{http.MethodGet, "/api/schedules/preview", auth.Viewer, (*Server).previewCronHTTP},
	{http.MethodGet, "/api/schedules/:id", auth.Viewer, (*Server).getScheduleHTTP},
	{http.MethodPut, "/api/schedules/:id", auth.Operator, (*Server).updateScheduleHTTP},
	{http.MethodDelete, "/api/schedules/:id", auth.Operator, (*Server).deleteScheduleHTTP},
	{http.MethodPost, "/api/schedules/:id/run", auth.Operator, (*Server).runScheduleHTTP},

	// Users are the admin's; every signed-in user manages their own tokens
	// (the handlers let only an admin see or revoke anyone else's).
	{http.MethodGet, "/api/users", auth.Admin, (*Server).listUsers},
	{http.MethodPost, "/api/users", auth.Admin, (*Server).createUser},
	{http.MethodPut, "/api/users/:id", auth.Admin, (*Server).updateUser},
	{http.MethodDelete, "/api/users/:id", auth.Admin, (*Server).deleteUser},
	{http.MethodGet, "/api/tokens", auth.Viewer, (*Server).listTokens},
	{http.MethodPost, "/api/tokens", auth.Viewer, (*Server).createToken},
	{http.MethodDelete, "/api/tokens/:id", auth.Viewer, (*Server).deleteToken},
	{http.MethodGet, "/api/audit", auth.Admin, (*Server).listAudit},
	// Alerts reach outside the cluster, to any address: the admin's.
	{http.MethodGet, "/api/webhooks", auth.Admin, (*Server).listWebhooksHTTP},
	{http.MethodPost, "/api/webhooks", auth.Admin, (*Server).createWebhookHTTP},
	{http.MethodGet, "/api/webhooks/:id", auth.Admin, (*Server).getWebhookHTTP},
	{http.MethodPut, "/api/webhooks/:id", auth.Admin, (*Server).updateWebhookHTTP},
	{http.MethodDelete, "/api/webhooks/:id", auth.Admin, (*Server).deleteWebhookHTTP},
	{http.MethodPost, "/api/webhooks/:id/test", auth.Admin, (*Server).testWebhookHTTP},
	{http.MethodGet, "/api/webhooks/:id/deliveries", auth.Admin, (*Server).webhookDeliveriesHTTP},

	// Any other API path: signed-in callers learn it does not exist.
	{anyMethod, "/api/*", auth.Viewer, (*Server).noSuchAPI},
	// The dashboard: it signs in itself, through the API.
	{http.MethodGet, "/*", roleNone, (*Server).spa},
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.Use(middleware.Recover())
	for _, r := range routeTable {
		h := func(c echo.Context) error { return r.Handler(s, c) }
		if r.Method == anyMethod {
			e.Any(r.Path, h, s.access(r))
		} else {
			e.Add(r.Method, r.Path, h, s.access(r))
		}
	}
	return e
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) noSuchAPI(c echo.Context) error {
	return notFound("no API endpoint " + c.Request().Method + " " + c.Request().URL.Path)
}

// readyTimeout bounds /readyz's ping: a store that does not answer
// within it is unready, so a load balancer learns it at once instead of
// waiting on a hung connection.
const readyTimeout = time.Second

func (s *Server) readyz(c echo.Context) error {
	if s.draining.Load() {
		return errDraining()
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		// The driver's text can name hosts and users: the log has it.
		s.log.Warn("readiness check: store unavailable", "err", err)
		return unavailable("store unavailable")
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) listNodes(c echo.Context) error {
	nodes, err := s.store.Nodes().List(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[store.Node]{Items: nodes, Total: len(nodes)})
}

func (s *Server) nodeParam(c echo.Context) (*store.Node, error) {
	id := c.Param("id")
	if !store.ValidID(id) {
		return nil, badRequest("node id " + id + " is not valid: ids are 24 hex digits, as listed by GET /api/nodes")
	}
	return s.store.Nodes().Get(c.Request().Context(), id)
}

func (s *Server) getNode(c echo.Context) error {
	n, err := s.nodeParam(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func (s *Server) nodeSysinfo(c echo.Context) error {
	n, err := s.nodeParam(c)
	if err != nil {
		return err
	}
	var si wire.SysInfo
	if err := s.caller.Call(c.Request().Context(), n.ID, wire.OpGetSysinfo, nil, &si); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, si)
}

// spa serves the dashboard: files as they are, any other path as
// index.html so client-side routes survive a reload.
func (s *Server) spa(c echo.Context) error {
	if s.cfg.Dist == nil {
		return c.HTML(http.StatusOK, notBuilt)
	}
	p := strings.TrimPrefix(path.Clean("/"+c.Param("*")), "/") // Clean on a rooted path drops any "..".
	if p == "" {
		p = "index.html"
	}
	if st, err := fs.Stat(s.cfg.Dist, p); err != nil || st.IsDir() {
		p = "index.html"
	}
	b, err := fs.ReadFile(s.cfg.Dist, p)
	if err != nil {
		return c.HTML(http.StatusOK, notBuilt)
	}
	if p == "index.html" {
		c.Response().Header().Set("Cache-Control", "no-cache")
	} else {
		// Built assets carry a content hash in their names.
		c.Response().Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	http.ServeContent(c.Response(), c.Request(), p, time.Time{}, bytes.NewReader(b))
	return nil
}

const notBuilt = `<!doctype html><title>crawlhub</title><p>The dashboard is not built into this binary. Run <code>make build</code> (or <code>npm run build</code>, then <code>go build</code>). The API at <code>/api</code> works without it.</p>`
