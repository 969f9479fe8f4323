package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// The store's directories are 0700 and its files 0600: the database holds
// password and token hashes and the blobs are the spiders' code, none of
// which other users of the machine should read. SQLite creates its -wal
// and -shm files with the database file's mode, and blobs are written
// through os.CreateTemp (0600), so making the directories and the database
// file private is enough for new stores; an existing store, made by a
// crawlhub that did not, is tightened when it is opened.

// privateDir creates dir (and missing parents) 0700, and takes the group's
// and others' permissions off it if it exists and has some.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return tighten(dir)
}

// privateFile creates the file p empty with mode 0600 if it does not
// exist, and otherwise tightens it like privateDir.
func privateFile(p string) error {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	return tighten(p)
}

// tighten removes the group's and others' permissions from p, if it
// exists; a missing p is not an error.
func tighten(p string) error {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(p, perm&^0o077); err != nil {
			return fmt.Errorf("%s is open to other users (mode %04o) and cannot be made private: %w", p, perm, err)
		}
	}
	return nil
}
