package hub

import (
	"fmt"
	"net"
	"net/http"
	"sync"
)

// The connection caps' defaults. A connection costs a reader goroutine
// and its buffers (tens of KiB) however idle it is, so a bound keeps one
// misbehaving script, or a crowd, from taking a master's memory; the
// per-address bound is generous for a team behind one NAT (a browser tab
// holds one connection) and small beside the total, so one address
// cannot take them all.
const (
	defaultMaxConnections = 10000
	defaultMaxPerAddress  = 100
)

// caps counts the connections admitted and not yet gone.
type caps struct {
	mu      sync.Mutex
	total   int
	perAddr map[string]int
}

func (cfg *Config) capDefaults() error {
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = defaultMaxConnections
	}
	if cfg.MaxPerAddress == 0 {
		cfg.MaxPerAddress = defaultMaxPerAddress
	}
	if cfg.MaxConnections < 0 || cfg.MaxPerAddress < 0 {
		return fmt.Errorf("hub: MaxConnections (%d) and MaxPerAddress (%d) cannot be negative: zero means the default", cfg.MaxConnections, cfg.MaxPerAddress)
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = peerAddr
	}
	return nil
}

// peerAddr is the connection's peer without its port.
func peerAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// admit counts a connection from r's address against the caps before it
// is upgraded, or answers r with why not: 503 when the server has all it
// takes, 429 when the address has. An admitted connection is counted
// until leave.
func (h *Hub) admit(w http.ResponseWriter, r *http.Request) (string, bool) {
	addr := h.cfg.ClientAddr(r)
	h.caps.mu.Lock()
	total, mine := h.caps.total, h.caps.perAddr[addr]
	ok := total < h.cfg.MaxConnections && mine < h.cfg.MaxPerAddress
	if ok {
		h.caps.total++
		h.caps.perAddr[addr]++
	}
	h.caps.mu.Unlock()
	switch {
	case ok:
		return addr, true
	case total >= h.cfg.MaxConnections:
		h.log.Warn("WebSocket refused: the server is at its connection limit", "limit", h.cfg.MaxConnections, "remote", addr)
		w.Header().Set("Retry-After", "30")
		http.Error(w, fmt.Sprintf("this server has %d WebSocket connections open, the most it takes (--max-ws): try again later, or connect to another master", total), http.StatusServiceUnavailable)
	default:
		h.log.Info("WebSocket refused: the address is at its connection limit", "limit", h.cfg.MaxPerAddress, "remote", addr)
		w.Header().Set("Retry-After", "30")
		http.Error(w, fmt.Sprintf("%s has %d WebSocket connections open here, the most one address may (--max-ws-per-address): close some (one per browser tab or script is enough)", addr, mine), http.StatusTooManyRequests)
	}
	return "", false
}

// leave uncounts a connection admit counted.
func (h *Hub) leave(addr string) {
	h.caps.mu.Lock()
	defer h.caps.mu.Unlock()
	h.caps.total--
	if h.caps.perAddr[addr]--; h.caps.perAddr[addr] <= 0 {
		delete(h.caps.perAddr, addr)
	}
}
