// Package storetest is the conformance suite every store.Store
// implementation must pass. It pins down the semantics store.go documents,
// and a few it leaves open, so that the backends cannot drift apart:
//
//   - Get, Update, Delete, Touch and SetOffline of an unknown id, and
//     Files.Delete of an unknown name, return store.ErrNotFound;
//     Logs.DeleteLog of an unknown task and Schedules.Record of an unknown
//     schedule are no-ops.
//   - Creating an id that exists is store.ErrConflict, as a taken spider
//     or schedule name is; ids must be store.ValidID.
//   - "up to limit" (Tasks.Pending, Logs.ReadLog) with limit <= 0 returns
//     nothing; AppendLog of no lines is a no-op; negative line numbers are
//     errors; a log line may have up to 8 MiB, and a longer one is an error;
//     it may hold any character but '\n', NUL and control characters too.
//   - File names are slash-separated relative paths; empty, absolute, "." or
//     ".." segments are rejected.
//   - Times come back in UTC at millisecond precision; empty maps and
//     lists may come back nil.
//   - Users, credentials and audit entries: Get, GetByName, GetByHash,
//     Update, Touch and Delete of an unknown one are store.ErrNotFound
//     (so a second Delete of a credential is, which makes a ticket single
//     use); a taken username or hash is store.ErrConflict; credentials of
//     an unknown kind or with no hash are refused; a zero time of no
//     expiry never expires.
//   - Items: AppendItems checks every item of a batch before it stores
//     any (store.PrepareItems) and refuses invalid spider or task ids;
//     an item reads back as the same JSON value (MongoDB may re-encode
//     it); SpiderItems with limit <= 0 returns only the total;
//     DeleteItems never makes another task's items current again.
//
// Every error is checked with errors.Is, so implementations may (and
// should) wrap the sentinels with context.
package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Run runs the conformance suite. open must return a store on fresh, empty
// storage; it is called once per subtest, and Run closes what it returns.
func Run(t *testing.T, open func(t *testing.T) store.Store) { run(t, open, nil) }

// RunOnly runs the named tests of the suite (as Run names its subtests),
// for a store with a second way of doing some things.
func RunOnly(t *testing.T, open func(t *testing.T) store.Store, names ...string) {
	known := map[string]bool{}
	for _, tt := range suite() {
		known[tt.name] = true
	}
	want := map[string]bool{}
	for _, n := range names {
		if !known[n] {
			t.Fatalf("storetest: no test %q", n)
		}
		want[n] = true
	}
	run(t, open, want)
}

type conformanceTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

