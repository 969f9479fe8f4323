// Package sqlite is the all-in-one store: one SQLite database
// (modernc.org/sqlite, pure Go) plus plain files beside it, under one
// directory. It needs nothing installed and survives restarts.
//
// Writes go through a pool of exactly one connection, reads through a pool
// of several: SQLite allows one writer at a time anyway, and queueing
// writers in Go (instead of letting them collide on the file lock) is what
// keeps concurrent callers from ever seeing SQLITE_BUSY. WAL mode lets the
// readers run while the writer writes.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/crawlhub/crawlhub/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store on SQLite. Safe for concurrent use.
type Store struct {
	w, r  *db // w: the single writer connection; r: readers
	files *files
	once  sync.Once
	err   error
}

// readers is the size of the read pool; more would only contend for the
// machine's cores.
const readers = 4

// Open opens (creating when needed) the store in dir: the database
// dir/crawlhub.db and the blobs under dir/files/. The schema is created or
// migrated before Open returns. The directories are made 0700 and the
// files 0600 (see perm.go).
func Open(ctx context.Context, dir string) (*Store, error) {
	if strings.ContainsAny(dir, "?#") {
		// The driver would read what follows as connection parameters.
		return nil, fmt.Errorf("store: open sqlite in %q: the path may not contain '?' or '#'", dir)
	}
	if err := privateDir(dir); err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	f, err := openFiles(filepath.Join(dir, "files"))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	dbPath := filepath.Join(dir, "crawlhub.db")
	// Made before SQLite would create it with the umask's mode.
	err = errors.Join(privateFile(dbPath), tighten(dbPath+"-wal"), tighten(dbPath+"-shm"))
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	// busy_timeout still matters: another process (a second crawlhub on the
	// same data dir, the sqlite3 shell) may hold the lock. _txlock=immediate
	// takes the write lock at BEGIN, so a transaction that reads before it
	// writes cannot deadlock against another writer.
	dsn := dbPath + "?_busy_timeout=10000&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate"
	s := &Store{files: f}
	if s.w, err = openDB(dsn); err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0) // keep the one connection: reopening costs a schema parse
	if err := migrate(ctx, s.w.DB); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", dir, err)
	}
	// Opened after the migration, so readers never see a half-made schema.
	if s.r, err = openDB(dsn + "&_query_only=1"); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	return s, nil
}

