package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/bench"
	"github.com/crawlhub/crawlhub/wsapi"
)

// rpcLoop is a script calling the JSON-RPC API: a call every 500 ms, one
// of the reads a dashboard page or a monitoring script makes, on a
// connection it opens again every two minutes (on the other master).
func (l *load) rpcLoop(ctx context.Context, i int) {
	rng := rand.New(rand.NewPCG(uint64(1000+i), uint64(time.Now().UnixNano())))
	var conn *client.Conn
	var opened time.Time
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	every(ctx, 500*time.Millisecond, func() {
		if ctx.Err() != nil {
			return
		}
		if conn != nil && (time.Since(opened) > 2*time.Minute || isDone(conn.Done())) {
			conn.Close()
			conn = nil
		}
		if conn == nil {
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			c, err := client.Dial(dctx, l.master().Base, bench.Token)
			cancel()
			if err != nil {
				l.rpcFailed(ctx, "dial", err)
				return
			}
			conn, opened = c, time.Now()
		}
		method, params := l.rpcCall(rng)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var out json.RawMessage
		err := conn.Call(cctx, method, params, &out)
		cancel()
		if err != nil {
			l.rpcFailed(ctx, method, err)
			return
		}
		l.rpcCalls.Add(1)
	})
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// rpcFailed counts a failed call, unless it failed because the load ended.
func (l *load) rpcFailed(ctx context.Context, method string, err error) {
	if ctx.Err() != nil {
		return
	}
	l.rpcCalls.Add(1)
	l.rpcErrs.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rpcSample) < 5 {
		l.rpcSample = append(l.rpcSample, fmt.Sprintf("%s: %v", method, err))
	}
}

// rpcCall picks a call.
func (l *load) rpcCall(rng *rand.Rand) (string, any) {
	switch rng.IntN(6) {
	case 0:
		return wsapi.MethodNodeSysinfo, map[string]any{"node_id": l.c.nodeIDs[rng.IntN(len(l.c.nodeIDs))]}
	case 1:
		return wsapi.MethodNodesList, map[string]any{}
	case 2:
		return wsapi.MethodTasksList, map[string]any{"filter": map[string]any{"limit": 50}}
	case 3:
		return wsapi.MethodTasksList, map[string]any{"filter": map[string]any{"status": "running", "limit": 50}}
	case 4:
		return wsapi.MethodSpidersList, map[string]any{}
	default:
		// One of the last tasks, as a person opens a recent task's page.
		l.mu.Lock()
		var id string
		if n := len(l.tasks); n > 0 {
			id = l.tasks[n-1-rng.IntN(min(n, 20))].id
		}
		l.mu.Unlock()
		if id == "" {
			return wsapi.MethodNodesList, map[string]any{}
		}
		return wsapi.MethodTaskLog, map[string]any{"task_id": id, "from": 0, "limit": 100}
	}
}

// cancel cancels a task through REST or JSON-RPC. A task an agent is
// starting answers "conflict: cancel it again in a moment", and a user
// does: so does cancel, for up to 30 s.
func (l *load) cancel(ctx context.Context, id string, viaRPC bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := l.cancelOnce(ctx, id, viaRPC)
		var rpcErr *client.Error
		conflict := (errors.As(err, &rpcErr) && rpcErr.Code == wsapi.CodeConflict) || (err != nil && strings.Contains(err.Error(), "HTTP 409"))
		if !conflict || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (l *load) cancelOnce(ctx context.Context, id string, viaRPC bool) error {
	m := l.master()
	if !viaRPC {
		return m.API(ctx, "POST", "/api/tasks/"+id+"/cancel", map[string]any{}, nil)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := client.Dial(dctx, m.Base, bench.Token)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Call(dctx, wsapi.MethodTaskCancel, map[string]any{"task_id": id, "reason": "soak"}, nil)
}
