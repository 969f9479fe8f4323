package server

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/labstack/echo/v4"
)

// The client address comes from X-Forwarded-For only when the peer is a
// trusted proxy, and then it is the first address, from the right, that
// is not one: what the client itself wrote further left is ignored.
func TestClientAddr(t *testing.T) {
	proxies, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		xff     string
		want    string
	}{
		{"no proxy, no header", nil, "198.51.100.7:5000", "", "198.51.100.7"},
		{"no trusted proxy: the header is ignored", nil, "198.51.100.7:5000", "203.0.113.9", "198.51.100.7"},
		{"loopback is not trusted unless listed", nil, "127.0.0.1:5000", "203.0.113.9", "127.0.0.1"},
		{"private ranges are not trusted unless listed", proxies, "172.16.0.1:5000", "203.0.113.9", "172.16.0.1"},
		{"untrusted peer", proxies, "198.51.100.7:5000", "203.0.113.9", "198.51.100.7"},
		{"trusted range", proxies, "10.1.2.3:5000", "203.0.113.9", "203.0.113.9"},
		{"trusted address", proxies, "192.168.1.5:5000", "203.0.113.9", "203.0.113.9"},
		{"a chain of trusted proxies", proxies, "10.0.0.1:5000", "203.0.113.9, 10.0.0.5", "203.0.113.9"},
		{"a spoofed address left of the client's", proxies, "10.0.0.1:5000", "6.6.6.6, 203.0.113.9", "203.0.113.9"},
		{"IPv6", []netip.Prefix{netip.MustParsePrefix("::1/128")}, "[::1]:5000", "2001:db8::7", "2001:db8::7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{cfg: Config{TrustedProxies: tc.trusted}}
			s.echo = echo.New()
			s.harden(s.echo)
			r, _ := http.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := s.clientAddr(r); got != tc.want {
				t.Errorf("peer %s, X-Forwarded-For %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8,192.168.1.5 ,, ::1, 10.1.2.3/8")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.168.1.5/32", "::1/128", "10.0.0.0/8"}
	if len(got) != len(want) {
		t.Fatalf("%v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("%d: %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/8, proxy.example"); err == nil {
		t.Error("a host name was taken for an address")
	}
}
