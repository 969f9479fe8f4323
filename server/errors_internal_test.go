package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// TestErrorTable: each kind of error becomes the same code on both APIs,
// with the HTTP status and JSON-RPC number clients already rely on
// (docs/rest-api.md, docs/websocket-api.md).
func TestErrorTable(t *testing.T) {
	for _, tc := range []struct {
		err     error
		status  int
		code    string
		rpc     int
		message string // "" keeps err's text
	}{
		{badRequest("fix it"), 400, CodeBadRequest, -32602, ""},
		{tooLarge("too big"), 413, CodeBadRequest, -32602, ""},
		{unauthorized("who are you"), 401, CodeUnauthorized, -32004, ""},
		{forbidden("not from there"), 403, CodeForbidden, -32010, ""},
		{notFound("no such thing"), 404, CodeNotFound, -32001, ""},
		{unavailable("store unreachable"), 503, CodeUnavailable, -32008, ""},
		{fmt.Errorf("%w: tasks.List had no answer within 2s: %w", store.ErrUnavailable, context.DeadlineExceeded), 503, CodeStoreUnavailable, -32011,
			"the store (MongoDB or SQLite) is not answering; retry in a few seconds; /readyz says when it is back"},
		{fmt.Errorf("get: %w", store.ErrNotFound), 404, CodeNotFound, -32001, ""},
		{fmt.Errorf("no node: %w", wire.ErrUnknownNode), 404, CodeNotFound, -32001, ""},
		{fmt.Errorf("create: %w", store.ErrConflict), 409, CodeConflict, -32006, ""},
		{&wire.OfflineError{NodeID: "65ab", Name: "a"}, 503, CodeNodeOffline, -32002, ""},
		{fmt.Errorf("get_log: %w", wire.ErrTimeout), 504, CodeTimeout, -32003,
			"get_log: node did not answer in time; the node may be overloaded or its connection to Redis lost"},
		{context.DeadlineExceeded, 504, CodeTimeout, -32003,
			"context deadline exceeded; the node may be overloaded or its connection to Redis lost"},
		{&wire.RemoteError{NodeID: "65ab", Op: "get_log", Msg: "disk full"}, 502, CodeNodeError, -32007, ""},
		{errBusDown("no task was created"), 503, CodeBusUnavailable, -32012, ""},
		{fmt.Errorf("publish: %w", bus.ErrUnavailable), 503, CodeBusUnavailable, -32012, ""},
		{echo.ErrMethodNotAllowed, 405, CodeBadRequest, -32602, "Method Not Allowed"},
		{echo.ErrUnauthorized, 401, CodeUnauthorized, -32004, "Unauthorized"},
		{echo.ErrNotFound, 404, CodeNotFound, -32001, "Not Found"},
	} {
		s := &Server{log: slog.New(slog.DiscardHandler)}
		ae := s.publicError(tc.err)
		want := tc.message
		if want == "" {
			want = tc.err.Error()
		}
		if ae.Status != tc.status || ae.Code != tc.code || ae.Message != want {
			t.Errorf("%v: REST %d %s %q, want %d %s %q", tc.err, ae.Status, ae.Code, ae.Message, tc.status, tc.code, want)
		}
		rpc, msg := wsBackend{s}.ErrorCode(tc.err)
		if rpc != tc.rpc || msg != ae.Message {
			t.Errorf("%v: JSON-RPC %d %q, want %d %q", tc.err, rpc, msg, tc.rpc, ae.Message)
		}
	}
}

// TestInternalErrorHidden: what went wrong inside stays in the log, under
// the request id the client is given, on both APIs.
func TestInternalErrorHidden(t *testing.T) {
	for _, err := range []error{
		errors.New("open /var/lib/crawlhub/data.db: permission denied"),
		echo.NewHTTPError(503, "upstream 10.0.0.7 refused"),
	} {
		var logs bytes.Buffer
		s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil))}
		rest := s.publicError(err)
		rpc, msg := wsBackend{s}.ErrorCode(err)
		if rest.Code != CodeInternal || rpc != -32603 {
			t.Errorf("%v: code %s, JSON-RPC %d", err, rest.Code, rpc)
		}
		for _, m := range []string{rest.Message, msg} {
			if strings.Contains(m, "denied") || strings.Contains(m, "10.0.0.7") || !strings.HasPrefix(m, "internal error, request id ") {
				t.Errorf("%v: client sees %q", err, m)
			}
			id := strings.TrimSuffix(strings.Fields(m)[4], ":")
			if !strings.Contains(logs.String(), "request_id="+id) {
				t.Errorf("request id %s is not in the log:\n%s", id, logs.String())
			}
		}
		if rest.Message == msg {
			t.Errorf("two failed requests share a request id: %q", msg)
		}
	}
}
