package mongo

import (
	"net/url"
	"regexp"
	"strings"
)

// Credentials in the MongoDB URI (the password, and secrets some options
// carry) must never reach an error a caller logs. The driver's errors do
// not usually quote the URI, but its parse errors can quote a part of it,
// and a failure to connect or authenticate is exactly what gets logged;
// so every error Open and Ping return goes through a redactor that knows
// the secrets of the URI and blanks them, wherever they appear.

// Redact returns uri with its credentials blanked (the password and the
// secrets some options carry), for whatever names the URI in a log line or
// an error outside this package.
func Redact(uri string) string { return newRedactor(uri).redacted }

// redactedPassword is what a secret is replaced by, as url.URL.Redacted
// does.
const redactedPassword = "xxxxx"

// redactor blanks the secrets of one URI in error messages.
type redactor struct {
	uri      string // the URI as given
	redacted string // the URI with its secrets blanked
	secrets  []string
}

// newRedactor finds the secrets of uri: the password of its user
// information, as written and unescaped, and the values of options that
// hold secrets (tlsCertificateKeyFilePassword, authMechanismProperties,
// which can carry an AWS session token). It reads the URI by hand rather
// than with url.Parse: a URI with several hosts is not a URL url.Parse
// accepts, and a URI url.Parse refuses must be redacted all the same.
func newRedactor(uri string) *redactor {
	r := &redactor{uri: uri, redacted: uri}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return r
	}
	// The authority ends at the first '/', '?' or '#': MongoDB requires
	// those to be escaped in the user and the password.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(authority[:at], ":")
		if hasPass && pass != "" {
			r.add(pass)
			authority = user + ":" + redactedPassword + authority[at:]
		}
	}
	if before, query, ok := strings.Cut(tail, "?"); ok {
		var params []string
		for _, kv := range strings.Split(query, "&") {
			key, value, _ := strings.Cut(kv, "=")
			lk := strings.ToLower(key)
			if value != "" && (strings.Contains(lk, "password") || lk == "authmechanismproperties") {
				r.add(value)
				kv = key + "=" + redactedPassword
			}
			params = append(params, kv)
		}
		tail = before + "?" + strings.Join(params, "&")
	}
	r.redacted = scheme + "://" + authority + tail
	return r
}

// add records secret, and its unescaped form if that differs.
func (r *redactor) add(secret string) {
	r.secrets = append(r.secrets, secret)
	for _, unescape := range []func(string) (string, error){url.PathUnescape, url.QueryUnescape} {
		if plain, err := unescape(secret); err == nil && plain != secret && plain != "" {
			r.secrets = append(r.secrets, plain)
		}
	}
}

// text returns s with the URI and every secret blanked.
func (r *redactor) text(s string) string {
	if len(r.secrets) == 0 {
		return s
	}
	s = strings.ReplaceAll(s, r.uri, r.redacted)
	for _, secret := range r.secrets {
		s = strings.ReplaceAll(s, secret, redactedPassword)
	}
	// The URI parser quotes the faulty part of a password it cannot
	// unescape ("invalid URL escape \"%ZZ\""): blank a quoted piece of a
	// secret too.
	return quoted.ReplaceAllStringFunc(s, func(q string) string {
		for _, secret := range r.secrets {
			if len(q) > 2 && strings.Contains(secret, q[1:len(q)-1]) {
				return `"` + redactedPassword + `"`
			}
		}
		return q
	})
}

var quoted = regexp.MustCompile(`"[^"]*"`)

// err wraps err so that its message is blanked; errors.Is and errors.As
// still see what it wraps.
func (r *redactor) err(err error) error {
	if err == nil || len(r.secrets) == 0 {
		return err
	}
	return &redactedError{msg: r.text(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
