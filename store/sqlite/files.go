package sqlite

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/crawlhub/crawlhub/store"
)

// files keeps each blob as one plain file directly in dir, its name
// escaped so that no name can reach outside dir and names that are
// prefixes of each other as paths ("a" and "a/b") do not collide.
type files struct{ dir string }

// tmpPrefix marks a Put in progress. Escaped names never start with '.',
// so temporary files cannot be mistaken for blobs.
const tmpPrefix = ".put-"

func openFiles(dir string) (*files, error) {
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	// A crash mid-Put leaves its temporary file behind; nobody else will.
	leftovers, _ := filepath.Glob(filepath.Join(dir, tmpPrefix+"*"))
	for _, p := range leftovers {
		os.Remove(p)
	}
	return &files{dir: dir}, nil
}

// Put writes to a temporary file and renames it over the old blob: a
// reader sees the old blob or the new one, never a mix, and a reader that
// has the old one open keeps reading it.
func (f *files) Put(ctx context.Context, name string, r io.Reader) (string, int64, error) {
	md5hex, size, err := f.put(ctx, name, r)
	if err != nil {
		return "", 0, fmt.Errorf("store: put file %q: %w", name, err)
	}
	return md5hex, size, nil
}

func (f *files) put(ctx context.Context, name string, r io.Reader) (string, int64, error) {
	if err := ctx.Err(); err != nil {
		return "", 0, err
	}
	p, err := f.path(name)
	if err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(f.dir, tmpPrefix+"*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	h := md5.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", 0, err
	}
	// Make the rename itself durable.
	if d, err := os.Open(f.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

func (f *files) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: open file %q: %w", name, err)
	}
	p, err := f.path(name)
	if err != nil {
		return nil, fmt.Errorf("store: open file %q: %w", name, err)
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: open file %q: %w", name, err)
	}
	return file, nil
}

func (f *files) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete file %q: %w", name, err)
	}
	p, err := f.path(name)
	if err == nil {
		err = os.Remove(p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: delete file %q: %w", name, err)
	}
	return nil
}

// maxEscaped keeps escaped names under common file name limits (255 bytes).
const maxEscaped = 200

// path maps a valid name to its file: every byte outside [A-Za-z0-9_.-]
// (and a leading '.') is percent-escaped, so the result is one plain path
// element. Over-long names are cut and made unique again with a hash.
func (f *files) path(name string) (string, error) {
	if err := validName(name); err != nil {
		return "", err
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' && i > 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	esc := b.String()
	if len(esc) > maxEscaped {
		sum := sha256.Sum256([]byte(name))
		esc = esc[:maxEscaped-65] + "~" + hex.EncodeToString(sum[:])
	}
	return filepath.Join(f.dir, esc), nil
}

// validName accepts slash-separated relative paths ("spiders/<id>/v1.zip")
// and nothing that could be read as leaving a directory. The mongo store
// applies the same rule, so a name valid for one backend is valid for both.
func validName(name string) error {
	if name == "" || !utf8.ValidString(name) || strings.ContainsAny(name, "\x00\\") {
		return fmt.Errorf("invalid file name %q", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("invalid file name %q: want a relative slash-separated path without empty, . or .. parts", name)
		}
	}
	return nil
}

// ctxReader stops a long copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
