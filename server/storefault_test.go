package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store/mongo"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestStoreUnavailable: with the store frozen (FerretDB stopped with
// SIGSTOP, so its connections hang rather than fail), /readyz answers 503
// within a second, and a REST or JSON-RPC call that needs the store
// answers store_unavailable (503, -32011) within its 2 s deadline instead
// of hanging; all work again once the store is back. The bounds are what
// a person waiting notices, with room for a loaded machine.
func TestStoreUnavailable(t *testing.T) {
	f := testenv.StartFerret(t)
	ctx, cancel := context.WithCancel(context.Background())
	db := testenv.UniqueDB(t)
	st, err := mongo.Open(ctx, f.URI+db, db)
	if err != nil {
		t.Fatal(err)
	}
	broker := bus.NewMemoryBroker()
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Dist: dist,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st,
		func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { srv.Run(ctx) })
	hc := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	t.Cleanup(func() {
		f.Resume()
		cancel()
		wg.Wait()
		st.Close(context.Background())
		hc.CloseIdleConnections()
	})
	readyz := func() (int, time.Duration) {
		t.Helper()
		start := time.Now()
		resp, err := hc.Get("http://" + srv.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, time.Since(start)
	}
	tasks := func() (int, string, time.Duration) {
		t.Helper()
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/api/tasks", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Code string `json:"code"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Code, time.Since(start)
	}
	// The WebSocket opens while the store is up: who it acts as is
	// checked against the store at the upgrade.
	ws, err := client.Dial(ctx, "http://"+srv.Addr(), token)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	rpcTasks := func() (time.Duration, error) {
		t.Helper()
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		err := ws.Call(cctx, wsapi.MethodTasksList, map[string]any{}, &json.RawMessage{})
		return time.Since(start), err
	}
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the store up: %d, want 200", code)
	}
	if code, _, _ := tasks(); code != http.StatusOK {
		t.Fatalf("GET /api/tasks with the store up: %d, want 200", code)
	}
	if _, err := rpcTasks(); err != nil {
		t.Fatalf("tasks.list with the store up: %v", err)
	}

	f.Pause()
	code, took := readyz()
	if code != http.StatusServiceUnavailable || took > 1500*time.Millisecond {
		t.Fatalf("/readyz with the store frozen: %d after %v, want 503 within 1 s", code, took)
	}
	if code, errCode, took := tasks(); code != http.StatusServiceUnavailable || errCode != "store_unavailable" || took > 2500*time.Millisecond {
		t.Errorf("GET /api/tasks with the store frozen: %d %q after %v, want 503 store_unavailable within 2 s", code, errCode, took)
	}
	var rpcErr *wsapi.Error
	if took, err := rpcTasks(); !errors.As(err, &rpcErr) || rpcErr.Code != wsapi.CodeStoreUnavailable || took > 2500*time.Millisecond {
		t.Errorf("tasks.list with the store frozen: %v after %v, want code %d within 2 s", err, took, wsapi.CodeStoreUnavailable)
	}

	f.Resume()
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the store back: %d, want 200", code)
	}
	if code, errCode, _ := tasks(); code != http.StatusOK {
		t.Errorf("GET /api/tasks with the store back: %d %s, want 200", code, errCode)
	}
	if _, err := rpcTasks(); err != nil {
		t.Errorf("tasks.list with the store back: %v", err)
	}
}
