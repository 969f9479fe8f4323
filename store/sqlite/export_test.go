package sqlite

import "database/sql"

// DBForTest exposes the writer connection to tests that tamper with the
// database.
func DBForTest(s *Store) *sql.DB { return s.w }
