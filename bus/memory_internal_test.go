package bus

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Expired claims do not pile up: the broker keeps at most about twice the
// live ones (or minSweep), however many were made.
func TestMemoryClaimsSwept(t *testing.T) {
	b := NewMemoryBroker()
	m := b.Connect(func(string, []byte) {})
	defer m.Close()
	ctx := context.Background()
	for i := range 10 * minSweep {
		if ok, err := m.Claim(ctx, fmt.Sprintf("gone:%d", i), time.Nanosecond); !ok || err != nil {
			t.Fatalf("claim %d: %v %v", i, ok, err)
		}
	}
	if n := len(b.claims); n > minSweep {
		t.Fatalf("%d claims kept after 10×%d expired ones, want ≤ %d", n, minSweep, minSweep)
	}
	for i := range 3 * minSweep {
		m.Claim(ctx, fmt.Sprintf("live:%d", i), time.Hour)
	}
	if n := len(b.claims); n < 3*minSweep || n > 6*minSweep {
		t.Fatalf("%d claims kept with %d live, want between them and twice them", n, 3*minSweep)
	}
	if ok, _ := m.Claim(ctx, "live:7", time.Hour); ok {
		t.Fatal("a live claim was swept")
	}
}
