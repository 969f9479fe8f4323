package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// APIError is the one shape of every error the API returns.
type APIError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return e.Message }

// Stable error codes, shared by REST and (with numbers) JSON-RPC.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not_found"
	CodeConflict     = "conflict"
	CodeNodeOffline  = "node_offline"
	CodeTimeout      = "timeout"
	CodeNodeError    = "node_error"
	CodeUnavailable  = "unavailable"
	CodeInternal     = "internal"
)

func badRequest(msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg}
}

// toAPIError is the one place errors become API errors.
func toAPIError(err error) *APIError {
	var ae *APIError
	var he *echo.HTTPError
	var re *wire.RemoteError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, wire.ErrNodeOffline):
		return &APIError{http.StatusServiceUnavailable, CodeNodeOffline, err.Error()}
	case errors.Is(err, wire.ErrUnknownNode), errors.Is(err, store.ErrNotFound):
		return &APIError{http.StatusNotFound, CodeNotFound, err.Error()}
	case errors.Is(err, store.ErrConflict):
		return &APIError{http.StatusConflict, CodeConflict, err.Error()}
	case errors.Is(err, wire.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return &APIError{http.StatusGatewayTimeout, CodeTimeout, err.Error() + "; the node may be overloaded or its connection to Redis lost"}
	case errors.As(err, &re):
		return &APIError{http.StatusBadGateway, CodeNodeError, err.Error()}
	case errors.As(err, &he):
		code := CodeBadRequest
		switch he.Code {
		case http.StatusUnauthorized:
			code = CodeUnauthorized
		case http.StatusNotFound:
			code = CodeNotFound
		case http.StatusServiceUnavailable:
			code = CodeUnavailable
		}
		if he.Code >= 500 {
			code = CodeInternal
		}
		msg, ok := he.Message.(string)
		if !ok {
			msg = http.StatusText(he.Code)
		}
		return &APIError{he.Code, code, msg}
	}
	return &APIError{http.StatusInternalServerError, CodeInternal, "internal error: " + err.Error()}
}

func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := toAPIError(err)
	if ae.Status >= 500 && ae.Code == CodeInternal {
		s.log.Error("request failed", "path", c.Request().URL.Path, "err", err)
	}
	_ = c.JSON(ae.Status, ae)
}

// maxJSONBody bounds a JSON request body.
const maxJSONBody = 1 << 20

// bindJSON decodes a request's JSON body strictly: a misspelt field is an
// error the caller sees, as on the WebSocket API, rather than a silent
// default. example shows what to send.
func bindJSON(c echo.Context, v any, example string) error {
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), c.Request().Body, maxJSONBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value")
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &APIError{Status: http.StatusRequestEntityTooLarge, Code: CodeBadRequest, Message: fmt.Sprintf("the body is over %d bytes", maxJSONBody)}
		}
		return badRequest("invalid JSON body: " + err.Error() + "; send " + example)
	}
	return nil
}
