package hub

import (
	"encoding/json"
	"testing"

	"github.com/crawlhub/crawlhub/wsapi"
)

// FuzzParseRequest feeds arbitrary client frames to the JSON-RPC decoder.
// Whatever arrives, the client must get an answer: a request to dispatch
// or a parse / invalid-request error that encodes to a valid response,
// never a panic that would drop the connection without a reason.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"nodes.list"}`,
		`{"jsonrpc":"2.0","id":"a","method":"task.log","params":{"task_id":"t1","from":0,"limit":100}}`,
		`{"jsonrpc":"2.0","method":"subscribe","params":{"channel":"logs:t1"}}`,
		`{"jsonrpc":"2.0","id":null,"method":"stats"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"nodes.list"}]`,
		`  [ ]`, `{}`, `null`, `"x"`, `{"jsonrpc":"1.0","id":1,"method":"m"}`,
		`{"jsonrpc":"2.0","id":{},"method":"m"}`, `{"jsonrpc":"2.0","id":1,"method":""}`,
		`{"jsonrpc":"2.0","id":1e400,"method":"m"}`, "\xff\xfe", ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		req, rerr := parseRequest(msg)
		if rerr == nil {
			if req == nil || req.JSONRPC != "2.0" || req.Method == "" {
				t.Fatalf("accepted an invalid request %+v from %q", req, msg)
			}
			return
		}
		if rerr.Code != wsapi.CodeParse && rerr.Code != wsapi.CodeInvalidRequest {
			t.Fatalf("error code %d for %q, want parse or invalid request", rerr.Code, msg)
		}
		if rerr.Message == "" {
			t.Fatalf("error without a message for %q", msg)
		}
		out, err := encodeResponse(req.idOrNull(), nil, rerr)
		if err != nil {
			t.Fatalf("the error response to %q does not encode: %v", msg, err)
		}
		var resp response
		if err := json.Unmarshal(out, &resp); err != nil || resp.Error == nil || resp.Error.Code != rerr.Code {
			t.Fatalf("error response %s to %q does not decode to the error: %v", out, msg, err)
		}
	})
}

// FuzzParseLogBatch feeds arbitrary bus payloads to the fast path that
// forwards log batches to browsers without re-encoding. It must never
// panic; when it accepts a payload, encoding/json must accept it too.
func FuzzParseLogBatch(f *testing.F) {
	for _, s := range []string{
		`{"task_id":"t1","seq":1,"lines":["a","b"]}`,
		`{"task_id":"t1","status":"finished","seq":3,"lines":[]}`,
		`{"task_id":"t\u00e91","lines":["\u0000"]}`,
		`{"task_id":"t1","lines":["bad \x escape"]}`,
		`{}`, `{"task_id":`, `[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lb, ok := parseLogBatch(b)
		if !ok {
			return
		}
		if lb == nil {
			t.Fatalf("ok without a batch for %q", b)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("fast path accepted %q, which is not JSON: %v", b, err)
		}
	})
}
