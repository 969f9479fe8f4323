package sysinfo

import (
	"net"
	"slices"
)

// PrimaryNetwork returns the IPv4 address and MAC address a node registers
// with: those of the interface carrying the default route if it has a
// hardware address, else of the first up, non-loopback interface with both
// an IPv4 address and a hardware address, else the default-route interface's
// address with an empty MAC (a VPN tunnel, say), else "127.0.0.1" and "".
// The IP and MAC always belong to the same interface.
func PrimaryNetwork() (ip, mac string) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return loopbackIP, ""
	}
	cands := make([]candidate, 0, len(ifaces))
	for _, ifi := range ifaces {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		c := candidate{flags: ifi.Flags, mac: ifi.HardwareAddr}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if v4 := n.IP.To4(); v4 != nil {
					c.ips = append(c.ips, v4)
				}
			}
		}
		cands = append(cands, c)
	}
	return pickPrimary(defaultRouteIP(), cands)
}

const loopbackIP = "127.0.0.1"

// candidate is what pickPrimary needs of one interface, so that the choice
// can be tested without the machine's real interfaces.
type candidate struct {
	flags net.Flags
	mac   net.HardwareAddr
	ips   []net.IP // IPv4 only
}

// defaultRouteIP returns the source address the kernel picks for an
// off-link destination, i.e. the address of the default route's interface,
// or nil without a default route. Connecting a UDP socket only consults the
// routing table and sends nothing, so this works offline and without
// privileges on both Linux and macOS, without parsing route tables. The
// destination is a public address because private and even documentation
// ranges (RFC 5737) turn up as on-link networks of real hosts, which would
// name a local interface instead of the default route's.
func defaultRouteIP() net.IP {
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(8, 8, 8, 8), Port: 53})
	if err != nil {
		return nil
	}
	defer conn.Close()
	addr, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || addr.IP.IsUnspecified() {
		return nil
	}
	return addr.IP.To4()
}

func pickPrimary(routeIP net.IP, cands []candidate) (ip, mac string) {
	usable := func(c candidate) bool {
		return c.flags&net.FlagUp != 0 && c.flags&net.FlagLoopback == 0 && len(c.ips) > 0
	}
	var route *candidate
	if routeIP != nil {
		for i, c := range cands {
			if usable(c) && slices.ContainsFunc(c.ips, routeIP.Equal) {
				route = &cands[i]
				break
			}
		}
	}
	if route != nil && len(route.mac) > 0 {
		return routeIP.String(), route.mac.String()
	}
	for _, c := range cands {
		if usable(c) && len(c.mac) > 0 {
			return c.ips[0].String(), c.mac.String()
		}
	}
	if route != nil {
		return routeIP.String(), ""
	}
	return loopbackIP, ""
}
