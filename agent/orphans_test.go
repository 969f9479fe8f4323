package agent_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// The log of a task its agent died running is counted whole when the agent
// starts again: the abnormal task has the levels of every line, not only
// of those reported before the crash, and the Scrapy stats its log ended
// with.
func TestOrphanedLogCountedAtRestart(t *testing.T) {
	data := t.TempDir()
	var task store.Task
	n := startNode(t, config{dataDir: data, before: func(n *node) {
		task = n.queue(n.spider("died", "true\n"))
		// While it ran, one error had been reported.
		task.Status, task.LogLevels = store.TaskRunning, store.LogLevels{Error: 1}
		if err := n.st.Tasks().Update(n.ctx, &task); err != nil {
			t.Fatal(err)
		}
		log := "2026-12-03 22:42:07 [spider] ERROR: the first\n" +
			"2026-12-03 22:42:08 [spider] WARNING: slow\n" +
			"2026-12-03 22:42:09 [spider] ERROR: the second, after the last report\n" +
			"2026-12-03 22:42:10 [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n" +
			"{'item_scraped_count': 12,\n" +
			" 'log_count/ERROR': 2}\n"
		os.MkdirAll(filepath.Join(data, "running"), 0o755)
		os.MkdirAll(filepath.Join(data, "logs"), 0o755)
		os.WriteFile(filepath.Join(data, "running", task.ID), []byte("0 0\n"), 0o644)
		os.WriteFile(filepath.Join(data, "logs", task.ID+".log"), []byte(log), 0o644)
	}})
	ts := n.taskStatus(task.ID, store.TaskAbnormal)
	if ts.LogLevels.Error != 2 || ts.LogLevels.Warning != 1 || ts.LogLines != 6 {
		t.Errorf("task_status: levels %+v, %d lines; want 2 errors, 1 warning, 6 lines", ts.LogLevels, ts.LogLines)
	}
	rec, err := n.st.Tasks().Get(n.ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.LogLevels != (store.LogLevels{Error: 2, Warning: 1}) || rec.ScrapyStats["item_scraped_count"] != float64(12) {
		t.Errorf("task record: levels %+v, scrapy stats %v; want 2 errors, 1 warning and the dumped stats", rec.LogLevels, rec.ScrapyStats)
	}
}
