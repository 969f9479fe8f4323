package store

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Ids are strings of 24 lowercase hex digits laid out as a MongoDB ObjectId
// (4 bytes of Unix seconds, 5 random bytes fixed per process, a 3-byte
// counter), for every aggregate and both stores: ids look the same whatever
// the store, sort roughly by creation, and the mongo store can keep them as
// ObjectIds. They are made here rather than by the driver so that nothing
// outside store/mongo depends on MongoDB's types.

var (
	idProcess [5]byte
	idCounter atomic.Uint32
)

func init() {
	var seed [8]byte
	_, _ = rand.Read(idProcess[:])
	_, _ = rand.Read(seed[:])
	idCounter.Store(binary.BigEndian.Uint32(seed[:4]))
}

// NewID returns a new id.
func NewID() string {
	var b [12]byte
	binary.BigEndian.PutUint32(b[0:4], uint32(time.Now().Unix()))
	copy(b[4:9], idProcess[:])
	n := idCounter.Add(1)
	b[9], b[10], b[11] = byte(n>>16), byte(n>>8), byte(n)
	return hex.EncodeToString(b[:])
}

// ValidID reports whether s is a well-formed id: 24 hex digits.
func ValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
