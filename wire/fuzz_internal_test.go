package wire

import (
	"bytes"
	"encoding/json"
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
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		if body, err := s.Open(msg); err == nil {
			// Only a message carrying our own signature may pass.
			if !bytes.Equal(s.Sign(bytes.Clone(body)), orig) {
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
