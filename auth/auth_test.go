package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
)

func TestRoles(t *testing.T) {
	cases := []struct {
		role, need string
		ok         bool
	}{
		{auth.Admin, auth.Admin, true},
		{auth.Admin, auth.Viewer, true},
		{auth.Operator, auth.Operator, true},
		{auth.Operator, auth.Admin, false},
		{auth.Viewer, auth.Operator, false},
		{auth.Viewer, auth.Viewer, true},
		{"", auth.Viewer, false},
		{auth.Admin, "", false}, // a need that is no role allows nobody
		{"root", auth.Viewer, false},
	}
	for _, c := range cases {
		if got := auth.Allows(c.role, c.need); got != c.ok {
			t.Errorf("Allows(%q, %q) = %v, want %v", c.role, c.need, got, c.ok)
		}
	}
	if auth.Lower(auth.Admin, auth.Viewer) != auth.Viewer || auth.Lower(auth.Operator, auth.Admin) != auth.Operator {
		t.Error("Lower does not pick the less powerful role")
	}
	if auth.Lower("bogus", auth.Admin) != "" {
		t.Error("Lower of an unknown role must be no role")
	}
}

func TestPrincipalContext(t *testing.T) {
	if _, ok := auth.FromContext(context.Background()); ok {
		t.Fatal("an empty context carries a principal")
	}
	p := auth.Principal{Username: "alice", Role: auth.Operator, Kind: auth.KindToken, TokenName: "ci"}
	got, ok := auth.FromContext(auth.NewContext(context.Background(), p))
	if !ok || got != p {
		t.Fatalf("FromContext = %+v, %v", got, ok)
	}
	if got.Actor() != "alice (token ci)" {
		t.Errorf("Actor = %q", got.Actor())
	}
}

func TestPassword(t *testing.T) {
	h, err := auth.HashPassword("correct horse", auth.TestParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(h, "$") != 5 {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if err := auth.CheckPassword(h, "correct horse"); err != nil {
		t.Fatalf("the right password: %v", err)
	}
	if err := auth.CheckPassword(h, "correct horsE"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("a wrong password: %v, want ErrMismatch", err)
	}
	h2, _ := auth.HashPassword("correct horse", auth.TestParams)
	if h == h2 {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if err := auth.CheckPassword(bad, "x"); err == nil || errors.Is(err, auth.ErrMismatch) {
			t.Errorf("CheckPassword(%q) = %v, want a malformed-hash error", bad, err)
		}
	}
	if err := auth.CheckNoPassword("x"); !errors.Is(err, auth.ErrMismatch) {
		t.Errorf("CheckNoPassword = %v", err)
	}
}

func TestDefaultParamsHash(t *testing.T) {
	h, err := auth.HashPassword("pw", auth.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("zero Params did not use the defaults: %q", h)
	}
	if err := auth.CheckPassword(h, "pw"); err != nil {
		t.Fatal(err)
	}
}

func TestSecrets(t *testing.T) {
	a, b := auth.NewSecret(auth.PrefixToken), auth.NewSecret(auth.PrefixToken)
	if a == b || !strings.HasPrefix(a, "chk_") || len(a) != 4+43 {
		t.Fatalf("secrets %q, %q", a, b)
	}
	h := auth.HashSecret(a)
	if len(h) != 64 || h != auth.HashSecret(a) || h == auth.HashSecret(b) {
		t.Fatalf("HashSecret = %q", h)
	}
	// The SHA-256 of "abc", as every implementation has it.
	if auth.HashSecret("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatal("HashSecret is not hex SHA-256")
	}
}

// clock is a settable time for the throttle.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestThrottleLocksAndGrows(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := auth.NewThrottle(auth.ThrottleConfig{Now: clk.Now})
	for i := 1; i <= 4; i++ {
		if d := th.Fail("alice"); d != 0 {
			t.Fatalf("failure %d locked for %v; the limit is 5", i, d)
		}
		clk.add(time.Minute)
	}
	if d := th.Fail("alice"); d != time.Minute {
		t.Fatalf("the 5th failure locked for %v, want 1m", d)
	}
	if w := th.Wait("alice"); w != time.Minute {
		t.Fatalf("Wait = %v, want 1m", w)
	}
	if w := th.Wait("bob"); w != 0 {
		t.Fatalf("another key waits %v", w)
	}
	clk.add(30 * time.Second)
	if w := th.Wait("alice"); w != 30*time.Second {
		t.Fatalf("Wait half-way = %v", w)
	}
	clk.add(30 * time.Second)
	if w := th.Wait("alice"); w != 0 {
		t.Fatalf("still waiting %v after the lockout", w)
	}
	// Each failure after the lockout doubles it.
	for _, want := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
		if d := th.Fail("alice"); d != want {
			t.Fatalf("lockout %v, want %v", d, want)
		}
		clk.add(want)
	}
	// Success forgets everything.
	th.Succeed("alice")
	if d := th.Fail("alice"); d != 0 {
		t.Fatalf("after a success one failure locked for %v", d)
	}
}

func TestThrottleWindowAndCap(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := auth.NewThrottle(auth.ThrottleConfig{Limit: 3, Window: 10 * time.Minute, MaxLockout: 90 * time.Second, Now: clk.Now})
	// Failures spread wider than the window never lock.
	for range 10 {
		if d := th.Fail("slow"); d != 0 {
			t.Fatalf("spread-out failures locked for %v", d)
		}
		clk.add(6 * time.Minute)
	}
	for range 2 {
		th.Fail("fast")
	}
	if d := th.Fail("fast"); d != time.Minute {
		t.Fatalf("lockout %v, want 1m", d)
	}
	clk.add(time.Minute)
	if d := th.Fail("fast"); d != 90*time.Second {
		t.Fatalf("lockout %v, want the 90s cap", d)
	}
	// A whole quiet window: afresh.
	clk.add(11 * time.Minute)
	if d := th.Fail("fast"); d != 0 {
		t.Fatalf("after a quiet window a failure locked for %v", d)
	}
}

func TestThrottleMaxKeys(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	th := auth.NewThrottle(auth.ThrottleConfig{Limit: 1, MaxKeys: 2, Now: clk.Now})
	th.Fail("a")
	th.Fail("b")
	if d := th.Fail("c"); d != 0 || th.Wait("c") != 0 {
		t.Fatal("a key past MaxKeys was tracked")
	}
	if th.Wait("a") == 0 {
		t.Fatal("a tracked key lost its lockout")
	}
	// Once the others are stale they make room.
	clk.add(time.Hour)
	if d := th.Fail("c"); d == 0 {
		t.Fatal("no room made for a new key after the old ones went stale")
	}
}
