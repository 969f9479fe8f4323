package server

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// metrics serves a few gauges and counters in the Prometheus text format.
// A handful of values does not need a client library.
func (s *Server) metrics(c echo.Context) error {
	st := s.hub.Stats()
	s.mu.Lock()
	online := 0
	cutoff := time.Now().Add(-s.offlineAfter())
	for _, last := range s.lastBeat {
		if last.After(cutoff) {
			online++
		}
	}
	s.mu.Unlock()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var b strings.Builder
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	metric("crawlhub_ws_clients", "gauge", "WebSocket clients connected to this master.", st.Clients)
	metric("crawlhub_ws_slow_disconnects_total", "counter", "WebSocket clients closed with 4008 for not keeping up.", st.SlowDisconnects)
	metric("crawlhub_nodes_online", "gauge", "Nodes whose heartbeats this master hears.", online)
	metric("go_goroutines", "gauge", "Goroutines of this process.", runtime.NumGoroutine())
	metric("go_memstats_heap_inuse_bytes", "gauge", "Heap bytes in use.", ms.HeapInuse)
	c.Response().Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	return c.String(http.StatusOK, b.String())
}
