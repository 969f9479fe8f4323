package wire

import (
	"encoding/json"
	"testing"
)

// TestPeekReply: the node_id and re read from an envelope's head are the
// ones a full decode finds, for every envelope wire writes; anything else
// falls back to the full decode rather than being misread.
func TestPeekReply(t *testing.T) {
	for _, env := range []Envelope{
		{ID: "a1b2-1", Type: OpPing, NodeID: "n1", Re: "c3d4-7", Payload: json.RawMessage(`{}`)},
		{ID: "a1b2-2", Type: OpGetLog, Re: "c3d4-8", Payload: json.RawMessage(`{"lines":["x"]}`)},
		{ID: "a1b2-3", Type: EvHeartbeat, NodeID: "n1", Payload: json.RawMessage(`{"name":"x"}`)},
		{ID: "a1b2-4", Type: OpGetSysinfo, NodeID: "n1", Re: "c3d4-9", Error: "boom"},
		{ID: "a1b2-5", Type: EvTaskStatus},
		{ID: `we"ird`, Type: OpPing, Re: "x"},
		{ID: "x", Type: OpPing, Re: `re"quote`},
		{ID: "x", Type: "<&>", NodeID: "n", Re: "r"},
		{ID: "x", Type: OpPing, NodeID: `n"1`, Re: "r"},
	} {
		b, err := json.Marshal(env)
		if err != nil {
			t.Fatal(err)
		}
		node, re, ok := peekReply(b)
		if !ok {
			continue // the full decode handles it
		}
		if re != env.Re || node != env.NodeID {
			t.Errorf("peekReply(%s) = %q, %q; want %q, %q", b, node, re, env.NodeID, env.Re)
		}
	}
	for _, bad := range []string{``, `{`, `{"id":"x"`, `{"type":"x","id":"y","re":"z"}`, `{"id":"x","type":"y","re":"z`, `[1]`} {
		if _, re, ok := peekReply([]byte(bad)); ok && re != "" {
			t.Errorf("peekReply(%q) = %q, true; want a fallback", bad, re)
		}
	}
}
