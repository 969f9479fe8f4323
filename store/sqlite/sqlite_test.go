package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
	"github.com/crawlhub/crawlhub/store/storetest"
)

// TestMain fails the run if a test leaves goroutines behind: a store must
// stop everything it started when it is closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t testing.TB, dir string) store.Store {
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

func TestAtomic(t *testing.T) {
	storetest.RunAtomic(t, func(t *testing.T) store.Store { return open(t, t.TempDir()) })
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

// TestMigrateKeepsTasks opens a database as the first schema left it, with
// a task in it, and checks that the upgrade keeps the task (as fired by no
// schedule) and brings schedules.
func TestMigrateKeepsTasks(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "crawlhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	id, spiderID := store.NewID(), store.NewID()
	for _, q := range []string{
		sqlite.MigrationsForTest[0],
		"PRAGMA user_version = 1",
		`INSERT INTO tasks (id, spider_id, spider_name, node_id, mode, status, command, params, env, timeout,
			exit_code, reason, log_lines, created, started, finished)
			VALUES ('` + id + `', '` + spiderID + `', 'old', '', 'any', 'finished', 'run', '', '{}', 0,
			0, '', 3, 1700000000000, 1700000001000, 1700000002000)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, dir)
	defer s.Close(ctx)
	task, err := s.Tasks().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.ScheduleID != "" || task.SpiderName != "old" || task.LogLines != 3 || task.Finished.UnixMilli() != 1700000002000 {
		t.Errorf("task after the upgrade: %+v", task)
	}
	// Migration 5 counted the task that had ended in the overview's
	// rollups, once: the Update below does not count it again.
	checkStats := func() {
		t.Helper()
		end := time.UnixMilli(1700000002000)
		st, err := s.Stats().TaskStats(ctx, store.StatsQuery{From: end.Add(-time.Hour), To: end.Add(time.Hour), Bucket: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if st.Totals[store.TaskFinished] != 1 || len(st.Spiders) != 1 || st.Spiders[0].SpiderName != "old" ||
			st.Spiders[0].AvgSeconds != 1 || st.Spiders[0].P95Seconds != 1 {
			t.Errorf("stats after the upgrade: %+v", st)
		}
	}
	checkStats()
	defer checkStats()
	tasks, total, err := s.Tasks().List(ctx, store.TaskFilter{ScheduleID: store.NewID()})
	if err != nil || total != 0 || len(tasks) != 0 {
		t.Errorf("tasks of an unknown schedule: %d (total %d, %v), want none", len(tasks), total, err)
	}
	sc := &store.Schedule{ID: store.NewID(), Name: "after upgrade", SpiderID: spiderID, Cron: "@daily"}
	if err := s.Schedules().Create(ctx, sc); err != nil {
		t.Fatal(err)
	}
	task.ScheduleID = sc.ID
	if err := s.Tasks().Update(ctx, task); err != nil {
		t.Fatal(err)
	}
	tasks, total, err = s.Tasks().List(ctx, store.TaskFilter{ScheduleID: sc.ID})
	if err != nil || total != 1 || len(tasks) != 1 || tasks[0].ID != id {
		t.Errorf("tasks of the schedule: %d (total %d, %v), want the old task", len(tasks), total, err)
	}
	var version int
	if err := sqlite.DBForTest(s.(*sqlite.Store)).QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != len(sqlite.MigrationsForTest) {
		t.Errorf("schema version %d after the upgrade, want %d", version, len(sqlite.MigrationsForTest))
	}
}

// TestScheduleTasksIndexed checks that a page of one schedule's tasks,
// newest first, is read from an index in order, not by sorting every task
// of the schedule (or scanning every task).
func TestScheduleTasksIndexed(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close(t.Context())
	rows, err := sqlite.DBForTest(s.(*sqlite.Store)).QueryContext(t.Context(), `EXPLAIN QUERY PLAN
		SELECT * FROM tasks WHERE schedule_id = ? ORDER BY created DESC, id DESC LIMIT 20 OFFSET 40`, store.NewID())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "; ")
	if !strings.Contains(all, "USING INDEX tasks_schedule (schedule_id=?)") || strings.Contains(all, "TEMP B-TREE") {
		t.Errorf("query plan %q: want a search of tasks_schedule and no sort", all)
	}
}

// TestMigrateToUsers opens a database as the schema before users left it,
// with a task in it, and checks that the upgrade keeps the task (run by
// nobody known) and brings users, credentials and the audit log.
func TestMigrateToUsers(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "crawlhub.db"))
	if err != nil {
		t.Fatal(err)
	}
	id := store.NewID()
	for _, q := range append(slices.Clone(sqlite.MigrationsForTest[:3]),
		"PRAGMA user_version = 3",
		`INSERT INTO tasks (id, spider_id, spider_name, node_id, mode, status, command, params, env, timeout,
			exit_code, reason, log_lines, created, started, finished)
			VALUES ('`+id+`', '`+store.NewID()+`', 'old', '', 'any', 'cancelled', 'run', '', '{}', 0,
			NULL, 'cancelled', 0, 1700000000000, 0, 1700000002000)`,
	) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.40s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, dir)
	defer s.Close(ctx)
	task, err := s.Tasks().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.CreatedBy != "" || task.CancelledBy != "" || task.SpiderName != "old" {
		t.Errorf("task after the upgrade: %+v", task)
	}
	task.CancelledBy = "admin"
	if err := s.Tasks().Update(ctx, task); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Tasks().Get(ctx, id); err != nil || got.CancelledBy != "admin" {
		t.Errorf("CancelledBy after an update: %q, %v", got.CancelledBy, err)
	}
	u := &store.User{ID: store.NewID(), Username: "admin", Role: "admin"}
	if err := s.Users().Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.Users().Create(ctx, &store.User{ID: store.NewID(), Username: "admin"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second admin after the upgrade: %v, want ErrConflict", err)
	}
	c := &store.Credential{ID: store.NewID(), Kind: store.CredentialToken, UserID: u.ID, Hash: "ab"}
	if err := s.Credentials().Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit().Append(ctx, &store.AuditEntry{ID: store.NewID(), Action: "user.create"}); err != nil {
		t.Fatal(err)
	}
}

// TestAuthLookupsIndexed checks that the lookups done on every request (a
// credential by hash, a user by name) and a page of the newest audit
// entries read an index, not the whole table.
func TestAuthLookupsIndexed(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close(t.Context())
	for _, tc := range []struct{ query, want string }{
		{`SELECT * FROM credentials WHERE hash = 'x'`, "USING INDEX sqlite_autoindex_credentials_2 (hash=?)"},
		{`SELECT * FROM users WHERE username = 'x'`, "USING INDEX sqlite_autoindex_users_2 (username=?)"},
		{`SELECT * FROM credentials WHERE user_id = 'x' ORDER BY created DESC, id DESC`, "USING INDEX credentials_user (user_id=?)"},
		{`DELETE FROM credentials WHERE expires > 0 AND expires < 5`, "USING INDEX credentials_expires (expires>? AND expires<?)"},
		{`SELECT * FROM audit ORDER BY time DESC, id DESC LIMIT 50`, "USING INDEX audit_time"},
		{`SELECT * FROM audit WHERE user_id = 'x' ORDER BY time DESC, id DESC LIMIT 50`, "USING INDEX audit_user (user_id=?)"},
	} {
		plan := queryPlan(t, s, tc.query)
		if !strings.Contains(plan, tc.want) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("query plan of %s: %q, want %q and no sort", tc.query, plan, tc.want)
		}
	}
}

func queryPlan(t *testing.T, s store.Store, query string) string {
	t.Helper()
	rows, err := sqlite.DBForTest(s.(*sqlite.Store)).QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
