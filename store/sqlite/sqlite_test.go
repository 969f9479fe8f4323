package sqlite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/store/storetest"
)

// TestMain fails the run if a test leaves goroutines behind: a store must
// stop everything it started when it is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, dir string) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
}

func TestReopen(t *testing.T) {
	storetest.RunReopen(t, func(t *testing.T) (store.Store, func(*testing.T) store.Store) {
		dir := t.TempDir()
		return open(t, dir), func(t *testing.T) store.Store { return open(t, dir) }
	})
}

// TestFilesStayInside checks that no file name, however hostile, makes Put
// write outside dir/files.
func TestFilesStayInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	s := open(t, dir)
	defer s.Close(t.Context())
	for _, name := range []string{"../escape", "a/../../escape", "/tmp/escape", "..", "ok/../../../escape",
		"x/" + strings.Repeat("long-", 100) + "name"} {
		s.Files().Put(t.Context(), name, strings.NewReader("x")) // the error is storetest's business
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Dir(p) != filepath.Join(dir, "files") && filepath.Dir(p) != dir {
			t.Errorf("file written outside %s/files: %s", dir, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "crawlhub.db")); err != nil {
		t.Errorf("database file: %v", err)
	}
}

// TestNewerSchema checks that an old binary refuses a database migrated by a
// newer one instead of corrupting it.
func TestNewerSchema(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	db := sqlite.DBForTest(s.(*sqlite.Store))
	if _, err := db.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close(t.Context())
	if s, err := sqlite.Open(t.Context(), dir); err == nil {
		s.Close(t.Context())
		t.Fatal("Open accepted a database from the future")
	}
}
