package wire_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/wire"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rig wires one Caller and two Responders through an in-process bus.
type rig struct {
	caller *wire.Caller
	agents map[string]*wire.Responder
	// release holds every ping until closed: the rig's slow operation.
	release chan struct{}
}

// testNode answers system info with its id and holds pings until release
// is closed.
type testNode struct {
	id      string
	release chan struct{}
}

func (n testNode) Ping(ctx context.Context) error {
	select {
	case <-n.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (n testNode) SysInfo(context.Context) (wire.SysInfo, error) {
	return wire.SysInfo{Hostname: n.id}, nil
}
func (n testNode) GetLog(_ context.Context, req wire.GetLog) (wire.LogBatch, error) {
	if req.TaskID == "" {
		return wire.LogBatch{}, errors.New("which task? task_id is empty")
	}
	return wire.LogBatch{TaskID: req.TaskID, From: req.From, Lines: []string{n.id}, Total: req.From + 1}, nil
}
func (n testNode) GetItems(_ context.Context, req wire.GetItems) (wire.ItemBatch, error) {
	item, _ := json.Marshal(map[string]string{"node": n.id})
	return wire.ItemBatch{TaskID: req.TaskID, From: req.From, Items: []json.RawMessage{item}, Total: req.From + 1}, nil
}
func (n testNode) SearchLog(_ context.Context, req wire.SearchLog) (wire.LogSearch, error) {
	return wire.LogSearch{TaskID: req.TaskID, Matches: []wire.LogMatch{{Line: 3, Text: n.id}}, Count: 1, Next: -1, Total: 4}, nil
}
func (testNode) CancelTask(context.Context, wire.CancelTask) error       { return nil }
func (testNode) SyncSpider(context.Context, wire.SyncSpider) error       { return nil }
func (testNode) TaskAvailable(context.Context, wire.TaskAvailable) error { return nil }

func newRig(t *testing.T, live func(context.Context, string) error, timeout time.Duration, opts ...func(*wire.CallerConfig)) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	hub := bus.NewMemoryBroker()
	r := &rig{agents: map[string]*wire.Responder{}, release: make(chan struct{})}
	mb := hub.Connect(func(_ string, p []byte) { r.caller.Handle(p) })
	cfg := wire.CallerConfig{Bus: mb, Live: live, Timeout: timeout, Log: quiet()}
	for _, o := range opts {
		o(&cfg)
	}
	r.caller = wire.NewCaller(cfg)
	if err := mb.Subscribe(ctx, wire.MasterChannel); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b"} {
		var resp *wire.Responder
		ab := hub.Connect(func(_ string, p []byte) { resp.Handle(p) })
		resp = wire.NewResponder(wire.ResponderConfig{NodeID: id, Bus: ab, Log: quiet()}, testNode{id: id, release: r.release})
		if err := ab.Subscribe(ctx, wire.NodeChannel(id)); err != nil {
			t.Fatal(err)
		}
		r.agents[id] = resp
		wg.Go(func() { resp.Run(ctx) })
		t.Cleanup(func() { ab.Close() })
	}
	t.Cleanup(func() {
		select {
		case <-r.release:
		default:
			close(r.release)
		}
		cancel()
		wg.Wait()
		mb.Close()
	})
	return r
}

func TestCallsMatchTheirReplies(t *testing.T) {
	r := newRig(t, nil, 5*time.Second)
	var wg sync.WaitGroup
	for i := range 1000 {
		node := []string{"a", "b"}[i%2]
		wg.Go(func() {
			var si wire.SysInfo
			if err := r.caller.Call(context.Background(), node, wire.OpGetSysinfo, nil, &si); err != nil {
				t.Error(err)
				return
			}
			if si.Hostname != node {
				t.Errorf("call to %s answered by %s", node, si.Hostname)
			}
		})
	}
	wg.Wait()
}

