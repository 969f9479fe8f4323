package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/internal/bench"
)

// An agent with --metrics-listen serves its goroutines, memory and open
// files while it runs, and the listener ends with the agent.
func TestAgentMetricsListen(t *testing.T) {
	port, err := bench.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- runWithMetrics(ctx, addr, func(ctx context.Context) error {
			close(running)
			<-ctx.Done()
			return nil
		})
	}()
	<-running
	var body string
	// The listener is bound before the agent starts: the first GET answers.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body = string(b)
	for _, m := range []string{"go_goroutines ", "process_resident_memory_bytes ", "process_open_fds "} {
		if !strings.Contains(body, "\n"+m) {
			t.Errorf("/metrics has no %q:\n%.500s", m, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("runWithMetrics: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("the metrics listener outlived the agent")
	}

	// An agent that fails takes the listener down and its error is returned.
	boom := errors.New("boom")
	if err := runWithMetrics(context.Background(), addr, func(context.Context) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("runWithMetrics = %v, want the agent's error", err)
	}
}