func suite() []conformanceTest {
	return []conformanceTest{
		{"Ping", testPing},
		{"NodeRegister", testNodeRegister},
		{"NodeNotFound", testNodeNotFound},
		{"NodeList", testNodeList},
		{"NodeTouchOffline", testNodeTouchOffline},
		{"NodeMarkStale", testNodeMarkStale},
		{"SpiderCRUD", testSpiderCRUD},
		{"SpiderConflict", testSpiderConflict},
		{"SpiderList", testSpiderList},
		{"TaskCRUD", testTaskCRUD},
		{"TaskList", testTaskList},
		{"TaskPending", testTaskPending},
		{"TaskScheduleID", testTaskScheduleID},
		{"TaskListBySchedule", testTaskListBySchedule},
		{"TaskDuplicate", testTaskDuplicate},
		{"TaskUpdateIf", testTaskUpdateIf},
		{"ScheduleCRUD", testScheduleCRUD},
		{"ScheduleNotFound", testScheduleNotFound},
		{"ScheduleConflict", testScheduleConflict},
		{"ScheduleList", testScheduleList},
		{"ScheduleRecord", testScheduleRecord},
		{"ScheduleRecordMany", testScheduleRecordMany},
		{"TaskCreateMany", testTaskCreateMany},
		{"TaskActive", testTaskActive},
		{"ScheduleRoundTrip", testScheduleRoundTrip},
		{"ScheduleBadIDs", testScheduleBadIDs},
		{"ScheduleCancelledContext", testScheduleCancelledContext},
		{"BadIDs", testBadIDs},
		{"Files", testFiles},
		{"FileNames", testFileNames},
		{"FileLarge", testFileLarge},
		{"LogAppend", testLogAppend},
		{"LogRead", testLogRead},
		{"LogLarge", testLogLarge},
		{"LogBigLines", testLogBigLines},
		{"LogScan", testLogScan},
		{"LogBinaryLines", testLogBinaryLines},
		{"TaskLogLevels", testTaskLogLevels},
		{"Concurrent", testConcurrent},
		{"CancelledContext", testCancelledContext},
		{"ItemRoundTrip", testItemRoundTrip},
		{"ItemAppend", testItemAppend},
		{"ItemConcurrent", testItemConcurrent},
		{"ItemDedupIgnore", testItemDedupIgnore},
		{"ItemDedupOverwrite", testItemDedupOverwrite},
		{"ItemDedupConcurrent", testItemDedupConcurrent},
		{"SpiderItems", testSpiderItems},
		{"EachItem", testEachItem},
		{"DeleteItems", testDeleteItems},
		{"ItemCancelledContext", testItemCancelledContext},
		{"UserCRUD", testUserCRUD},
		{"UserConflict", testUserConflict},
		{"UserList", testUserList},
		{"CredentialCRUD", testCredentialCRUD},
		{"CredentialConflict", testCredentialConflict},
		{"CredentialList", testCredentialList},
		{"CredentialSingleUse", testCredentialSingleUse},
		{"CredentialDeleteMatching", testCredentialDeleteMatching},
		{"CredentialDeleteExpired", testCredentialDeleteExpired},
		{"AuditList", testAuditList},
		{"AuditDeleteBefore", testAuditDeleteBefore},
		{"NodeMetricsAdd", testNodeMetricsAdd},
		{"NodeMetricsRange", testNodeMetricsRange},
		{"NodeMetricsExpire", testNodeMetricsExpire},
		{"NodeMetricsRecord", testNodeMetricsRecord},
		{"WebhookCRUD", testWebhookCRUD},
		{"WebhookDeliveries", testWebhookDeliveries},
		{"WebhookDue", testWebhookDue},

		{"StatsCounts", testStatsCounts},
		{"StatsP95", testStatsP95},
		{"StatsOnce", testStatsOnce},
		{"StatsCorrectedAfterFold", testStatsCorrectedAfterFold},
		{"StatsWindows", testStatsWindows},
		{"StatsNow", testStatsNow},
	}
}

