package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/internal/testenv"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store/mongo"
)

// TestStoreUnavailable: with the store frozen (FerretDB stopped with
// SIGSTOP, so its connections hang rather than fail), /readyz answers 503
// within a second, and 200 again once the store is back.
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
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the store up: %d, want 200", code)
	}

	f.Pause()
	code, took := readyz()
	if code != http.StatusServiceUnavailable || took > 1500*time.Millisecond {
		t.Fatalf("/readyz with the store frozen: %d after %v, want 503 within 1 s", code, took)
	}

	f.Resume()
	if code, _ := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the store back: %d, want 200", code)
	}
}
