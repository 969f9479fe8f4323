package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"time"
)

// The signed bus. With a cluster secret every message on the bus (the
// envelopes on MasterChannel and NodeChannel, the LogBatch and ItemBatch
// messages on LogChannel and ItemsChannel) carries one more field, last:
//
//	{…the message as its encoder wrote it…,"sig":"<hex HMAC-SHA256>"}
//
// The HMAC, keyed with the secret, is over the message without the field:
// the exact bytes the sender's encoder wrote, a JSON object. Signing is
// appending; verifying is cutting the field off again and comparing: no
// message is decoded or encoded a second time, so a signature costs one
// HMAC over the message and a copy of it, and nothing depends on how a
// JSON encoder orders or escapes fields. Precisely, for a message m
// (a JSON object, ending in '}'):
//
//	signed(m) = m[:len(m)-1] + "," + `"sig":"` + hex(HMAC-SHA256(secret, m)) + `"}`
//
// (without the "," when m is "{}"), and a receiver takes m back as
// everything before that `,"sig":"` and a closing '}'. The hex is lower
// case, 64 digits. Without a secret (the all-in-one, or --insecure-bus)
// messages carry no "sig" and nothing changes on the wire.

// Errors of Signer.Open.
var (
	ErrUnsigned     = errors.New("message is not signed")
	ErrBadSignature = errors.New("message has a wrong signature")
)

// MinSecret is the shortest cluster secret accepted, in bytes: a secret
// is a key, not a password, and a short one could be guessed offline from
// any one message.
const MinSecret = 16

const (
	sigKey = `"sig":"`
	sigHex = 2 * sha256.Size
	// sigTail is the length of `"sig":"<hex>"}`.
	sigTail = len(sigKey) + sigHex + 2
)

// Signer signs the messages a process publishes on the bus and checks
// the ones it receives, with the cluster secret. A nil *Signer is the
// insecure bus: Sign returns messages as they are and Open accepts every
// message. Safe for concurrent use.
type Signer struct {
	macs  sync.Pool // of hash.Hash: an HMAC keyed with the secret
	log   *slog.Logger
	drops dropLog
}

// NewSigner returns the Signer of secret, or nil for an empty secret (the
// insecure bus). log receives a warning when messages are dropped (at
// most one every DropLogEvery).
func NewSigner(secret string, log *slog.Logger) (*Signer, error) {
	if secret == "" {
		return nil, nil
	}
	if len(secret) < MinSecret {
		return nil, fmt.Errorf("the cluster secret is %d bytes; it must have at least %d (e.g. 32 random bytes in hex: openssl rand -hex 32)", len(secret), MinSecret)
	}
	if log == nil {
		log = slog.Default()
	}
	key := []byte(secret)
	s := &Signer{log: log}
	s.macs.New = func() any { return hmac.New(sha256.New, key) }
	return s, nil
}

func (s *Signer) mac(msg []byte) []byte {
	h := s.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(msg)
	var sum [sha256.Size]byte
	out := h.Sum(sum[:0])
	s.macs.Put(h)
	return out
}

// Sign returns msg (a JSON object as json.Marshal writes it) with its
// signature. It appends to msg, which may no longer be used. A nil
// Signer returns msg.
func (s *Signer) Sign(msg []byte) []byte {
	n := len(msg)
	if s == nil || n < 2 || msg[0] != '{' || msg[n-1] != '}' {
		// Not an object: left unsigned, a receiver with the secret drops
		// it and says so.
		return msg
	}
	mac := s.mac(msg)
	if n == 2 {
		msg = msg[:1]
	} else {
		msg[n-1] = ','
	}
	msg = append(msg, sigKey...)
	msg = hex.AppendEncode(msg, mac)
	return append(msg, '"', '}')
}

// Open checks msg's signature and returns the message without it, as its
// sender's encoder wrote it (a copy: msg is not changed). A nil Signer
// returns msg as it is.
func (s *Signer) Open(msg []byte) ([]byte, error) {
	if s == nil {
		return msg, nil
	}
	n := len(msg)
	if n < sigTail+1 || msg[n-1] != '}' || msg[n-2] != '"' || string(msg[n-sigTail:n-sigTail+len(sigKey)]) != sigKey {
		return nil, ErrUnsigned
	}
	var got [sha256.Size]byte
	if _, err := hex.Decode(got[:], msg[n-sigTail+len(sigKey):n-2]); err != nil {
		return nil, ErrBadSignature
	}
	head := msg[:n-sigTail] // "{…," or "{"
	body := make([]byte, len(head))
	copy(body, head)
	switch body[len(body)-1] {
	case ',':
		body[len(body)-1] = '}'
	case '{':
		body = append(body, '}')
	default:
		return nil, ErrUnsigned
	}
	if !hmac.Equal(s.mac(body), got[:]) {
		return nil, ErrBadSignature
	}
	return body, nil
}

// DropLogEvery bounds how often dropped messages are logged: a flood of
// forged messages must not become a flood of log lines.
const DropLogEvery = 10 * time.Second

// Accept is Open for a message received on channel: it returns the
// message to handle, or false when the message must be dropped, which it
// logs at warn (at most once every DropLogEvery, with how many were
// dropped meanwhile).
func (s *Signer) Accept(channel string, msg []byte) ([]byte, bool) {
	body, err := s.Open(msg)
	if err != nil {
		s.drops.warn(s.log, "dropped a bus message: "+err.Error()+"; is every master and agent given the same cluster secret?", "channel", channel, "size", len(msg))
		return nil, false
	}
	return body, true
}

// dropLog logs dropped messages at warn, at most once every DropLogEvery;
// the next line says how many were not logged.
type dropLog struct {
	mu      sync.Mutex
	warned  time.Time // when a drop was last logged
	dropped int       // drops since then, not logged
}

func (d *dropLog) warn(log *slog.Logger, msg string, args ...any) {
	d.mu.Lock()
	now := time.Now()
	if now.Sub(d.warned) < DropLogEvery {
		d.dropped++
		d.mu.Unlock()
		return
	}
	d.warned, args = now, append(args, "not_logged_since_last_warning", d.dropped)
	d.dropped = 0
	d.mu.Unlock()
	log.Warn(msg, args...)
}
