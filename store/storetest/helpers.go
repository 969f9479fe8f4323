package storetest

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
)

// Fixtures and assertions shared by the suite.

func node(name string) *store.Node {
	now := store.Now()
	return &store.Node{
		ID: store.NewID(), Name: name, Hostname: name + ".example", IP: "10.0.0.1",
		MAC: "02:00:00:00:00:01", OS: "linux", Arch: "amd64", Version: "v0.1.0",
		Status: store.NodeOnline, LastSeen: now, Created: now.Add(-time.Minute),
	}
}

func newSpider(name string) *store.Spider {
	now := store.Now()
	return &store.Spider{
		ID: store.NewID(), Name: name, Command: "scrapy crawl " + name,
		Env:  map[string]string{"A": "1", "LANG": "C.UTF-8"},
		File: "spiders/" + name + ".zip", MD5: strings.Repeat("a", 32), Size: 1234,
		Created: now, Updated: now,
	}
}

func newTask(sp *store.Spider, nodeID string, created time.Time) *store.Task {
	return &store.Task{
		ID: store.NewID(), SpiderID: sp.ID, SpiderName: sp.Name, NodeID: nodeID,
		Mode: "any", Status: store.TaskPending, Command: sp.Command, Params: "-a page=2",
		Env: map[string]string{"X": "y"}, Timeout: 3600, Reason: "waiting for a node",
		CreatedBy: "alice", Created: created,
	}
}

func numbered(prefix string, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("%s line %d", prefix, i)
	}
	return lines
}

func ptr[T any](v T) *T { return &v }

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// ---- helpers

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isErr(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func put(t testing.TB, s store.Store, name string, data []byte) {
	t.Helper()
	sum, size, err := s.Files().Put(t.Context(), name, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
	want := md5.Sum(data)
	if sum != hex.EncodeToString(want[:]) || size != int64(len(data)) {
		t.Fatalf("Put(%q) = %s, %d; want %x, %d", name, sum, size, want, len(data))
	}
}

func readFile(t testing.TB, s store.Store, name string) []byte {
	t.Helper()
	rc, err := s.Files().Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return data
}

func equalBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes (md5 %x), want %d bytes (md5 %x)", len(got), md5.Sum(got), len(want), md5.Sum(want))
	}
}

func checkLog(t testing.TB, s store.Store, id string, want []string) {
	t.Helper()
	n, err := s.Logs().LogLen(t.Context(), id)
	must(t, err)
	if n != int64(len(want)) {
		t.Fatalf("LogLen = %d, want %d", n, len(want))
	}
	got, err := s.Logs().ReadLog(t.Context(), id, 0, len(want)+10)
	must(t, err)
	equalLines(t, got, want)
}

func equalLines(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("line %d = %.80q, want %.80q", i, got[i], want[i])
		}
	}
}

// utc normalises a time the way the store promises to keep it, and checks
// the store handed it back in UTC.
func utc(t testing.TB, field string, tm *time.Time) {
	t.Helper()
	if !tm.IsZero() && tm.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", field, tm.Location())
	}
	*tm = tm.UTC().Truncate(time.Millisecond)
}

func env(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func equalNode(t testing.TB, got, want *store.Node) {
	t.Helper()
	g, w := *got, *want
	utc(t, "LastSeen", &g.LastSeen)
	utc(t, "Created", &g.Created)
	w.LastSeen, w.Created = w.LastSeen.UTC().Truncate(time.Millisecond), w.Created.UTC().Truncate(time.Millisecond)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("node\n got %+v\nwant %+v", g, w)
	}
}

func equalSpider(t testing.TB, got, want *store.Spider) {
	t.Helper()
	g, w := *got, *want
	utc(t, "Created", &g.Created)
	utc(t, "Updated", &g.Updated)
	w.Created, w.Updated = w.Created.UTC().Truncate(time.Millisecond), w.Updated.UTC().Truncate(time.Millisecond)
	g.Env, w.Env = env(g.Env), env(w.Env)
	if len(g.DedupKeys) == 0 && len(w.DedupKeys) == 0 {
		g.DedupKeys, w.DedupKeys = nil, nil
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("spider\n got %+v\nwant %+v", g, w)
	}
}

func equalTask(t testing.TB, got, want *store.Task) {
	t.Helper()
	g, w := *got, *want
	for _, f := range []struct {
		name string
		g, w *time.Time
	}{{"Created", &g.Created, &w.Created}, {"Started", &g.Started, &w.Started}, {"Finished", &g.Finished, &w.Finished}} {
		utc(t, f.name, f.g)
		*f.w = f.w.UTC().Truncate(time.Millisecond)
	}
	g.Env, w.Env = env(g.Env), env(w.Env)
	if (g.ExitCode == nil) != (w.ExitCode == nil) || g.ExitCode != nil && *g.ExitCode != *w.ExitCode {
		t.Fatalf("task %s ExitCode = %v, want %v", w.ID, deref(g.ExitCode), deref(w.ExitCode))
	}
	g.ExitCode, w.ExitCode = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("task\n got %+v\nwant %+v", g, w)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func names(nodes []store.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func taskIDs(tasks []store.Task) []string {
	var out []string
	for _, task := range tasks {
		out = append(out, task.ID)
	}
	return out
}

func countName(spiders []store.Spider, name string) int {
	c := 0
	for _, sp := range spiders {
		if sp.Name == name {
			c++
		}
	}
	return c
}
