package agent_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/wire"
)

// TestDataDirIsPrivate: everything the agent makes in its data directory
// is its user's alone (directories 0700, files 0600): the node id, the
// SDK, a running task's log, items spool and pid file, and the spiders'
// directory; a data directory made before with a wider mode is narrowed.
// The files of an extracted spider keep their archive's modes inside it.
func TestDataDirIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, config{dataDir: dir})
	task := n.run(n.spider("private", `printf '{"n":1}\n' | curl -sf -o /dev/null --data-binary @- "$CRAWLHUB_ITEMS_URL"
echo saved
`+forever))
	n.logBatch(task.ID, func(b wire.LogBatch) bool { return slices.Contains(b.Lines, "saved") })
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if parts := strings.Split(rel, string(filepath.Separator)); parts[0] == "spiders" && len(parts) > 1 {
			return fs.SkipDir // the spider's own tree
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if d.Type()&fs.ModeSocket != 0 {
			return nil
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", rel, fi.Mode().Perm(), want)
		}
		seen[rel] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".", "node_id", "spiders", "logs", filepath.Join("logs", task.ID+".log"),
		filepath.Join("logs", task.ID+".items"), "running.journal"} {
		if !seen[p] {
			t.Errorf("%s was not found in the data directory (it holds %v)", p, seen)
		}
	}
	n.send(wire.OpCancelTask, wire.CancelTask{TaskID: task.ID, By: "the test"})
	n.taskStatus(task.ID, store.TaskCancelled)
}
