package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// TestItemsCommand: crawlhub items prints a task's items as NDJSON or CSV,
// from the export or following the task's items channel, against a live
// all-in-one. The items are put in its store directly, as a spider saving
// them would have.
func TestItemsCommand(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	p := startProc(t, "all-in-one", "--listen", "127.0.0.1:0", "--data", data)
	m := p.waitLog(t, regexp.MustCompile(`(http://127\.0\.0\.1:\d+)/\?token=([0-9a-f]+)`), 60*time.Second)
	base, tok := m[1], m[2]
	c := &cluster{t: t, api: newAPI(base, tok)}
	sp := c.spider("shop", "sh run.sh", map[string]string{"run.sh": "echo done"})
	task := c.run(map[string]any{"spider_id": sp.ID})[0]
	c.waitTask(task.ID, 60*time.Second, "finished")

	items := []string{
		`{"url":"https://shop.example/1","price":9.5,"tags":["a","b"]}`,
		`{"url":"https://shop.example/2","title":"Two, \"quoted\"","price":null}`,
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	raw := []json.RawMessage{json.RawMessage(items[0]), json.RawMessage(items[1])}
	if _, err := st.Items().AppendItems(ctx, sp.ID, task.ID, 0, raw, store.Dedup{}); err != nil {
		t.Fatal(err)
	}
	st.Close(ctx)

	run := func(args ...string) (stdout, stderr string, code int) {
		t.Helper()
		cmd := exec.Command(binary, append(args, "--server", base, "--token", tok)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	ndjson := items[0] + "\n" + items[1] + "\n"
	csv := "url,price,tags,title\n" +
		"https://shop.example/1,9.5,\"[\"\"a\"\",\"\"b\"\"]\",\n" +
		"https://shop.example/2,,,\"Two, \"\"quoted\"\"\"\n"
	// Following fixes the columns at the first item's keys.
	csvFollowed := "url,price,tags\n" +
		"https://shop.example/1,9.5,\"[\"\"a\"\",\"\"b\"\"]\"\n" +
		"https://shop.example/2,,\n"
	for _, tc := range []struct {
		args      []string
		out       string
		code      int
		stderrHas string
	}{
		{args: []string{"items", task.ID}, out: ndjson},
		{args: []string{"items", "--format", "csv", task.ID}, out: csv},
		{args: []string{"items", "-f", task.ID}, out: ndjson, stderrHas: "task " + task.ID + " finished"},
		{args: []string{"items", "-f", "--format", "csv", task.ID}, out: csvFollowed, stderrHas: `key "title" first seen after the CSV header`},
		{args: []string{"items", "--format", "xml", task.ID}, code: 1, stderrHas: "--format xml: use ndjson or csv"},
		{args: []string{"items", "ffffffffffffffffffffffff"}, code: 1, stderrHas: "no task has id ffffffffffffffffffffffff (HTTP 404)"},
		{args: []string{"items", "-f", "ffffffffffffffffffffffff"}, code: 1, stderrHas: "no task has id ffffffffffffffffffffffff"},
	} {
		out, errOut, code := run(tc.args...)
		if out != tc.out || code != tc.code || !strings.Contains(errOut, tc.stderrHas) {
			t.Errorf("crawlhub %s: exit %d, stdout %q, stderr %q; want exit %d, stdout %q, stderr with %q",
				strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.out, tc.stderrHas)
		}
	}
	if _, _, code := run("items"); code != 2 {
		t.Errorf("crawlhub items without a task: exit %d, want 2", code)
	}
}
