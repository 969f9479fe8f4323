package store

import (
	"testing"
	"time"
)

func TestCredentialExpired(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expires time.Time
		want    bool
	}{
		{time.Time{}, false}, // no expiry
		{now.Add(time.Millisecond), false},
		{now, true}, // not after now
		{now.Add(-time.Hour), true},
	} {
		c := Credential{Expires: tc.expires}
		if got := c.Expired(now); got != tc.want {
			t.Errorf("Expires %v: Expired(%v) = %v, want %v", tc.expires, now, got, tc.want)
		}
	}
}
