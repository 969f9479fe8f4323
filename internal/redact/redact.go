// Package redact keeps credentials out of error messages and logs: the
// password in a Redis or MongoDB URI (redis://user:secret@host,
// mongodb://user:secret@h1,h2/db) is replaced wherever the URI, or the
// password alone, would be shown.
package redact

import (
	"net/url"
	"strings"
)

// Mask is what a password is shown as.
const Mask = "xxxxx"

// URL returns uri with the password of its user information replaced by
// Mask. It does not need uri to parse (a URI that does not parse is
// exactly the one an error message shows), and it takes MongoDB's lists
// of hosts.
func URL(uri string) string {
	start, end := passwordAt(uri)
	if start < 0 {
		return uri
	}
	return uri[:start] + Mask + uri[end:]
}

// passwordAt returns where uri's password is, or -1, -1.
func passwordAt(uri string) (int, int) {
	i := strings.Index(uri, "://")
	if i < 0 {
		return -1, -1
	}
	auth := uri[i+3:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return -1, -1
	}
	colon := strings.Index(auth[:at], ":")
	if colon < 0 || colon+1 == at {
		return -1, -1 // a user without a password
	}
	return i + 3 + colon + 1, i + 3 + at
}

// Error returns err with the password of each of uris replaced by Mask
// wherever its text shows it (a driver may quote the URI, or the password
// URL-decoded). errors.Is and errors.As still see err. A nil err is nil.
func Error(err error, uris ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	out := Text(msg, uris...)
	if out == msg {
		return err
	}
	return &redacted{msg: out, err: err}
}

// Text returns s with the password of each of uris replaced by Mask.
func Text(s string, uris ...string) string {
	for _, uri := range uris {
		start, end := passwordAt(uri)
		if start < 0 {
			continue
		}
		pw := uri[start:end]
		s = strings.ReplaceAll(s, uri, URL(uri))
		s = strings.ReplaceAll(s, pw, Mask)
		// A driver may show the password as it decoded it.
		if dec, err := url.PathUnescape(pw); err == nil && dec != pw && dec != "" {
			s = strings.ReplaceAll(s, dec, Mask)
		}
	}
	return s
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }
