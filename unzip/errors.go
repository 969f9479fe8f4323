package unzip

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. Every refusal wraps exactly one of them, so
// one place (the API's error mapping) can turn them into a status code.
var (
	// ErrNotZip: the input is not a zip archive, is corrupt, or uses a
	// feature we cannot read (encryption, an unknown compression method).
	ErrNotZip = errors.New("not a zip archive")
	// ErrTooLarge: the archive is over Limits.MaxArchive. ErrBomb wraps it,
	// so errors.Is(err, ErrTooLarge) also holds for every zip bomb: callers
	// that only care about "too big" (HTTP 413) need one check.
	ErrTooLarge = errors.New("archive too large")
	// ErrBomb: the archive expands past Limits.MaxTotal, has more than
	// Limits.MaxFiles entries, or an entry expands past Limits.MaxRatio.
	ErrBomb = fmt.Errorf("%w: zip bomb", ErrTooLarge)
	// ErrUnsafePath: an entry name is absolute, escapes the root with "..",
	// uses backslashes, is a duplicate, or sits below a file entry.
	ErrUnsafePath = errors.New("unsafe path")
	// ErrUnsafeLink: a symlink points outside the root (or is absolute), or
	// an entry would be written through a symlink from the archive.
	ErrUnsafeLink = errors.New("unsafe symlink")
	// ErrSpecialFile: a device, named pipe, socket or other non-regular entry.
	ErrSpecialFile = errors.New("special file")
)

// EntryError is the refusal of one archive entry. Err is the sentinel (or, for
// a failed write, the underlying I/O error) and is what Unwrap returns.
type EntryError struct {
	Name   string // the entry name exactly as stored in the archive
	Reason string // human-readable, says why and, where useful, what to do
	Err    error
}

func (e *EntryError) Error() string { return fmt.Sprintf("zip entry %q: %s", e.Name, e.Reason) }

func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(name string, sentinel error, format string, args ...any) *EntryError {
	return &EntryError{Name: name, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// formatSize renders n in binary units so limit messages match how limits
// are configured ("1 GiB", not "1073741824 bytes").
func formatSize(n int64) string {
	units := []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}}
	for _, u := range units {
		if n >= u.size {
			if n%u.size == 0 {
				return fmt.Sprintf("%d %s", n/u.size, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(n)/float64(u.size), u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
