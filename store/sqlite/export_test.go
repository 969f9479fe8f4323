package sqlite

import "database/sql"

// DBForTest exposes the writer connection to tests that tamper with the
// database.
func DBForTest(s *Store) *sql.DB { return s.w.DB }

// MigrationsForTest are the schema migrations, for tests that build a
// database as an older crawlhub left it.
var MigrationsForTest = migrations
