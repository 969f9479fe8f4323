package redact_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/internal/redact"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"rediss://crawlhub:s3cret@redis.example:6380/1", "rediss://crawlhub:xxxxx@redis.example:6380/1"},
		{"mongodb://app:p%40ss@h1:27017,h2:27017/crawlhub?replicaSet=rs0", "mongodb://app:xxxxx@h1:27017,h2:27017/crawlhub?replicaSet=rs0"},
		{"mongodb://app:p@ss@h1/db", "mongodb://app:xxxxx@h1/db"}, // unescaped @ in the password: does not parse, still redacted
		{"mongodb://app@h1/db", "mongodb://app@h1/db"},            // no password
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://h/0?x=a:b@c", "redis://h/0?x=a:b@c"}, // an @ past the host is not user information
		{"not a uri", "not a uri"},
	} {
		if got := redact.URL(tc.in); got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestError(t *testing.T) {
	uri := "mongodb://app:p%40ss-w0rd@db.example/crawlhub"
	err := fmt.Errorf("connect to %s: auth failed for password p@ss-w0rd: %w", uri, io.EOF)
	got := redact.Error(err, uri)
	for _, leak := range []string{"p%40ss-w0rd", "p@ss-w0rd"} {
		if strings.Contains(got.Error(), leak) {
			t.Errorf("the error still shows %q: %s", leak, got)
		}
	}
	if !strings.Contains(got.Error(), "mongodb://app:xxxxx@db.example/crawlhub") {
		t.Errorf("the error lost the redacted URI: %s", got)
	}
	if !errors.Is(got, io.EOF) {
		t.Error("errors.Is no longer sees the cause")
	}
	if redact.Error(nil, uri) != nil {
		t.Error("a nil error became non-nil")
	}
	plain := errors.New("no secret here")
	if redact.Error(plain, uri) != plain {
		t.Error("an error without the secret was replaced")
	}
}
