package server

import (
	"net"
	"net/http"
)

// clientAddr is the address a request came from (an IP, no port): the
// connection's peer. Everything that keeps accounts by address uses it:
// the sign-in throttle, a principal's address.
func (s *Server) clientAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}
