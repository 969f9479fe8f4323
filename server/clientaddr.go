package server

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/labstack/echo/v4"
)

// ParseTrustedProxies reads a comma-separated list of proxies' addresses
// or CIDR ranges ("10.0.0.0/8, 192.168.1.5"), as --trusted-proxies takes
// them. An empty list trusts no proxy.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for v := range strings.SplitSeq(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if p, err := netip.ParsePrefix(v); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR range (e.g. 10.0.0.0/8 or 192.168.1.5)", v)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// ipExtractor finds a request's client address: the connection's peer,
// unless that peer is one of the trusted proxies, in which case
// X-Forwarded-For is read from the right, past every trusted proxy, to
// the first address that is not one. Nothing is trusted by default, not
// even loopback or private ranges: a proxy on the same host must be
// listed (127.0.0.1) like any other, or anyone reaching the server
// directly could name any address they like.
func ipExtractor(trusted []netip.Prefix) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// clientAddr is the address a request came from (an IP, no port), as
// --trusted-proxies lets the server see it. Everything that keeps
// accounts by address uses it: the sign-in throttle, a principal's
// address, the WebSocket connection caps.
func (s *Server) clientAddr(r *http.Request) string {
	return s.echo.IPExtractor(r)
}
