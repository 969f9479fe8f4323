package wire_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/wire"
)

const secret = "0123456789abcdef0123456789abcdef"

func signer(t testing.TB, secret string) *wire.Signer {
	t.Helper()
	s, err := wire.NewSigner(secret, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSignOpen: a signed message is the message with one more field, the
// HMAC of the message as it was; Open gives back exactly those bytes, and
// refuses the message unsigned, altered, or signed with another secret.
func TestSignOpen(t *testing.T) {
	s := signer(t, secret)
	for _, msg := range []string{
		`{"id":"a-1","type":"ping","node_id":"n1"}`,
		`{"task_id":"t","from":3,"lines":["x","}\"sig\":"],"total":4}`,
		`{}`,
	} {
		signed := s.Sign([]byte(msg))
		if !json.Valid(signed) {
			t.Fatalf("signed %s is not JSON: %s", msg, signed)
		}
		var fields map[string]any
		json.Unmarshal(signed, &fields)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(msg))
		if fields["sig"] != hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("sig of %s = %v, want the HMAC-SHA256 of the message", msg, fields["sig"])
		}
		got, err := s.Open(signed)
		if err != nil || string(got) != msg {
			t.Errorf("Open(%s) = %s, %v; want %s", signed, got, err, msg)
		}
		if _, err := signer(t, strings.ToUpper(secret)).Open(signed); !errors.Is(err, wire.ErrBadSignature) {
			t.Errorf("another secret opened %s: %v", signed, err)
		}
		if _, err := s.Open([]byte(msg)); !errors.Is(err, wire.ErrUnsigned) {
			t.Errorf("Open of the unsigned %s: %v, want ErrUnsigned", msg, err)
		}
		// Any one byte changed, the signature included, is refused.
		for i := range signed {
			bad := bytes.Clone(signed)
			bad[i] ^= 0x01
			if out, err := s.Open(bad); err == nil {
				t.Fatalf("Open accepted %s (byte %d of %s changed) as %s", bad, i, signed, out)
			}
		}
	}
	if _, err := wire.NewSigner("short", nil); err == nil {
		t.Error("a 5-byte secret was accepted")
	}
	if s, err := wire.NewSigner("", nil); s != nil || err != nil {
		t.Errorf("no secret: %v, %v; want the insecure bus (nil, nil)", s, err)
	}
	var none *wire.Signer // the insecure bus passes everything as it is
	if got := none.Sign([]byte(`{"a":1}`)); string(got) != `{"a":1}` {
		t.Errorf("insecure Sign = %s", got)
	}
	if got, err := none.Open([]byte(`{"a":1}`)); err != nil || string(got) != `{"a":1}` {
		t.Errorf("insecure Open = %s, %v", got, err)
	}
}

// signedRig is a Caller and a Responder (node "a") on one in-process
// bus, both with the secret, and a raw connection to forge messages with.
type signedRig struct {
	caller *wire.Caller
	raw    *bus.Memory
	served chan string // ids of the requests node "a" served
	events chan *wire.Envelope
}

type servedNode struct {
	testNode
	served chan string
}

func (n servedNode) Ping(context.Context) error { n.served <- "ping"; return nil }

func newSignedRig(t *testing.T, callerSecret, agentSecret string) *signedRig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	broker := bus.NewMemoryBroker()
	r := &signedRig{served: make(chan string, 100), events: make(chan *wire.Envelope, 100)}
	mb := broker.Connect(func(_ string, p []byte) { r.caller.Handle(p) })
	r.caller = wire.NewCaller(wire.CallerConfig{Bus: mb, Timeout: time.Second, Log: quiet(),
		Signer: signer(t, callerSecret), Event: func(e *wire.Envelope) { r.events <- e }})
	var resp *wire.Responder
	ab := broker.Connect(func(_ string, p []byte) { resp.Handle(p) })
	resp = wire.NewResponder(wire.ResponderConfig{NodeID: "a", Bus: ab, Log: quiet(), Signer: signer(t, agentSecret)},
		servedNode{testNode: testNode{id: "a"}, served: r.served})
	r.raw = broker.Connect(func(string, []byte) {})
	for _, sub := range []struct {
		b  *bus.Memory
		ch string
	}{{mb, wire.MasterChannel}, {ab, wire.NodeChannel("a")}} {
		if err := sub.b.Subscribe(ctx, sub.ch); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { resp.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); mb.Close(); ab.Close(); r.raw.Close() })
	return r
}

