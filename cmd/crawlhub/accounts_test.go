package main

import (
	"bytes"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAccountCommands: whoami, users, tokens and audit against a live
// all-in-one, as an admin would use them, and what a lesser token is told.
func TestAccountCommands(t *testing.T) {
	t.Parallel()
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9A-Za-z_-]+)`), 60*time.Second)
	base, admin := m[1], m[2]
	run := func(token, stdin string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--server", base, "--token", token)...)
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
	want := func(what, got string, fragments ...string) {
		t.Helper()
		for _, f := range fragments {
			if !strings.Contains(got, f) {
				t.Errorf("%s: %q lacks %q", what, got, f)
			}
		}
	}

	out, errs, code := run(admin, "", "whoami")
	if code != 0 {
		t.Fatalf("whoami: %d %s", code, errs)
	}
	want("whoami", out, "admin (role admin, signed in with start-token)")

	out, errs, code = run(admin, "a long password\n", "users", "create", "--username", "alice", "--role", "operator", "--password-stdin")
	if code != 0 || !regexp.MustCompile(`^[0-9a-f]{24}\n$`).MatchString(out) {
		t.Fatalf("users create: %d %q %s", code, out, errs)
	}
	aliceID := strings.TrimSpace(out)
	_, errs, code = run(admin, "", "users", "create", "--username", "bob")
	if code != 1 {
		t.Errorf("users create with no password: exit %d, want 1", code)
	}
	want("users create with no password", errs, "--password-stdin", "CRAWLHUB_PASSWORD")
	_, errs, code = run(admin, "short\n", "users", "create", "--username", "bob", "--password-stdin")
	if code != 1 {
		t.Errorf("users create with a short password: exit %d, want 1", code)
	}
	want("users create with a short password", errs, "at least 8 characters", "HTTP 400")

	out, _, _ = run(admin, "", "users", "list")
	want("users list", out, "USERNAME", aliceID+"  alice", "operator", "enabled")

	_, errs, code = run(admin, "", "users", "set", "alice", "--disable")
	if code != 0 {
		t.Errorf("users set --disable: exit %d", code)
	}
	want("users set --disable", errs, "alice is operator, disabled")
	_, errs, _ = run(admin, "", "users", "set", "alice", "--enable", "--role", "viewer")
	want("users set --enable --role", errs, "alice is viewer, enabled")
	_, errs, code = run(admin, "another password\n", "users", "set", aliceID, "--password-stdin")
	if code != 0 {
		t.Errorf("users set --password-stdin: %d %s", code, errs)
	}
	_, errs, code = run(admin, "", "users", "set", "nobody", "--disable")
	if code != 1 {
		t.Errorf("users set for an unknown user: exit %d", code)
	}
	want("users set for an unknown user", errs, `no user is named "nobody"`)

	out, errs, code = run(admin, "", "tokens", "create", "--name", "ci", "--role", "viewer", "--expires", "720h")
	if code != 0 || !strings.HasPrefix(out, "chk_") {
		t.Fatalf("tokens create: %d %q %s", code, out, errs)
	}
	want("tokens create", errs, `token "ci"`, "role viewer", "expires", "shown this once")
	viewer := strings.TrimSpace(out)
	out, _, _ = run(viewer, "", "whoami")
	want("whoami with the new token", out, "admin (role viewer, signed in with token ci)")
	_, errs, code = run(viewer, "", "tokens", "create", "--name", "up", "--role", "admin")
	if code != 1 {
		t.Errorf("a viewer token making an admin token: exit %d", code)
	}
	want("a viewer token making an admin token", errs, "more rights", "HTTP 403")
	_, errs, code = run(viewer, "", "audit")
	if code != 1 {
		t.Errorf("audit with a viewer token: exit %d", code)
	}
	want("audit with a viewer token", errs, "HTTP 403")

	out, _, _ = run(admin, "", "tokens", "list")
	want("tokens list", out, "NAME", "ci", "viewer")
	id := regexp.MustCompile(`(?m)^([0-9a-f]{24})\s+ci\s`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("tokens list has no token ci: %s", out)
	}
	_, errs, code = run(admin, "", "tokens", "revoke", id[1])
	if code != 0 {
		t.Fatalf("tokens revoke: %d %s", code, errs)
	}
	_, errs, code = run(viewer, "", "whoami")
	if code != 1 {
		t.Errorf("whoami with a revoked token: exit %d", code)
	}
	want("whoami with a revoked token", errs, "HTTP 401")

	_, errs, code = run(admin, "", "users", "delete", "alice")
	if code != 0 {
		t.Errorf("users delete: %d %s", code, errs)
	}

	out, _, _ = run(admin, "", "audit", "--action", "user.update")
	want("audit --action user.update", out, "ACTOR", "admin (start token)", "user.update", "alice", "disabled", "password reset")
	if strings.Contains(out, "another password") {
		t.Errorf("the audit log shows a password: %s", out)
	}
	out, errs, _ = run(admin, "", "audit", "--limit", "1")
	if n := strings.Count(strings.TrimSpace(out), "\n"); n != 1 || !strings.Contains(out, "user.delete") {
		t.Errorf("audit --limit 1: %q, want the header and the deletion", out)
	}
	want("audit --limit 1", errs, "--offset 1 for the next page")
}
