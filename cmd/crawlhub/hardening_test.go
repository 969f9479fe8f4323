package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
)

// Bad start settings fail with a message naming the flag, and a password
// in a URI never shows in it.
func TestStartErrors(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"agent", "--insecure-bus", "--mongo", "mongodb://app:s3cret-pw@db.example:notaport/crawlhub"}, nil, "mongodb://app:xxxxx@db.example:notaport/crawlhub"},
		{[]string{"server", "--insecure-bus"}, []string{"CRAWLHUB_MONGO=mongodb://app:s3cret-pw@db.example:notaport/crawlhub"}, "xxxxx"},
		{[]string{"agent", "--mongo", "mongodb://app:s3cret-pw@db.example:notaport/crawlhub"}, nil, "--cluster-secret"},
		{[]string{"--data", data, "--tls-cert", "cert.pem"}, nil, "--tls-key"},
		{[]string{"--data", data, "--trusted-proxies", "10.0.0.0/8,proxy.example"}, nil, "--trusted-proxies"},
		{[]string{"--data", data, "--max-ws", "-1"}, nil, "--max-ws"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, binary, tc.args...)
		cmd.Env = append(os.Environ(), tc.env...)
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			t.Errorf("%v: started", tc.args)
			continue
		}
		if strings.Contains(string(out), "s3cret-pw") {
			t.Errorf("%v: the output shows the password:\n%s", tc.args, out)
		}
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: the output does not say %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// The all-in-one with a certificate prints an https URL and serves the
// API over HTTP/2.
func TestAllInOneTLS(t *testing.T) {
	t.Parallel()
	c := testenv.NewCert(t)
	cert, key, roots := c.CertFile, c.KeyFile, c.Roots
	p := startProc(t, "all-in-one tls", "--listen", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "data"),
		"--tls-cert", cert, "--tls-key", key)
	m := p.waitLog(t, regexp.MustCompile(`(https://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`), 60*time.Second)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequest("GET", m[1]+"/api/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+m[2])
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("GET /api/nodes: %d over %s, HSTS %q", resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}
}
