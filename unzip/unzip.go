// Package unzip extracts untrusted zip archives (uploaded spiders) safely and
// atomically.
//
// Safely: nothing is ever written outside the destination (no "..", absolute
// paths, escaping symlinks or writes through symlinks), no device files or
// pipes are created, setuid bits are dropped, and zip bombs are stopped while
// streaming, by counting the bytes actually written rather than trusting the
// sizes the archive declares.
//
// Atomically: the archive is extracted into a hidden sibling of the
// destination and renamed into place only once everything succeeded, so a
// runner never sees a half-extracted spider, and a refused update leaves the
// previous version untouched.
//
// The whole archive is checked (names, types, links, declared sizes) before a
// single byte is written, so most refusals cost no disk I/O at all.
package unzip

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Defaults for the zero fields of Limits.
const (
	DefaultMaxArchive = 100 << 20 // compressed bytes
	DefaultMaxTotal   = 1 << 30   // uncompressed bytes written
	DefaultMaxFiles   = 10_000
	DefaultMaxRatio   = 200
	// ratioFloor exempts small entries from MaxRatio: a 1 MiB file of spaces
	// legitimately compresses 1000x and can do no harm.
	ratioFloor = 1 << 20
)

// Limits bounds what an archive may do; zero (or negative) fields mean the
// documented default, so a limit can never be switched off by accident.
type Limits struct {
	MaxArchive int64 // compressed size of the archive; zero means 100 MiB
	MaxTotal   int64 // total uncompressed bytes written; zero means 1 GiB
	MaxFiles   int   // entries, directories included; zero means 10,000
	// MaxRatio is the uncompressed/compressed ratio beyond which an entry
	// counts as a bomb; zero means 200. It only applies to entries over
	// 1 MiB.
	MaxRatio int
}

func (l Limits) withDefaults() Limits {
	if l.MaxArchive <= 0 {
		l.MaxArchive = DefaultMaxArchive
	}
	if l.MaxTotal <= 0 {
		l.MaxTotal = DefaultMaxTotal
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	return l
}

// Extract extracts the zip in r (size bytes) into dest atomically: it writes
// into a fresh sibling temporary directory and renames it to dest only when
// everything succeeded, replacing an existing dest directory (the old one is
// removed after the rename), so a half-extracted spider is never visible at
// dest. On any error nothing is left behind and an existing dest is
// unchanged.
//
// Refusals wrap one of the package's sentinel errors; those about a single
// entry are *EntryError and name it. The parent of dest must exist.
//
// Extractions into the same dest must be serialized by the caller: two
// concurrent ones never produce a mixed tree, but one of them may fail.
// Replacing dest deletes the previous tree, so a process still running from
// it loses files it has not opened yet. Nothing is fsynced, and a process
// killed mid-way may leave a hidden ".<dest>.tmp-*" sibling behind: after a
// crash, re-extract and remove those.
func Extract(r io.ReaderAt, size int64, dest string, lim Limits) error {
	lim = lim.withDefaults()
	if err := checkDest(dest); err != nil {
		return err
	}
	if size > lim.MaxArchive {
		return fmt.Errorf("%w: the archive is %s, over the %s limit", ErrTooLarge, formatSize(size), formatSize(lim.MaxArchive))
	}
	if size < 0 {
		return fmt.Errorf("%w: negative size %d", ErrNotZip, size)
	}
	zr, err := zip.NewReader(r, size)
	// With GODEBUG=zipinsecurepath=0 the reader comes back together with
	// ErrInsecurePath; our own checks refuse those names with a better
	// message that names the entry, so carry on.
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return fmt.Errorf("%w: %v", ErrNotZip, err)
	}
	x := &extraction{lim: lim}
	if err := x.plan(zr.File); err != nil {
		return err
	}
	return install(filepath.Clean(dest), x.write)
}

// ExtractFile is Extract for a file on disk.
func ExtractFile(path, dest string, lim Limits) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrNotZip, path)
	}
	return Extract(f, fi.Size(), dest, lim)
}

// checkDest refuses destinations that cannot be replaced by a rename.
func checkDest(dest string) error {
	clean := filepath.Clean(dest)
	if base := filepath.Base(clean); dest == "" || base == "." || base == ".." || base == string(filepath.Separator) {
		return fmt.Errorf("unzip: invalid destination %q: name a directory to create or replace", dest)
	}
	if fi, err := os.Lstat(clean); err == nil && !fi.IsDir() {
		return fmt.Errorf("unzip: destination %s exists and is not a directory; remove it first", dest)
	}
	return nil
}

// install runs fill on a fresh temporary directory next to dest and, if it
// succeeds, moves that directory to dest. The temporary directory is a
// sibling so the final rename stays on one file system and is atomic.
func install(dest string, fill func(*os.Root) error) (err error) {
	parent, base := filepath.Dir(dest), filepath.Base(dest)
	tmp, err := os.MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return fmt.Errorf("unzip: create a temporary directory next to %s: %w", dest, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("unzip: %w", err)
	}
	err = fill(root)
	if err == nil {
		// MkdirTemp made it 0700; the spider tree is 0755 like its subdirectories.
		err = root.Chmod(".", 0o755)
	}
	if cerr := root.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return replace(tmp, dest)
}

// replace moves the directory tmp to dest, replacing any directory there.
//
// Linux renames a directory only over an empty one (and os.Rename not even
// that), so an existing dest is first moved aside into a fresh directory,
// then tmp takes its place. In between dest briefly does not exist, but it
// never holds a partial tree; if the second rename fails, the old version is
// put back.
func replace(tmp, dest string) error {
	if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
		if err := os.Rename(tmp, dest); err != nil {
			return fmt.Errorf("unzip: %w", err)
		}
		return nil
	}
	// Moving dest into a fresh MkdirTemp directory gives it a name nobody
	// else can be using, without guessing at unused sibling names.
	aside, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".old-")
	if err != nil {
		return fmt.Errorf("unzip: move the previous version aside: %w", err)
	}
	old := filepath.Join(aside, "old")
	if err := os.Rename(dest, old); err != nil {
		os.Remove(aside)
		return fmt.Errorf("unzip: move the previous version aside: %w", err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		if rerr := os.Rename(old, dest); rerr != nil {
			return fmt.Errorf("unzip: %w; restoring the previous version also failed (it is in %s): %v", err, old, rerr)
		}
		os.Remove(aside)
		return fmt.Errorf("unzip: %w", err)
	}
	// The new version is in place, which is what the caller asked for; a
	// failure here only leaves a hidden ".<dest>.old-*" directory behind.
	os.RemoveAll(aside)
	return nil
}