// TestSignedCalls: with one secret on both ends calls and events work;
// a forged request (unsigned, or signed with another secret, or signed
// for another node) is never served, and a master with the secret ignores
// unsigned events and replies.
func TestSignedCalls(t *testing.T) {
	ctx := context.Background()
	r := newSignedRig(t, secret, secret)
	if err := r.caller.Call(ctx, "a", wire.OpPing, nil, nil); err != nil {
		t.Fatalf("signed ping: %v", err)
	}
	<-r.served
	wrong := signer(t, strings.Repeat("x", 32))
	right := signer(t, secret)
	for _, forged := range [][]byte{
		[]byte(`{"id":"f-1","type":"ping","node_id":"a"}`),
		wrong.Sign([]byte(`{"id":"f-2","type":"ping","node_id":"a"}`)),
		right.Sign([]byte(`{"id":"f-3","type":"ping","node_id":"b"}`)), // replayed from node b's channel
	} {
		r.raw.Publish(ctx, wire.NodeChannel("a"), forged)
	}
	// Forged events, then a signed one: the bus keeps their order, so once
	// the signed one is seen the forged ones were dropped.
	r.raw.Publish(ctx, wire.MasterChannel, []byte(`{"id":"f-4","type":"heartbeat","node_id":"a","payload":{"name":"forged"}}`))
	r.raw.Publish(ctx, wire.MasterChannel, wrong.Sign([]byte(`{"id":"f-5","type":"heartbeat","node_id":"a","payload":{"name":"forged"}}`)))
	r.raw.Publish(ctx, wire.MasterChannel, right.Sign([]byte(`{"id":"ok","type":"heartbeat","node_id":"a","payload":{"name":"real"}}`)))
	if ev := <-r.events; ev.ID != "ok" {
		t.Errorf("the master took the forged event %s", ev.ID)
	}
	// The forged pings came before this signed one, on the same channel.
	if err := r.caller.Call(ctx, "a", wire.OpPing, nil, nil); err != nil {
		t.Fatalf("signed ping: %v", err)
	}
	<-r.served
	select {
	case <-r.served:
		t.Error("a forged ping was served")
	default:
	}
}

// TestSecretMismatch: an agent with another secret serves nothing; the
// master's call fails with its deadline error, not with a forged answer.
func TestSecretMismatch(t *testing.T) {
	r := newSignedRig(t, secret, strings.Repeat("y", 32))
	err := r.caller.Call(context.Background(), "a", wire.OpPing, nil, nil)
	if !errors.Is(err, wire.ErrTimeout) {
		t.Errorf("call to an agent with another secret: %v, want a timeout", err)
	}
	select {
	case <-r.served:
		t.Error("the agent served a request signed with another secret")
	default:
	}
}

// TestReplyOnlyFromNodeCalled: a reply naming another node is ignored,
// with or without a secret, and with a secret so is an unsigned one; the
// call still gets the called node's reply.
func TestReplyOnlyFromNodeCalled(t *testing.T) {
	for _, sec := range []string{"", secret} {
		ctx := context.Background()
		broker := bus.NewMemoryBroker()
		var caller *wire.Caller
		mb := broker.Connect(func(_ string, p []byte) { caller.Handle(p) })
		caller = wire.NewCaller(wire.CallerConfig{Bus: mb, Timeout: 5 * time.Second, Log: quiet(), Signer: signer(t, sec)})
		s := signer(t, sec)
		// A fake node "a": answers each request first as node "b", then as
		// itself with another payload.
		var fake *bus.Memory
		fake = broker.Connect(func(_ string, p []byte) {
			p, _ = s.Open(p)
			var req wire.Envelope
			json.Unmarshal(p, &req)
			if sec != "" {
				// Unsigned, as anyone with access to Redis could send it.
				rep, _ := json.Marshal(wire.Envelope{ID: "r-forged", Type: req.Type, NodeID: "a", Re: req.ID,
					Payload: json.RawMessage(`{"hostname":"forged"}`)})
				fake.Publish(ctx, wire.MasterChannel, rep)
			}
			for _, from := range []string{"b", "a"} {
				rep, _ := json.Marshal(wire.Envelope{ID: "r-" + from, Type: req.Type, NodeID: from, Re: req.ID,
					Payload: json.RawMessage(`{"hostname":"` + from + `"}`)})
				fake.Publish(ctx, wire.MasterChannel, s.Sign(rep))
			}
		})
		mb.Subscribe(ctx, wire.MasterChannel)
		fake.Subscribe(ctx, wire.NodeChannel("a"))
		var si wire.SysInfo
		err := caller.Call(ctx, "a", wire.OpGetSysinfo, nil, &si)
		if err != nil || si.Hostname != "a" {
			t.Errorf("secret %q: call to a = %+v, %v; want node a's reply", sec, si, err)
		}
		mb.Close()
		fake.Close()
	}
}

// BenchmarkSignOpen is the cost of the signature per message: one Sign
// by the sender and one Open by a receiver, for an envelope of the size
// of a heartbeat and for a log batch of 100 lines.
func BenchmarkSignOpen(b *testing.B) {
	s := signer(b, secret)
	lines := make([]string, 100)
	for i := range lines {
		lines[i] = strings.Repeat("x", 80)
	}
	batch, _ := json.Marshal(wire.LogBatch{TaskID: "0123456789abcdef01234567", From: 1000, Lines: lines, Total: 1100})
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"heartbeat", []byte(`{"id":"3f2a9c0b11de-1a","type":"heartbeat","node_id":"0123456789abcdef01234567","payload":{"name":"worker-1","at":"2026-12-03T19:00:00Z"}}`)},
		{"log-100-lines", batch},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.msg)))
			b.ReportAllocs()
			buf := make([]byte, 0, len(c.msg)+128)
			for b.Loop() {
				signed := s.Sign(append(buf[:0], c.msg...))
				if _, err := s.Open(signed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
