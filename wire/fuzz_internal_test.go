package wire

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"testing"
)

const fuzzSecret = "0123456789abcdef0123456789abcdef"

var fuzzEnvelopes = []string{
	`{"id":"1","type":"task.start","node_id":"n1","payload":{"task_id":"t1"}}`,
	`{"id":"2","type":"reply","node_id":"n1","re":"1","payload":{}}`,
	`{"id":"3","type":"heartbeat","node_id":"n1","payload":{"name":"a","at":"2026-01-01T00:00:00Z"}}`,
	`{"id":"4","type":"reply","re":"1","error":"boom"}`,
	`{"id":"a\"b","type":"x"}`, `{}`, `{`, `[]`, ``,
}

// FuzzSignerOpen feeds arbitrary bus messages to the signature check: it
// must never panic, must reject what it did not sign, and Sign then Open
// must give back the message as it was.
func FuzzSignerOpen(f *testing.F) {
	s, err := NewSigner(fuzzSecret, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range fuzzEnvelopes {
		f.Add([]byte(e))
		f.Add(s.Sign([]byte(e)))
		f.Add(bytes.ToUpper(s.Sign([]byte(e))))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		if body, err := s.Open(msg); err == nil {
			// Only a message carrying our own signature may pass; the
			// signature's hex may be in either case (the same MAC).
			if !bytes.EqualFold(s.Sign(bytes.Clone(body)), orig) || len(body) == 0 || !bytes.HasPrefix(orig, body[:len(body)-1]) {
				t.Fatalf("Open accepted %q, which is not Sign(%q)", orig, body)
			}
		}
		if !bytes.Equal(msg, orig) {
			t.Fatalf("Open changed its input")
		}
		signed := s.Sign(bytes.Clone(msg))
		body, err := s.Open(signed)
		n := len(orig)
		isObject := n >= 2 && orig[0] == '{' && orig[n-1] == '}'
		if isObject && (err != nil || !bytes.Equal(body, orig)) {
			t.Fatalf("Open(Sign(%q)) = %q, %v", orig, body, err)
		}
	})
}

// FuzzPeekReply feeds arbitrary bus messages to the reply fast path: it
// must never panic, and for every envelope as json.Marshal writes it (the
// only form senders produce; anything else falls back on the decoder) it
// must read the node and reply id the decoder reads.
func FuzzPeekReply(f *testing.F) {
	for _, e := range fuzzEnvelopes {
		f.Add([]byte(e))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		peekReply(b)
		var env Envelope
		if json.Unmarshal(b, &env) != nil {
			return
		}
		if len(env.Payload) > 0 && !json.Valid(env.Payload) {
			return
		}
		out, err := json.Marshal(&env)
		if err != nil {
			return // a payload that does not re-encode: not a sender's form
		}
		node, re, ok := peekReply(out)
		if !ok {
			if !bytes.ContainsRune(out, '\\') && isASCII(env.ID+env.Type+env.NodeID+env.Re) {
				t.Fatalf("peekReply refused %s, as json.Marshal writes it", out)
			}
			return
		}
		if env.NodeID != node || env.Re != re {
			t.Fatalf("peekReply(%s) = %q, %q; the decoder reads %q, %q", out, node, re, env.NodeID, env.Re)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// echoNode answers every operation with what it was asked, so the fuzz
// target below sees each request as the Node would.
type echoNode struct{ got any }

func (n *echoNode) Ping(context.Context) error               { return nil }
func (n *echoNode) SysInfo(context.Context) (SysInfo, error) { return SysInfo{}, nil }
func (n *echoNode) GetLog(_ context.Context, r GetLog) (LogBatch, error) {
	n.got = r
	return LogBatch{}, nil
}
func (n *echoNode) GetItems(_ context.Context, r GetItems) (ItemBatch, error) {
	n.got = r
	return ItemBatch{}, nil
}
func (n *echoNode) SearchLog(_ context.Context, r SearchLog) (LogSearch, error) {
	n.got = r
	return LogSearch{}, nil
}
func (n *echoNode) CancelTask(_ context.Context, r CancelTask) error { n.got = r; return nil }
func (n *echoNode) SyncSpider(_ context.Context, r SyncSpider) error { n.got = r; return nil }
func (n *echoNode) TaskAvailable(_ context.Context, r TaskAvailable) error {
	n.got = r
	return nil
}

// FuzzOperationPayload feeds arbitrary payloads to every operation an
// agent serves, and to the LogBatch and ItemBatch decoders: none may
// panic, and a payload that decodes re-encodes to one that decodes to the
// same value.
func FuzzOperationPayload(f *testing.F) {
	for _, s := range []string{
		`{"task_id":"t1","from":0,"limit":1000}`, `{"task_id":"t1","from":-1,"limit":-5}`,
		`{"task_id":"t1","query":"error","limit":10}`, `{"spider_id":"s1","md5":"x"}`,
		`{"task_id":"t1","from":3,"lines":["a"],"total":4,"end":true,"status":"finished"}`,
		`{"task_id":"t1","from":0,"items":[{"a":1}],"total":1}`,
		`null`, `[]`, `"x"`, `{"from":1e400}`, ``,
	} {
		f.Add([]byte(s))
	}
	ops := make([]string, 0, len(operations))
	for op := range operations {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, op := range ops {
			n := &echoNode{}
			if _, err := operations[op].serve(context.Background(), n, payload); err != nil {
				continue
			}
			if n.got == nil {
				continue
			}
			b, err := json.Marshal(n.got)
			if err != nil {
				t.Fatalf("%s: %#v does not encode: %v", op, n.got, err)
			}
			m := &echoNode{}
			if _, err := operations[op].serve(context.Background(), m, b); err != nil || !reflect.DeepEqual(m.got, n.got) {
				t.Fatalf("%s: %s decodes to %#v, then to %#v (%v)", op, payload, n.got, m.got, err)
			}
		}
		roundTrip[LogBatch](t, payload)
		roundTrip[ItemBatch](t, payload)
	})
}

func roundTrip[T any](t *testing.T, payload []byte) {
	var v T
	if json.Unmarshal(payload, &v) != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return // a raw item that is not JSON: json.Marshal refuses it, it is never sent
	}
	var w T
	if err := json.Unmarshal(b, &w); err != nil || !reflect.DeepEqual(normal(t, v), normal(t, w)) {
		t.Fatalf("%T %s: re-encoded as %s, decodes differently (%v)", v, payload, b, err)
	}
}

// normal is v as encoded JSON, so that raw items compare by content.
func normal(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