func TestOfflineFailsFast(t *testing.T) {
	off := &wire.OfflineError{NodeID: "b", Name: "bee", LastSeen: time.Now().Add(-42 * time.Second)}
	r := newRig(t, func(_ context.Context, id string) error {
		if id == "b" {
			return off
		}
		return nil
	}, 5*time.Second)
	start := time.Now()
	err := r.caller.Call(context.Background(), "b", wire.OpGetSysinfo, nil, nil)
	if !errors.Is(err, wire.ErrNodeOffline) {
		t.Fatalf("err = %v, want offline", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("offline call took %v", took)
	}
	if want := "node bee (b) is offline, last seen 42 s ago"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
}

func TestDeadlineAndLateReply(t *testing.T) {
	r := newRig(t, nil, 200*time.Millisecond)
	err := r.caller.Call(context.Background(), "a", wire.OpPing, nil, nil)
	if !errors.Is(err, wire.ErrTimeout) {
		t.Fatalf("err = %v, want timeout", err)
	}
	// Let the late reply go out; the next call must get its own answer.
	close(r.release)
	for range 20 {
		var si wire.SysInfo
		if err := r.caller.Call(context.Background(), "a", wire.OpGetSysinfo, nil, &si); err != nil || si.Hostname != "a" {
			t.Fatalf("after late reply: %v %q", err, si.Hostname)
		}
	}
}

func TestUnknownOperationAnswersWithError(t *testing.T) {
	r := newRig(t, nil, 5*time.Second)
	err := r.caller.Call(context.Background(), "a", "no_such_op", nil, nil)
	var re *wire.RemoteError
	if !errors.As(err, &re) || re.Msg != `unknown operation "no_such_op"` {
		t.Fatalf("err = %v", err)
	}
}

// The typed table decodes each request into its payload type: a reply
// carries the node's answer, and a payload of the wrong shape is answered
// with an error naming the operation.
func TestRequestPayloadsDecoded(t *testing.T) {
	r := newRig(t, nil, 5*time.Second)
	var got wire.LogBatch
	if err := r.caller.Call(context.Background(), "b", wire.OpGetLog, wire.GetLog{TaskID: "t1", From: 7, Limit: 10}, &got); err != nil {
		t.Fatal(err)
	}
	if got.TaskID != "t1" || got.From != 7 || fmt.Sprint(got.Lines) != "[b]" || got.Total != 8 {
		t.Fatalf("get_log reply = %+v", got)
	}
	var items wire.ItemBatch
	if err := r.caller.Call(context.Background(), "b", wire.OpGetItems, wire.GetItems{TaskID: "t1", From: 3, Limit: 10}, &items); err != nil {
		t.Fatal(err)
	}
	if items.TaskID != "t1" || items.From != 3 || len(items.Items) != 1 || string(items.Items[0]) != `{"node":"b"}` || items.Total != 4 {
		t.Fatalf("get_items reply = %+v", items)
	}
	var found wire.LogSearch
	if err := r.caller.Call(context.Background(), "b", wire.OpSearchLog, wire.SearchLog{TaskID: "t1", Q: "x"}, &found); err != nil {
		t.Fatal(err)
	}
	if found.TaskID != "t1" || len(found.Matches) != 1 || found.Matches[0].Text != "b" || found.Count != 1 || found.Next != -1 {
		t.Fatalf("search_log reply = %+v", found)
	}
	var re *wire.RemoteError
	err := r.caller.Call(context.Background(), "b", wire.OpGetLog, map[string]any{"task_id": 5}, nil)
	if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, "bad get_log payload: ") {
		t.Fatalf("get_log with a number for task_id: err = %v", err)
	}
	err = r.caller.Call(context.Background(), "b", wire.OpGetLog, wire.GetLog{}, nil)
	if !errors.As(err, &re) || re.Msg != "which task? task_id is empty" {
		t.Fatalf("the node's error is not the reply's: err = %v", err)
	}
}

func TestMalformedAndUnknownEventsDropped(t *testing.T) {
	var events []string
	c := wire.NewCaller(wire.CallerConfig{Bus: nopBus{}, Log: quiet(), Event: func(e *wire.Envelope) { events = append(events, e.Type) }})
	c.Handle([]byte("not json"))
	c.Handle([]byte(`{"id":"1","type":"bogus"}`))
	c.Handle([]byte(`{"id":"2","type":"get_sysinfo","re":"nobody"}`))
	c.Handle([]byte(`{"id":"3","type":"heartbeat","node_id":"a"}`))
	if fmt.Sprint(events) != "[heartbeat]" {
		t.Fatalf("events = %v", events)
	}
}

type nopBus struct{}

func (nopBus) Publish(context.Context, string, []byte) error { return nil }
