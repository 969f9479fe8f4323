package storetest

import (
	"testing"

	"github.com/crawlhub/crawlhub/store"
)

// A task's log levels and Scrapy stats: stored while it runs and at its
// end, read back by Get and List; a task without stats has none.
func testTaskLogLevels(t *testing.T, s store.Store) {
	ctx := t.Context()
	sp := newSpider("levels")
	task := newTask(sp, "", store.Now())
	must(t, s.Tasks().Create(ctx, task))
	got, err := s.Tasks().Get(ctx, task.ID)
	must(t, err)
	if got.LogLevels != (store.LogLevels{}) || got.ScrapyStats != nil {
		t.Fatalf("a new task has levels %+v and stats %v, want none", got.LogLevels, got.ScrapyStats)
	}

	upd := *task
	upd.Status, upd.NodeID, upd.Started = store.TaskRunning, store.NewID(), store.Now()
	must(t, s.Tasks().UpdateIf(ctx, &upd, store.TaskPending))
	upd.LogLines, upd.LogLevels = 1000, store.LogLevels{Error: 3, Warning: 7}
	must(t, s.Tasks().UpdateIf(ctx, &upd, store.TaskRunning))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &upd)

	upd.Status, upd.Finished, upd.ExitCode = store.TaskFinished, store.Now(), ptr(0)
	upd.LogLevels = store.LogLevels{Error: 5_000_000_000, Warning: 8}
	// Scrapy's stats as the agent parses them: numbers are float64, times
	// ISO text; values are flat.
	upd.ScrapyStats = map[string]any{
		"item_scraped_count":   100.0,
		"elapsed_time_seconds": 1.532,
		"finish_reason":        "finished",
		"start_time":           "2026-12-03T22:42:07.591000Z",
		"log_count/ERROR":      5.0,
		"flag":                 true,
	}
	must(t, s.Tasks().UpdateIf(ctx, &upd, store.TaskRunning))
	got, err = s.Tasks().Get(ctx, task.ID)
	must(t, err)
	equalTask(t, got, &upd)

	list, _, err := s.Tasks().List(ctx, store.TaskFilter{SpiderID: sp.ID})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("List = %d tasks, want 1", len(list))
	}
	equalTask(t, &list[0], &upd)
}
