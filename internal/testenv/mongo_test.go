package testenv

import (
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUniqueDB(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,63}$`) // FerretDB v1's rule, stricter than MongoDB's
	a, b := UniqueDB(t), UniqueDB(t)
	if a == b {
		t.Errorf("UniqueDB returned %q twice", a)
	}
	t.Run(strings.Repeat("long/subtest name ", 5), func(t *testing.T) {
		for _, name := range []string{a, b, UniqueDB(t)} {
			if !valid.MatchString(name) {
				t.Errorf("UniqueDB = %q: not a valid database name", name)
			}
		}
	})
}

// TestFerretStart checks the private FerretDB: it accepts connections, and
// it is gone once the test that started it has ended.
func TestFerretStart(t *testing.T) {
	bin := os.Getenv(FerretDBBinEnv)
	if bin == "" {
		t.Skipf("%s is not set: nothing to start", FerretDBBinEnv)
	}
	var host string
	t.Run("start", func(t *testing.T) {
		u, err := url.Parse(ferretStart(t, bin))
		if err != nil {
			t.Fatal(err)
		}
		host = u.Host
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		c.Close()
	})
	if host == "" {
		return
	}
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Errorf("FerretDB on %s still accepts connections after its test ended", host)
	}
}

// TestFerretRestart checks that a stopped FerretDB refuses connections and
// comes back on the same URI.
func TestFerretRestart(t *testing.T) {
	if os.Getenv(FerretDBBinEnv) == "" {
		t.Skipf("%s is not set: nothing to start", FerretDBBinEnv)
	}
	f := StartFerret(t)
	u, err := url.Parse(f.URI)
	if err != nil {
		t.Fatal(err)
	}
	first := f.URI
	f.Stop()
	if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
		c.Close()
		t.Fatalf("a stopped FerretDB on %s accepts connections", u.Host)
	}
	f.Start()
	if f.URI != first {
		t.Errorf("restarted on %s, want %s", f.URI, first)
	}
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s after the restart: %v", u.Host, err)
	}
	c.Close()
}
