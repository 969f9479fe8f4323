package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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
	cert, key, roots := writeTestCert(t)
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

// writeTestCert writes a certificate for 127.0.0.1 signed by a CA made
// for the test, and returns the files and the CA to trust.
func writeTestCert(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(caCert)
	return certFile, keyFile, roots
}
