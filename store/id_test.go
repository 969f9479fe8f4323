package store_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	before := time.Now().Unix()
	for range 10000 {
		id := store.NewID()
		if !store.ValidID(id) {
			t.Fatalf("NewID gave %q, which ValidID refuses", id)
		}
		if seen[id] {
			t.Fatalf("NewID repeated %q", id)
		}
		seen[id] = true
	}
	// The first 4 bytes are the creation time, as in an ObjectId, so ids
	// sort roughly by age and MongoDB tools show when a record was made.
	b, _ := hex.DecodeString(store.NewID())
	secs := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	if secs < before || secs > time.Now().Unix() {
		t.Errorf("id time %d is not now (%d)", secs, before)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"65a1f0c2e4b0a1b2c3d4e5f6", true},
		{"65A1F0C2E4B0A1B2C3D4E5F6", true},
		{"", false},
		{"65a1f0c2e4b0a1b2c3d4e5f", false},
		{"65a1f0c2e4b0a1b2c3d4e5f6a", false},
		{"65a1f0c2e4b0a1b2c3d4e5fg", false},
		{"../../etc/passwd/aaaaaaa", false},
	} {
		if got := store.ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}
