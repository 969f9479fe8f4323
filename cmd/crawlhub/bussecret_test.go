package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterSecretRequired: a master or an agent without a cluster secret
// does not start, and says what to pass; the secret comes from the flag,
// the environment or a file, and --insecure-bus runs without one.
func TestClusterSecretRequired(t *testing.T) {
	t.Setenv("CRAWLHUB_CLUSTER_SECRET", "")
	os.Unsetenv("CRAWLHUB_CLUSTER_SECRET")
	for _, cmd := range []string{"server", "agent"} {
		err := run(context.Background(), []string{cmd, "--redis", "redis://127.0.0.1:1/0", "--mongo", "mongodb://127.0.0.1:1/x"})
		if err == nil || !strings.Contains(err.Error(), "--cluster-secret") || !strings.Contains(err.Error(), "--insecure-bus") {
			t.Errorf("crawlhub %s without a secret: %v; want an error naming --cluster-secret and --insecure-bus", cmd, err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	file := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(file, []byte("  from-the-file-0123456789\n"), 0o600)
	for _, tc := range []struct {
		f    busFlags
		want string
		err  string
	}{
		{busFlags{secret: "from-the-flag-0123456789"}, "from-the-flag-0123456789", ""},
		{busFlags{secretFile: file}, "from-the-file-0123456789", ""},
		{busFlags{insecure: true}, "", ""},
		{busFlags{secret: "x", secretFile: file}, "", "both"},
		{busFlags{secret: "x", insecure: true}, "", "both"},
		{busFlags{secretFile: filepath.Join(t.TempDir(), "none")}, "", "--cluster-secret-file"},
	} {
		got, err := tc.f.clusterSecret(quiet)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: %q, %v; want an error saying %q", tc.f, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.f, got, err, tc.want)
		}
	}
}
