package mongo

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestRedactor(t *testing.T) {
	for _, tc := range []struct {
		uri, want string
		secrets   []string // as they may appear in a message
	}{
		{"mongodb://crawlhub:s3cret@db.example:27017/crawlhub?authSource=admin",
			"mongodb://crawlhub:xxxxx@db.example:27017/crawlhub?authSource=admin", []string{"s3cret"}},
		{"mongodb://crawlhub:p%40ss%3Aw%2Fd@h1:27017,h2:27017/?replicaSet=rs0",
			"mongodb://crawlhub:xxxxx@h1:27017,h2:27017/?replicaSet=rs0", []string{"p%40ss%3Aw%2Fd", "p@ss:w/d"}},
		{"mongodb+srv://crawlhub:hunter2@cluster0.example.net",
			"mongodb+srv://crawlhub:xxxxx@cluster0.example.net", []string{"hunter2"}},
		{"mongodb://db:27017/?tls=true&tlsCertificateKeyFilePassword=keypw&authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok",
			"mongodb://db:27017/?tls=true&tlsCertificateKeyFilePassword=xxxxx&authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx",
			[]string{"keypw", "AWS_SESSION_TOKEN:tok"}},
		{"mongodb://127.0.0.1:27017/", "mongodb://127.0.0.1:27017/", nil},
		{"mongodb://onlyuser@127.0.0.1/", "mongodb://onlyuser@127.0.0.1/", nil},
		{"not a uri", "not a uri", nil},
	} {
		r := newRedactor(tc.uri)
		if got := Redact(tc.uri); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.uri, got, tc.want)
		}
		msg := "dial " + tc.uri + ": failed; " + strings.Join(tc.secrets, " and ")
		got := r.err(errors.New(msg))
		for _, secret := range tc.secrets {
			if strings.Contains(got.Error(), secret) {
				t.Errorf("%q: the error %q still has %q", tc.uri, got, secret)
			}
		}
		if len(tc.secrets) > 0 && !strings.Contains(got.Error(), tc.want) {
			t.Errorf("%q: the error %q does not name the redacted URI", tc.uri, got)
		}
	}
	sentinel := errors.New("boom s3cret")
	if err := newRedactor("mongodb://u:s3cret@h/").err(sentinel); !errors.Is(err, sentinel) {
		t.Errorf("a redacted error no longer wraps its cause: %v", err)
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestOpenErrorsKeepCredentials checks what an operator would see in the
// log when the store cannot be reached or the URI is wrong: never the
// password, written or unescaped.
func TestOpenErrorsKeepCredentials(t *testing.T) {
	const user, pass, plain = "crawlhub", "s3cr%40t-PW", "s3cr@t-PW"
	addr := closedAddr(t)
	for _, uri := range []string{
		// Unreachable: the server selection error, after the timeout.
		"mongodb://" + user + ":" + pass + "@" + addr + "/crawlhub?authSource=admin&serverSelectionTimeoutMS=300",
		// Refused by the URI parser.
		"mongodb://" + user + ":" + pass + "@" + addr + "/crawlhub?authSource=admin&serverSelectionTimeoutMS=nope",
		"mongodb://" + user + ":" + pass + "@127.0.0.1:notaport/crawlhub",
		"mongodb://" + user + ":" + plain + "@" + addr + "/crawlhub?connectTimeoutMS=300",
		// The parser quotes the escape it cannot read.
		"mongodb://" + user + ":s3cr%ZZt@" + addr + "/crawlhub",
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		s, err := Open(ctx, uri, "crawlhub")
		cancel()
		if err == nil {
			s.Close(context.Background())
			t.Errorf("Open(%s) succeeded", newRedactor(uri).redacted)
			continue
		}
		for _, secret := range []string{pass, plain, "s3cr", "%ZZ"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("Open's error quotes the password (%q): %v", secret, err)
			}
		}
		t.Logf("%v", err)
	}
}
