package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/auth"
	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// logLines is a log that says when a line containing a phrase arrives.
type logLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	found chan struct{}
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if l.want != "" && strings.Contains(l.buf.String(), l.want) {
		l.want = ""
		close(l.found)
	}
	return len(p), nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogLines(want string) *logLines { return &logLines{want: want, found: make(chan struct{})} }

func openStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(context.Background()) })
	return st
}

// The retention sweep deletes entries older than the configured age, zero
// meaning 90 days, and stops with its context.
func TestAuditRetention(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retention  time.Duration
		old, young time.Duration // ages of two entries
	}{
		{"configured", time.Hour, 2 * time.Hour, 30 * time.Minute},
		{"zero means 90 days", 0, 91 * 24 * time.Hour, 89 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t)
			ctx := context.Background()
			for _, age := range []time.Duration{tc.old, tc.young} {
				e := &store.AuditEntry{ID: store.NewID(), Time: store.Now().Add(-age), Actor: "alice", Action: AuditTaskRun, Target: age.String()}
				if err := st.Audit().Append(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			logs := newLogLines("old audit entries deleted")
			s := &Server{cfg: Config{AuditRetention: tc.retention}, store: st, log: slog.New(slog.NewTextHandler(logs, nil))}
			sctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); s.expireAudit(sctx) }()
			select {
			case <-logs.found:
			case <-time.After(15 * time.Second):
				t.Fatalf("no sweep: %s", logs)
			}
			stop()
			<-done
			left, total, err := st.Audit().List(ctx, store.AuditFilter{})
			if err != nil || total != 1 || left[0].Target != tc.young.String() {
				t.Fatalf("after the sweep: %+v (%d), %v; want only the entry %s old", left, total, err, tc.young)
			}
		})
	}
}

// failingAudit is a store whose audit log refuses every write.
type failingAudit struct{ store.Store }

func (f failingAudit) Audit() store.Audit { return refusingAudit{f.Store.Audit()} }

type refusingAudit struct{ store.Audit }

func (refusingAudit) Append(context.Context, *store.AuditEntry) error {
	return errors.New("disk full")
}

// An audit entry the store refuses is logged in full (never a secret:
// there is none in an entry) instead, and the caller goes on.
func TestAuditWriteFailureIsLogged(t *testing.T) {
	logs := newLogLines("audit entry not stored")
	s := &Server{store: failingAudit{openStore(t)}, log: slog.New(slog.NewTextHandler(logs, nil))}
	ctx := auth.NewContext(context.Background(), auth.Principal{Username: "alice", Role: auth.Operator, Kind: auth.KindToken, TokenName: "ci"})
	s.audit(ctx, AuditTaskCancel, "6b11bff99ded696272499f9b", "enough")
	select {
	case <-logs.found:
	default:
		t.Fatalf("the failure is not in the log: %s", logs)
	}
	for _, f := range []string{"action=task.cancel", `actor="alice (token ci)"`, "target=6b11bff99ded696272499f9b", "detail=enough", `err="disk full"`} {
		if !strings.Contains(logs.String(), f) {
			t.Errorf("log lacks %s: %s", f, logs)
		}
	}
}
