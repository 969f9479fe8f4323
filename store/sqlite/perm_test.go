package sqlite_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// checkPrivate fails for every directory under root that is not 0700 and
// every file that is not 0600, and says how many files it saw.
func checkPrivate(t *testing.T, root string) (files int) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// usedStore opens a store in dir and writes to its database, its log and
// its blobs, so that every file a store makes exists.
func usedStore(t *testing.T, dir string) store.Store {
	t.Helper()
	s := open(t, dir)
	ctx := t.Context()
	if err := s.Users().Create(ctx, &store.User{ID: store.NewID(), Username: "u", Role: "admin",
		PasswordHash: "$argon2id$secret"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Files().Put(ctx, "spiders/a.zip", strings.NewReader("code")); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPrivateFiles checks that a new store is readable by its owner alone,
// whatever the umask: the data directory and the blob directory 0700, the
// database, its WAL and shared-memory files and the blobs 0600.
func TestPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := usedStore(t, dir)
	defer s.Close(t.Context())
	if n := checkPrivate(t, dir); n < 4 { // the database, -wal, -shm, a blob
		t.Errorf("saw %d files, want the database, its -wal and -shm files and a blob", n)
	}
	for _, name := range []string{"crawlhub.db", "crawlhub.db-wal", "crawlhub.db-shm"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

// TestTightenExisting opens a store that an older crawlhub left readable by
// everyone, and checks that it is private afterwards.
func TestTightenExisting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s := usedStore(t, dir)
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(p, 0o755)
		}
		if filepath.Dir(p) == dir { // the database files, not the blobs
			return os.Chmod(p, 0o644)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err = sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(t.Context())
	checkPrivate(t, dir)
}
