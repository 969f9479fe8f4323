package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/internal/testenv"
)

// TestWebhookCommands: create, list, test and delete webhooks and email
// channels from the command line, against an all-in-one with a mail
// server speaking TLS from the first byte under a private CA, as an admin
// would.
func TestWebhookCommands(t *testing.T) {
	t.Parallel()
	rcv := testenv.StartReceiver(t, "from-stdin")
	mail := testenv.StartSMTPTLS(t, true)
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", t.TempDir(),
		"--smtp-addr", mail.Addr, "--smtp-from", "crawlhub@example.com", "--smtp-tls", "implicit", "--smtp-ca-file", mail.CAFile)
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9A-Za-z_-]+)`), 60*time.Second)
	base, admin := m[1], m[2]
	run := func(stdin string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--server", base, "--token", admin)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, strings.NewReader(stdin)
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("crawlhub %v: %v", args, err)
		}
		return out.String(), errb.String(), code
	}

	out, errs, code := run("from-stdin\n", "webhooks", "create", "--name", "ops", "--url", rcv.URL,
		"--events", "task.failed,node.offline", "--format", "slack", "--secret-stdin")
	if code != 0 || out != "" || !strings.Contains(errs, `webhook "ops"`) {
		t.Fatalf("webhooks create --secret-stdin: %d %q %s", code, out, errs)
	}
	out, errs, code = run("", "webhooks", "create", "--name", "on-call", "--email", "ops@example.com", "--events", "task.failed")
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{64}\n$`).MatchString(out) || !strings.Contains(errs, "shown this once") {
		t.Fatalf("webhooks create --email: %d %q %s", code, out, errs)
	}
	_, errs, code = run("", "webhooks", "create", "--name", "bad", "--url", "ftp://example.com", "--events", "task.failed")
	if code != 1 || !strings.Contains(errs, "not an http or https URL") {
		t.Errorf("webhooks create with an ftp URL: %d %s", code, errs)
	}
	out, _, _ = run("", "webhooks", "list")
	for _, want := range []string{"NAME", "ops", rcv.URL, "task.failed,node.offline", "on-call", "ops@example.com"} {
		if !strings.Contains(out, want) {
			t.Errorf("webhooks list lacks %q:\n%s", want, out)
		}
	}

	_, errs, code = run("", "webhooks", "test", "ops")
	if code != 0 || !strings.Contains(errs, "delivered (the receiver answered 200)") {
		t.Errorf("webhooks test ops: %d %s", code, errs)
	}
	if got := rcv.All(); len(got) != 1 || !got[0].Valid || !strings.HasPrefix(string(got[0].Body), `{"text":`) {
		t.Errorf("the receiver got %+v, want one signed Slack test", got)
	}
	_, errs, code = run("", "webhooks", "test", "on-call")
	if code != 0 {
		t.Errorf("webhooks test on-call: %d %s", code, errs)
	}
	if m := mail.WaitFor(t, 30*time.Second, "the test mail", func(ms []testenv.Mail) bool { return len(ms) == 1 }); !m[0].TLS {
		t.Error("the test mail did not come over TLS")
	}

	rcv.Fail(true)
	_, errs, code = run("", "webhooks", "test", "ops")
	if code != 1 || !strings.Contains(errs, "failed") || !strings.Contains(errs, "500") {
		t.Errorf("webhooks test to a failing receiver: %d %s", code, errs)
	}

	_, errs, code = run("", "webhooks", "delete", "ops")
	if code != 0 || !strings.Contains(errs, "deleted") {
		t.Errorf("webhooks delete: %d %s", code, errs)
	}
	if out, _, _ = run("", "webhooks", "list"); strings.Contains(out, rcv.URL) {
		t.Errorf("after delete, webhooks list still has it:\n%s", out)
	}
}

// A mail server's TLS settings that cannot work stop the start, saying why.
func TestSMTPFlagsChecked(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--smtp-tls", "ssl"}, `--smtp-tls: unknown TLS mode "ssl": want auto, implicit or starttls`},
		{[]string{"--smtp-ca-file", notPEM}, "no PEM certificate in it"},
		{[]string{"--smtp-ca-file", notPEM + ".missing"}, "--smtp-ca-file: open"},
	} {
		cmd := exec.Command(binary, append([]string{"--listen", "127.0.0.1:0", "--data", t.TempDir()}, c.flags...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("crawlhub %v: %v, %q; want exit 1 saying %q", c.flags, err, out, c.want)
		}
	}
}
