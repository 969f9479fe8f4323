package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters.
type Params struct {
	// Memory in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the parallelism.
	Threads uint8
}

// DefaultParams are the costs of a new password hash: OWASP's first
// recommendation for argon2id (19 MiB, 2 passes, 1 thread), about 30 ms on
// a server core, so a burst of sign-ins cannot eat a master's memory.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// TestParams are costs for tests only: cheap, and still argon2id.
var TestParams = Params{Memory: 64, Time: 1, Threads: 1}

const (
	saltLen = 16
	keyLen  = 32
	// maxMemory bounds the memory a stored hash may ask for when it is
	// verified (1 GiB), so a tampered hash cannot exhaust the master.
	maxMemory = 1 << 20
)

// ErrMismatch is CheckPassword's error for a wrong password.
var ErrMismatch = errors.New("password does not match")

// HashPassword hashes pw with argon2id under p (zero Params mean
// DefaultParams) into the PHC string format:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>, salt and
// hash in unpadded standard base64.
func HashPassword(pw string, p Params) (string, error) {
	if p == (Params{}) {
		p = DefaultParams
	}
	if p.Memory == 0 || p.Time == 0 || p.Threads == 0 {
		return "", fmt.Errorf("auth: argon2id parameters %+v: memory, time and threads must all be set", p)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches hash (from HashPassword): nil,
// ErrMismatch, or an error saying the hash is malformed. The comparison
// takes the same time wherever the two differ.
func CheckPassword(hash, pw string) error {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return ErrMismatch
	}
	return nil
}

// dummyHash is verified against when there is no user or no password, so a
// failed sign-in takes as long whether the user exists or not. Made on
// first use: a process that never signs anyone in never pays for it.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("crawlhub: no such user", DefaultParams)
	return h
})

// CheckNoPassword spends the time CheckPassword would on a real hash and
// returns ErrMismatch: for a sign-in with an unknown username, or a user
// without a password, so that timing does not tell which usernames exist.
func CheckNoPassword(pw string) error {
	_ = CheckPassword(dummyHash(), pw)
	return ErrMismatch
}

func parseHash(hash string) (p Params, salt, key []byte, err error) {
	bad := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("auth: malformed password hash: %s", why)
	}
	parts := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return bad("not an argon2id PHC string")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return bad("unsupported version " + parts[2])
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil {
		return bad("parameters " + parts[3])
	}
	if p.Memory == 0 || p.Memory > maxMemory || p.Time == 0 || p.Time > 100 || threads == 0 || threads > 255 {
		return bad("parameters out of range " + parts[3])
	}
	p.Threads = uint8(threads)
	enc := base64.RawStdEncoding
	if salt, err = enc.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return bad("salt")
	}
	if key, err = enc.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return bad("hash")
	}
	return p, salt, key, nil
}
