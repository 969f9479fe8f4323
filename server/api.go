package server

import (
	"bytes"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// list is the shape of every list response.
type list[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func (s *Server) routes() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.Use(middleware.Recover())

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/ws", s.serveWS)
	e.GET("/metrics", s.metrics, s.requireToken)

	api := e.Group("/api", s.requireToken)
	api.GET("/nodes", s.listNodes)
	api.GET("/nodes/:id", s.getNode)
	api.GET("/nodes/:id/sysinfo", s.nodeSysinfo)
	api.GET("/spiders", s.listSpiders)
	api.POST("/spiders", s.createSpider)
	api.GET("/spiders/:id", s.getSpider)
	api.PUT("/spiders/:id", s.updateSpider)
	api.DELETE("/spiders/:id", s.deleteSpider)
	api.POST("/spiders/:id/deploy", s.deploySpider)
	api.GET("/spiders/:id/items", s.spiderItems)
	api.GET("/spiders/:id/items/export", s.exportSpiderItems)
	api.POST("/tasks", s.runTasksHTTP)
	api.GET("/tasks", s.listTasks)
	api.GET("/tasks/:id", s.getTask)
	api.POST("/tasks/:id/cancel", s.cancelTaskHTTP)
	api.POST("/tasks/:id/restart", s.restartTask)
	api.GET("/tasks/:id/log", s.taskLog)
	api.GET("/tasks/:id/items", s.taskItems)
	api.GET("/tasks/:id/items/export", s.exportTaskItems)
	api.GET("/schedules", s.listSchedulesHTTP)
	api.POST("/schedules", s.createScheduleHTTP)
	api.GET("/schedules/preview", s.previewCronHTTP)
	api.GET("/schedules/:id", s.getScheduleHTTP)
	api.PUT("/schedules/:id", s.updateScheduleHTTP)
	api.DELETE("/schedules/:id", s.deleteScheduleHTTP)
	api.POST("/schedules/:id/run", s.runScheduleHTTP)
	api.Any("/*", func(c echo.Context) error {
		return notFound("no API endpoint " + c.Request().Method + " " + c.Request().URL.Path)
	})

	e.GET("/*", s.spa)
	return e
}

func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.authorized(c.Request()) {
			return unauthorized("missing or wrong token: send 'Authorization: Bearer <token>' (the token is printed by the server at start)")
		}
		return next(c)
	}
}

func (s *Server) readyz(c echo.Context) error {
	if err := s.store.Ping(c.Request().Context()); err != nil {
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
