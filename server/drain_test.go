package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crawlhub/crawlhub/bus"
	"github.com/crawlhub/crawlhub/client"
	"github.com/crawlhub/crawlhub/server"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/wsapi"
)

// TestDrain: a master whose context ends (SIGTERM) closes its WebSockets
// with 1012, answers /readyz and new WebSockets with 503 "draining" for
// its DrainDelay, then stops accepting connections but finishes the
// request in flight (an upload still arriving) before Run returns.
func TestDrain(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	broker := bus.NewMemoryBroker()
	srv, err := server.New(server.Config{Listen: "127.0.0.1:0", Token: token, Dist: dist, DrainDelay: time.Second,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, st,
		func(h bus.Handler) (bus.Bus, error) { return broker.Connect(h), nil })
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan error, 1)
	go func() { ran <- srv.Run(ctx) }()
	base := "http://" + srv.Addr()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	defer hc.CloseIdleConnections()

	ws, err := client.Dial(ctx, base, token)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()

	// An upload whose body is still arriving when the master stops.
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	uploaded := make(chan int, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/api/spiders", pr)
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := hc.Do(req)
		if err != nil {
			t.Error(err)
			uploaded <- 0
			return
		}
		resp.Body.Close()
		uploaded <- resp.StatusCode
	})
	defer wg.Wait()
	mw.WriteField("name", "late")
	mw.WriteField("command", "sh run.sh")

	cancel() // as SIGTERM does
	select {
	case <-ws.Done():
	case <-time.After(wait):
		t.Fatal("the WebSocket stayed open")
	}
	var ce *websocket.CloseError
	if !errors.As(ws.Err(), &ce) || ce.Code != wsapi.CloseServiceRestart || !strings.Contains(ce.Text, "another master") {
		t.Errorf("WebSocket closed with %v, want 1012 saying to use another master", ws.Err())
	}
	resp, err := hc.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "draining") {
		t.Errorf("/readyz while draining: %d %s, want 503 draining", resp.StatusCode, body)
	}
	if _, err := client.Dial(context.Background(), base, token); err == nil || !strings.Contains(err.Error(), "draining") {
		t.Errorf("a new WebSocket while draining: %v, want refused as draining", err)
	}
	// After DrainDelay the listener closes; the upload still finishes.
	for {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(50 * time.Millisecond) // the listener closes on its own clock
	}
	fw, _ := mw.CreateFormFile("file", "late.zip")
	fw.Write(zipOf("echo late\n"))
	mw.Close()
	pw.Close()
	if code := <-uploaded; code != http.StatusCreated {
		t.Errorf("upload in flight at the stop: %d, want 201", code)
	}
	if err := <-ran; err != nil {
		t.Errorf("Run after the drain: %v", err)
	}
}