// migrations are applied in order, each once; PRAGMA user_version records
// how many ran. Append, never edit: a released database has run them.
var migrations = []string{
	`CREATE TABLE nodes (
		id        TEXT PRIMARY KEY,
		name      TEXT NOT NULL,
		hostname  TEXT NOT NULL,
		ip        TEXT NOT NULL,
		mac       TEXT NOT NULL,
		os        TEXT NOT NULL,
		arch      TEXT NOT NULL,
		version   TEXT NOT NULL,
		is_master INTEGER NOT NULL,
		status    TEXT NOT NULL,
		last_seen INTEGER NOT NULL, -- Unix milliseconds, as every time here
		created   INTEGER NOT NULL
	);
	CREATE TABLE spiders (
		id      TEXT PRIMARY KEY,
		name    TEXT NOT NULL UNIQUE,
		command TEXT NOT NULL,
		env     TEXT NOT NULL, -- JSON object
		file    TEXT NOT NULL,
		md5     TEXT NOT NULL,
		size    INTEGER NOT NULL,
		created INTEGER NOT NULL,
		updated INTEGER NOT NULL
	);
	CREATE TABLE tasks (
		id          TEXT PRIMARY KEY,
		spider_id   TEXT NOT NULL,
		spider_name TEXT NOT NULL,
		node_id     TEXT NOT NULL,
		mode        TEXT NOT NULL,
		status      TEXT NOT NULL,
		command     TEXT NOT NULL,
		params      TEXT NOT NULL,
		env         TEXT NOT NULL,
		timeout     INTEGER NOT NULL,
		exit_code   INTEGER, -- NULL: none yet
		reason      TEXT NOT NULL,
		log_lines   INTEGER NOT NULL,
		created     INTEGER NOT NULL,
		started     INTEGER NOT NULL,
		finished    INTEGER NOT NULL
	);
	CREATE INDEX tasks_created ON tasks (created, id);
	CREATE INDEX tasks_status ON tasks (status, created, id);
	CREATE TABLE task_logs (
		task_id TEXT NOT NULL,
		n       INTEGER NOT NULL, -- line number from 0
		line    TEXT NOT NULL,
		PRIMARY KEY (task_id, n)
	) WITHOUT ROWID;`,
	// Schedules, the schedule that fired each task ('' for none) and the
	// task it waits for ('' for none).
	// tasks_schedule serves the tasks of one schedule, newest first.
	`CREATE TABLE schedules (
		id               TEXT PRIMARY KEY,
		name             TEXT NOT NULL UNIQUE,
		spider_id        TEXT NOT NULL,
		spider_name      TEXT NOT NULL,
		cron             TEXT NOT NULL,
		timezone         TEXT NOT NULL,
		mode             TEXT NOT NULL,
		node_ids         TEXT NOT NULL, -- JSON array
		params           TEXT NOT NULL,
		env              TEXT NOT NULL, -- JSON object
		timeout          INTEGER NOT NULL,
		overlap          TEXT NOT NULL,
		misfire          TEXT NOT NULL,
		enabled          INTEGER NOT NULL,
		created          INTEGER NOT NULL,
		updated          INTEGER NOT NULL,
		last_fire        INTEGER NOT NULL,
		last_task_id     TEXT NOT NULL,
		last_skip        INTEGER NOT NULL,
		last_skip_reason TEXT NOT NULL
	);
	ALTER TABLE tasks ADD COLUMN schedule_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE tasks ADD COLUMN wait_for TEXT NOT NULL DEFAULT '';
	CREATE INDEX tasks_schedule ON tasks (schedule_id, created, id);`,
	// Items (see items.go), what each task's items came to, and the
	// spider and task fields of items.
	`CREATE TABLE items (
		spider_id TEXT NOT NULL,
		task_id   TEXT NOT NULL,
		n         INTEGER NOT NULL, -- item number in its task, from 0
		data      TEXT NOT NULL,    -- the item, a JSON object
		key       TEXT,             -- dedup key (store.DedupKey); NULL: none
		outcome   TEXT NOT NULL,
		current   INTEGER NOT NULL,
		saved     INTEGER NOT NULL,
		PRIMARY KEY (task_id, n)
	);
	CREATE INDEX items_spider ON items (spider_id, saved, task_id, n) WHERE current = 1;
	CREATE UNIQUE INDEX items_key ON items (spider_id, key) WHERE current = 1 AND key IS NOT NULL;
	CREATE TABLE item_counts (
		task_id     TEXT PRIMARY KEY,
		new         INTEGER NOT NULL,
		ignored     INTEGER NOT NULL,
		overwritten INTEGER NOT NULL
	);
	ALTER TABLE spiders ADD COLUMN dedup_keys TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE spiders ADD COLUMN dedup TEXT NOT NULL DEFAULT '';
	ALTER TABLE tasks ADD COLUMN item_count INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tasks ADD COLUMN items_new INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tasks ADD COLUMN items_ignored INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tasks ADD COLUMN items_overwritten INTEGER NOT NULL DEFAULT 0;`,
	// Users, credentials (see auth.go), the audit log, and who ran and who
	// cancelled each task ('' for tasks from before).
	// credentials_user and credentials_kind serve List newest first;
	// credentials_expires the sweep of expired ones; the audit indexes a
	// page of the newest entries, whole or of one user, action or target.
	`CREATE TABLE users (
		id            TEXT PRIMARY KEY,
		username      TEXT NOT NULL UNIQUE,
		role          TEXT NOT NULL,
		password_hash TEXT NOT NULL,
		disabled      INTEGER NOT NULL,
		created       INTEGER NOT NULL,
		updated       INTEGER NOT NULL
	);
	CREATE TABLE credentials (
		id        TEXT PRIMARY KEY,
		kind      TEXT NOT NULL,
		name      TEXT NOT NULL,
		user_id   TEXT NOT NULL,
		role      TEXT NOT NULL,
		hash      TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret
		csrf      TEXT NOT NULL,
		parent_id TEXT NOT NULL,
		expires   INTEGER NOT NULL,     -- the zero time: never
		last_used INTEGER NOT NULL,
		created   INTEGER NOT NULL
	);
	CREATE INDEX credentials_user ON credentials (user_id, created, id);
	CREATE INDEX credentials_kind ON credentials (kind, created, id);
	CREATE INDEX credentials_expires ON credentials (expires);
	CREATE TABLE audit (
		id            TEXT PRIMARY KEY,
		time          INTEGER NOT NULL,
		actor         TEXT NOT NULL,
		user_id       TEXT NOT NULL,
		credential_id TEXT NOT NULL,
		address       TEXT NOT NULL,
		action        TEXT NOT NULL,
		target        TEXT NOT NULL,
		detail        TEXT NOT NULL
	);
	CREATE INDEX audit_time ON audit (time, id);
	CREATE INDEX audit_user ON audit (user_id, time, id);
	CREATE INDEX audit_action ON audit (action, time, id);
	CREATE INDEX audit_target ON audit (target, time, id);
	ALTER TABLE tasks ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
	ALTER TABLE tasks ADD COLUMN cancelled_by TEXT NOT NULL DEFAULT '';`,
	// 5: task stats (the overview's rollups, see stats.go).
	statsMigration(),
	// 6: node metrics (each node's history). One row per (node,
	// resolution in seconds, slot start in ms), replaced whole on write.
	`CREATE TABLE node_metrics (
		node_id    TEXT NOT NULL,
		res        INTEGER NOT NULL,
		at         INTEGER NOT NULL,
		cpu        REAL NOT NULL,
		mem_used   INTEGER NOT NULL,
		mem_total  INTEGER NOT NULL,
		disk_used  INTEGER NOT NULL,
		disk_total INTEGER NOT NULL,
		net_rx     REAL NOT NULL,
		net_tx     REAL NOT NULL,
		load1      REAL NOT NULL,
		PRIMARY KEY (node_id, res, at)
	) WITHOUT ROWID;
	CREATE INDEX node_metrics_expiry ON node_metrics (res, at);`,
	// 7: log levels and Scrapy stats on tasks.
	`ALTER TABLE tasks ADD COLUMN log_errors INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tasks ADD COLUMN log_warnings INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE tasks ADD COLUMN scrapy_stats TEXT NOT NULL DEFAULT '';`,
	// 8: webhooks and their deliveries. deliveries_webhook serves a
	// webhook's newest deliveries; deliveries_due the deliveries waiting
	// for an attempt (a partial index: final ones, nearly all of them,
	// are not in it); deliveries_updated the sweep of old final ones.
	`CREATE TABLE webhooks (
		id         TEXT PRIMARY KEY,
		name       TEXT NOT NULL,
		kind       TEXT NOT NULL,
		url        TEXT NOT NULL,
		recipients TEXT NOT NULL, -- a JSON array
		events     TEXT NOT NULL, -- a JSON array
		spider_ids TEXT NOT NULL, -- a JSON array
		secret     TEXT NOT NULL,
		format     TEXT NOT NULL,
		enabled    INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		created    INTEGER NOT NULL,
		updated    INTEGER NOT NULL
	);
	CREATE TABLE deliveries (
		id         TEXT PRIMARY KEY,
		webhook_id TEXT NOT NULL,
		event      TEXT NOT NULL,
		payload    BLOB NOT NULL,
		status     TEXT NOT NULL,
		attempts   INTEGER NOT NULL,
		next       INTEGER NOT NULL,
		last_error TEXT NOT NULL,
		response   INTEGER NOT NULL,
		created    INTEGER NOT NULL,
		updated    INTEGER NOT NULL
	);
	CREATE INDEX deliveries_webhook ON deliveries (webhook_id, created, id);
	CREATE INDEX deliveries_due ON deliveries (next) WHERE status IN ('pending', 'retrying');
	CREATE INDEX deliveries_updated ON deliveries (updated);`,
}

