package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// Prefixes of the secrets crawlhub issues, so that one found in a log, a
// shell history or a repository says what it is (and secret scanners can
// match it).
const (
	PrefixToken   = "chk_" // an API token
	PrefixSession = "chs_" // a dashboard session (the cookie's value)
	PrefixTicket  = "chw_" // a single-use WebSocket ticket
	PrefixCSRF    = "chc_" // a session's anti-forgery token
)

// NewSecret returns prefix followed by 256 random bits in unpadded
// URL-safe base64 (43 characters): safe in a header, a cookie and a URL.
func NewSecret(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand: it panics first)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// HashSecret is what the store keeps of a secret: its SHA-256 in hex.
// Secrets are long and random, so a fast hash is enough (nothing to
// guess) and a lookup stays one index read.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
