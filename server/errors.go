package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
	"github.com/crawlhub/crawlhub/wsapi"
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
	CodeForbidden    = "forbidden"
	// CodeTooManyRequests: sign-in is throttled; Retry-After says for
	// how long.
	CodeTooManyRequests = "too_many_requests"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeNodeOffline     = "node_offline"
	CodeTimeout         = "timeout"
	CodeNodeError       = "node_error"
	CodeUnavailable     = "unavailable"
	CodeInternal        = "internal"
	// CodeStoreUnavailable: the store did not answer in time or could not
	// be reached (store_deadline.go); the same call works once it is back.
	CodeStoreUnavailable = "store_unavailable"

	// CodeBusUnavailable: the master cannot reach the cluster bus
	// (Redis), so nothing that must reach a node or another master can be
	// done now (busstate.go).
	CodeBusUnavailable = "bus_unavailable"
)

// errorKinds is the one table from an error code to what it becomes on
// each API: the HTTP status of a REST response and the JSON-RPC error code
// of a WebSocket reply. docs/rest-api.md and docs/websocket-api.md list
// the same pairs.
var errorKinds = map[string]struct{ status, rpc int }{
	CodeBadRequest:   {http.StatusBadRequest, wsapi.CodeInvalidParams},
	CodeUnauthorized: {http.StatusUnauthorized, wsapi.CodeUnauthorized},
	CodeForbidden:    {http.StatusForbidden, wsapi.CodeForbidden},
	// Only sign-in is throttled, and only on REST.
	CodeTooManyRequests: {http.StatusTooManyRequests, wsapi.CodeUnavailable},
	CodeNotFound:        {http.StatusNotFound, wsapi.CodeNotFound},
	CodeConflict:        {http.StatusConflict, wsapi.CodeConflict},
	CodeNodeOffline:     {http.StatusServiceUnavailable, wsapi.CodeNodeOffline},
	CodeTimeout:         {http.StatusGatewayTimeout, wsapi.CodeTimeout},
	CodeNodeError:       {http.StatusBadGateway, wsapi.CodeNodeError},
	CodeUnavailable:     {http.StatusServiceUnavailable, wsapi.CodeUnavailable},
	CodeBusUnavailable:  {http.StatusServiceUnavailable, wsapi.CodeBusUnavailable},
	CodeInternal:        {http.StatusInternalServerError, wsapi.CodeInternal},
	// A store that does not answer is not a node that does not (504).
	CodeStoreUnavailable: {http.StatusServiceUnavailable, wsapi.CodeStoreUnavailable},
}

// newAPIError is an error with code's HTTP status. An unknown code is a
// programming error and becomes internal, so it is never sent as it is.
func newAPIError(code, msg string) *APIError {
	k, ok := errorKinds[code]
	if !ok {
		code, k = CodeInternal, errorKinds[CodeInternal]
	}
	return &APIError{Status: k.status, Code: code, Message: msg}
}

// rpcCode is the JSON-RPC error code of e.
func (e *APIError) rpcCode() int {
	if k, ok := errorKinds[e.Code]; ok {
		return k.rpc
	}
	return wsapi.CodeInternal
}

// withStatus overrides the table's HTTP status where one code has more than
// one (a body too large is still a bad request, but answers 413).
func (e *APIError) withStatus(status int) *APIError {
	e.Status = status
	return e
}

func badRequest(msg string) *APIError   { return newAPIError(CodeBadRequest, msg) }
func unauthorized(msg string) *APIError { return newAPIError(CodeUnauthorized, msg) }
func forbidden(msg string) *APIError    { return newAPIError(CodeForbidden, msg) }
func notFound(msg string) *APIError     { return newAPIError(CodeNotFound, msg) }
func conflict(msg string) *APIError     { return newAPIError(CodeConflict, msg) }
func nodeOffline(msg string) *APIError  { return newAPIError(CodeNodeOffline, msg) }
func timedOut(msg string) *APIError     { return newAPIError(CodeTimeout, msg) }
func nodeError(msg string) *APIError    { return newAPIError(CodeNodeError, msg) }
func unavailable(msg string) *APIError  { return newAPIError(CodeUnavailable, msg) }

// tooLarge is a bad request refused for its size.
func tooLarge(msg string) *APIError {
	return badRequest(msg).withStatus(http.StatusRequestEntityTooLarge)
}

// toAPIError is the one place errors become API errors. An internal error
// keeps err's text here; publicError replaces it before a client sees it.
func toAPIError(err error) *APIError {
	var ae *APIError
	var he *echo.HTTPError
	var re *wire.RemoteError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, bus.ErrUnavailable):
		return busUnavailable(err.Error())
	case errors.Is(err, wire.ErrNodeOffline):
		return nodeOffline(err.Error())
	case errors.Is(err, wire.ErrUnknownNode), errors.Is(err, store.ErrNotFound):
		return notFound(err.Error())
	case errors.Is(err, store.ErrConflict):
		return conflict(err.Error())
	case errors.Is(err, store.ErrUnavailable):
		// Before the timeouts: a store call that missed its deadline is the
		// store's fault, not a node's. The driver's text names addresses.
		return newAPIError(CodeStoreUnavailable, "the store (MongoDB or SQLite) is not answering; "+
			"retry in a few seconds; /readyz says when it is back")
	case errors.Is(err, wire.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return timedOut(err.Error() + "; the node may be overloaded or its connection to Redis lost")
	case errors.As(err, &re):
		return nodeError(err.Error())
	case errors.As(err, &he):
		// echo's own errors (405, 413, a malformed request): their status
		// stays, their code follows it.
		code := CodeBadRequest
		switch {
		case he.Code >= 500:
			code = CodeInternal
		case he.Code == http.StatusUnauthorized:
			code = CodeUnauthorized
		case he.Code == http.StatusNotFound:
			code = CodeNotFound
		}
		msg, ok := he.Message.(string)
		if !ok {
			msg = http.StatusText(he.Code)
		}
		return newAPIError(code, msg).withStatus(he.Code)
	}
	return newAPIError(CodeInternal, err.Error())
}

// publicError is err as a client may see it. An internal error's text can
// name files, queries or addresses that are none of the client's business:
// it is logged with a fresh request id, and the client gets that id to
// quote instead. logAttrs say where the request came from.
func (s *Server) publicError(err error, logAttrs ...any) *APIError {
	ae := toAPIError(err)
	if ae.Code != CodeInternal {
		return ae
	}
	id := newRequestID()
	s.log.Error("request failed", append(logAttrs, "request_id", id, "err", err)...)
	return newAPIError(CodeInternal, "internal error, request id "+id+
		": the server logged what went wrong; retry, and quote the id to its operator if it persists").withStatus(ae.Status)
}

// newRequestID names one failed request in the log and in its answer.
// Random, so ids from several masters behind one load balancer never meet.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	r := c.Request()
	ae := s.publicError(err, "api", "rest", "method", r.Method, "path", r.URL.Path)
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
			return tooLarge(fmt.Sprintf("the body is over %d bytes", maxJSONBody))
		}
		return badRequest("invalid JSON body: " + err.Error() + "; send " + example)
	}
	return nil
}