func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this crawlhub knows (%d): upgrade crawlhub", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) Nodes() store.Nodes             { return (*nodes)(s) }
func (s *Store) Spiders() store.Spiders         { return (*spiders)(s) }
func (s *Store) Tasks() store.Tasks             { return (*tasks)(s) }
func (s *Store) Files() store.Files             { return s.files }
func (s *Store) Logs() store.Logs               { return (*logs)(s) }
func (s *Store) Schedules() store.Schedules     { return (*schedules)(s) }
func (s *Store) Items() store.Items             { return (*items)(s) }
func (s *Store) Users() store.Users             { return (*users)(s) }
func (s *Store) Credentials() store.Credentials { return (*credentials)(s) }
func (s *Store) Audit() store.Audit             { return (*audit)(s) }

// Ping checks that the database answers a query.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database. Calls after the first return its result.
func (s *Store) Close(context.Context) error {
	s.once.Do(func() {
		s.err = errors.Join(s.r.Close(), s.w.Close())
		if s.err != nil {
			s.err = fmt.Errorf("store: close sqlite: %w", s.err)
		}
	})
	return s.err
}

// ---- helpers shared by the aggregates

// ms and fromMS convert times to the stored form, Unix milliseconds: the
// store's precision, sortable and comparable in SQL. The zero time maps to
// a (very negative) number and back to the zero time.
func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

func toJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

func fromJSON(s string) (map[string]string, error) {
	var m map[string]string
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, nil
	}
	return m, nil
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation.
func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// rows is how many rows a statement changed.
func rows(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// affected turns "no row matched" into ErrNotFound.
func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

func checkID(id string) error {
	if !store.ValidID(id) {
		return fmt.Errorf("invalid id %q: want 24 hex digits (store.NewID)", id)
	}
	return nil
}
