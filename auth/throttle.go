package auth

import (
	"sync"
	"time"
)

// ThrottleConfig configures a Throttle. Zero values mean the documented
// default.
type ThrottleConfig struct {
	// Limit is how many failures within Window lock a key out. Zero
	// means 5.
	Limit int
	// Window is how long a failure counts. Zero means 15 minutes. A key
	// without a failure for a whole Window starts afresh.
	Window time.Duration
	// Lockout is the first lockout; each further failure while the count
	// is at Limit doubles it. Zero means 1 minute.
	Lockout time.Duration
	// MaxLockout caps the lockout. Zero means 1 hour.
	MaxLockout time.Duration
	// MaxKeys bounds the keys remembered, so a flood of made-up usernames
	// cannot grow the map without end: past it, keys with no failure in
	// the last Window are forgotten, and if that is not enough a new key
	// is not tracked (the per-address throttle still is). Zero means
	// 100,000.
	MaxKeys int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Throttle counts failed sign-ins per key (a username, an address) and
// locks a key out for a growing time once it has failed too often: after
// Limit failures within Window, each further failure locks it for
// Lockout, 2×Lockout, 4×Lockout … up to MaxLockout. It lives in memory:
// each master counts what it sees. Safe for concurrent use.
type Throttle struct {
	cfg  ThrottleConfig
	mu   sync.Mutex
	keys map[string]*strikes
}

type strikes struct {
	fails  []time.Time // within Window, oldest first
	locks  int         // lockouts since the key last started afresh
	until  time.Time   // locked out until then
	latest time.Time
}

// NewThrottle returns a Throttle.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Limit <= 0 {
		cfg.Limit = 5
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.Lockout <= 0 {
		cfg.Lockout = time.Minute
	}
	if cfg.MaxLockout <= 0 {
		cfg.MaxLockout = time.Hour
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Throttle{cfg: cfg, keys: map[string]*strikes{}}
}

// Wait is how long key must wait before its next attempt: 0 when it may
// try now.
func (t *Throttle) Wait(key string) time.Duration {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.keys[key]
	if s == nil || !now.Before(s.until) {
		return 0
	}
	return s.until.Sub(now)
}

// Fail records a failed attempt of key and returns how long it must now
// wait (0 while it is under the limit).
func (t *Throttle) Fail(key string) time.Duration {
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.keys[key]
	if s == nil {
		if len(t.keys) >= t.cfg.MaxKeys {
			t.sweep(now)
			if len(t.keys) >= t.cfg.MaxKeys {
				return 0
			}
		}
		s = &strikes{}
		t.keys[key] = s
	}
	if now.Sub(s.latest) >= t.cfg.Window {
		*s = strikes{} // quiet for a whole window: afresh
	}
	s.latest = now
	cut := 0
	for cut < len(s.fails) && now.Sub(s.fails[cut]) >= t.cfg.Window {
		cut++
	}
	s.fails = append(s.fails[cut:], now)
	if len(s.fails) < t.cfg.Limit {
		return 0
	}
	// Keep the count at the limit: the window's memory is what locks,
	// not how many came before.
	s.fails = s.fails[len(s.fails)-t.cfg.Limit:]
	d := t.cfg.Lockout << min(s.locks, 30)
	if d <= 0 || d > t.cfg.MaxLockout {
		d = t.cfg.MaxLockout
	}
	s.locks++
	s.until = now.Add(d)
	return d
}

// Succeed forgets key's failures: the person behind it proved who they
// are.
func (t *Throttle) Succeed(key string) {
	t.mu.Lock()
	delete(t.keys, key)
	t.mu.Unlock()
}

// sweep forgets keys with no failure for a whole window and no lockout
// running. Called with mu held.
func (t *Throttle) sweep(now time.Time) {
	for k, s := range t.keys {
		if now.Sub(s.latest) >= t.cfg.Window && !now.Before(s.until) {
			delete(t.keys, k)
		}
	}
}
