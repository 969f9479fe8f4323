package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/server/hub"
	"github.com/crawlhub/crawlhub/wsapi"
)

// The webhooks' REST routes and JSON-RPC methods: thin adapters over the
// functions in webhooks.go, which both share.

func (s *Server) listWebhooksHTTP(c echo.Context) error {
	all, err := s.Webhooks(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, list[WebhookView]{Items: all, Total: len(all)})
}

func (s *Server) getWebhookHTTP(c echo.Context) error {
	w, err := s.webhookByID(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOf(w, false))
}

func (s *Server) createWebhookHTTP(c echo.Context) error {
	var req WebhookRequest
	if err := bindJSON(c, &req, webhookExample); err != nil {
		return err
	}
	v, err := s.CreateWebhook(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, v)
}

func (s *Server) updateWebhookHTTP(c echo.Context) error {
	var req WebhookRequest
	if err := bindJSON(c, &req, webhookExample); err != nil {
		return err
	}
	v, err := s.UpdateWebhook(c.Request().Context(), c.Param("id"), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (s *Server) deleteWebhookHTTP(c echo.Context) error {
	if err := s.DeleteWebhook(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) testWebhookHTTP(c echo.Context) error {
	d, err := s.TestWebhook(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

func (s *Server) webhookDeliveriesHTTP(c echo.Context) error {
	limit := 0
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return badRequest("limit must be a whole number")
		}
		limit = n
	}
	l, err := s.Deliveries(c.Request().Context(), c.Param("id"), limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, l)
}

// ---- JSON-RPC

// webhookCall serves the webhook methods of the WebSocket API.
func (s *Server) webhookCall(ctx context.Context, method string, params json.RawMessage) (any, error) {
	switch method {
	case wsapi.MethodWebhooksList:
		if err := hub.DecodeParams(params, &struct{}{}); err != nil {
			return nil, err
		}
		all, err := s.Webhooks(ctx)
		return list[WebhookView]{Items: all, Total: len(all)}, err
	case wsapi.MethodWebhookCreate:
		var req WebhookRequest
		if err := hub.DecodeParams(params, &req); err != nil {
			return nil, err
		}
		return s.CreateWebhook(ctx, req)
	case wsapi.MethodWebhookUpdate:
		var p struct {
			ID string `json:"id"`
			WebhookRequest
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.UpdateWebhook(ctx, p.ID, p.WebhookRequest)
	case wsapi.MethodDeliveries:
		var p struct {
			ID    string `json:"id"`
			Limit int    `json:"limit"`
		}
		if err := hub.DecodeParams(params, &p); err != nil {
			return nil, err
		}
		return s.Deliveries(ctx, p.ID, p.Limit)
	}
	var byID struct {
		ID string `json:"id"`
	}
	if err := hub.DecodeParams(params, &byID); err != nil {
		return nil, err
	}
	if method == wsapi.MethodWebhookDelete {
		return struct{}{}, s.DeleteWebhook(ctx, byID.ID)
	}
	return s.TestWebhook(ctx, byID.ID) // wsapi.MethodWebhookTest
}