// run runs the tests of the suite that only names (all when nil).
func run(t *testing.T, open func(t *testing.T) store.Store, only map[string]bool) {
	for _, tt := range suite() {
		if only != nil && !only[tt.name] {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				// t.Context is already cancelled when cleanups run.
				if err := s.Close(context.Background()); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// RunReopen checks that everything a store wrote is read back by a new
// store on the same storage after Close, as after a restart. open returns a
// store on fresh storage and a function that opens that same storage again;
// RunReopen closes both stores.
func RunReopen(t *testing.T, open func(t *testing.T) (store.Store, func(t *testing.T) store.Store)) {
	ctx := t.Context()
	s, reopen := open(t)
	closed := false
	t.Cleanup(func() {
		if closed {
			return
		}
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})

	n := node("persist")
	spider := newSpider("persist")
	sched := newSchedule("persist", spider)
	task := newTask(spider, n.ID, store.Now())
	task.ScheduleID = sched.ID
	task.Status = store.TaskFinished
	task.ExitCode = ptr(3)
	task.Started, task.Finished = store.Now(), store.Now().Add(time.Second)
	task.ItemCount, task.ItemStats = 9, store.ItemCounts{New: 5, Ignored: 3, Overwritten: 1}
	spider.DedupKeys, spider.Dedup = []string{"url", "page"}, store.DedupOverwrite
	user := newUser("persist", "admin")
	cred := newCredential(store.CredentialSession, user.ID, store.Now())
	cred.CSRF, cred.Expires, cred.LastUsed = "csrf", store.Now().Add(time.Hour), store.Now()
	entry := &store.AuditEntry{ID: store.NewID(), Time: store.Now(), Actor: "persist", UserID: user.ID,
		CredentialID: cred.ID, Address: "192.0.2.1", Action: "auth.login", Target: user.ID, Detail: "signed in"}
	task.CancelledBy = "persist"
	lines := numbered("persist", 1234)
	items := itemsOf("persist", 1234)
	blob := []byte("persisted archive")

	must(t, s.Nodes().Register(ctx, n))
	must(t, s.Spiders().Create(ctx, spider))
	must(t, s.Tasks().Create(ctx, task))
	must(t, s.Schedules().Create(ctx, sched))
	must(t, s.Schedules().Record(ctx, store.Outcome{ScheduleID: sched.ID, At: task.Created, TaskID: task.ID}))
	sched.LastFire, sched.LastTaskID = task.Created, task.ID
	must(t, s.Users().Create(ctx, user))
	must(t, s.Credentials().Create(ctx, cred))
	must(t, s.Audit().Append(ctx, entry))
	must(t, s.Logs().AppendLog(ctx, task.ID, 0, lines))
	_, err := s.Items().AppendItems(ctx, spider.ID, task.ID, 0, items, store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore})
	must(t, err)
	_, _, err = s.Files().Put(ctx, "spiders/persist.zip", bytes.NewReader(blob))
	must(t, err)
	closed = true
	must(t, s.Close(ctx))

	s = reopen(t)
	closed = false

	gotNode, err := s.Nodes().Get(ctx, n.ID)
	must(t, err)
	equalNode(t, gotNode, n)
	gotSpider, err := s.Spiders().Get(ctx, spider.ID)
	must(t, err)
	equalSpider(t, gotSpider, spider)
	gotTask, err := s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, gotTask, task)
	byschedule, total, err := s.Tasks().List(ctx, store.TaskFilter{ScheduleID: sched.ID})
	must(t, err)
	if total != 1 || len(byschedule) != 1 || byschedule[0].ID != task.ID {
		t.Errorf("tasks of the schedule: %v (total %d), want [%s]", taskIDs(byschedule), total, task.ID)
	}
	gotUser, err := s.Users().GetByName(ctx, user.Username)
	must(t, err)
	equalUser(t, gotUser, user)
	gotCred, err := s.Credentials().GetByHash(ctx, cred.Hash)
	must(t, err)
	equalCredential(t, gotCred, cred)
	entries, _, err := s.Audit().List(ctx, store.AuditFilter{})
	must(t, err)
	if len(entries) != 1 {
		t.Fatalf("%d audit entries after reopening, want 1", len(entries))
	}
	equalAudit(t, &entries[0], entry)
	checkSchedule(t, s, sched)
	gotLines, err := s.Logs().ReadLog(ctx, task.ID, 0, len(lines)+10)
	must(t, err)
	equalLines(t, gotLines, lines)
	checkItems(t, s, spider.ID, task.ID, items)
	if _, total, err := s.Items().SpiderItems(ctx, spider.ID, 0, 0); err != nil || total != int64(len(items)) {
		t.Errorf("spider's items after reopening: %d, %v; want %d", total, err, len(items))
	}
	// Deduplication goes on where it was.
	c, err := s.Items().AppendItems(ctx, spider.ID, task.ID, int64(len(items)), items[:1], store.Dedup{Keys: []string{"url"}, Policy: store.DedupIgnore})
	must(t, err)
	if c != (store.ItemCounts{Ignored: 1}) {
		t.Errorf("an item with a stored key after reopening: %+v, want ignored", c)
	}
	equalBytes(t, readFile(t, s, "spiders/persist.zip"), blob)
}
