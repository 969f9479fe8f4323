package alerts

import "testing"

// Port 465 means TLS from the first byte unless the mode says otherwise.
func TestImplicitTLS(t *testing.T) {
	for _, c := range []struct {
		addr, mode string
		want       bool
	}{
		{"smtp.example.com:465", "", true},
		{"smtp.example.com:465", TLSAuto, true},
		{"smtp.example.com:587", TLSAuto, false},
		{"smtp.example.com:25", "", false},
		{"smtp.example.com:2465", TLSImplicit, true},
		{"smtp.example.com:465", TLSStartTLS, false},
	} {
		if got := (SMTP{Addr: c.addr, TLS: c.mode}).implicitTLS(); got != c.want {
			t.Errorf("%s in mode %q: implicit TLS %v, want %v", c.addr, c.mode, got, c.want)
		}
	}
}
