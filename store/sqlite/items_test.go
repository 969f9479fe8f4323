package sqlite_test

import (
	"strings"
	"testing"

	"github.com/crawlhub/crawlhub/store"
	"github.com/crawlhub/crawlhub/store/sqlite"
)

// TestItemsIndexed checks that the item queries whose cost would otherwise
// grow with every item stored read an index in order: a task's items, a
// spider's newest first (its first page and the pages after a cursor), and
// the dedup lookup.
func TestItemsIndexed(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close(t.Context())
	db := sqlite.DBForTest(s.(*sqlite.Store))
	id := store.NewID()
	for _, tc := range []struct {
		name, query, want string
		args              []any
	}{
		{"task", `SELECT data FROM items WHERE task_id = ? AND n >= ? ORDER BY n LIMIT 100`,
			"USING INDEX sqlite_autoindex_items_1 (task_id=? AND n>?)", []any{id, 5}},
		{"spider", `SELECT data FROM items WHERE spider_id = ? AND current = 1
			ORDER BY saved DESC, task_id DESC, n DESC LIMIT 100`, "USING INDEX items_spider (spider_id=?)", []any{id}},
		{"spider cursor", `SELECT data FROM items WHERE spider_id = ? AND current = 1 AND (saved, task_id, n) < (?, ?, ?)
			ORDER BY saved DESC, task_id DESC, n DESC LIMIT 100`, "USING INDEX items_spider (spider_id=? AND ", []any{id, 1, id, 3}},
		{"dedup", `SELECT key FROM items WHERE spider_id = ? AND current = 1 AND key IS NOT NULL
			AND key IN (SELECT value FROM json_each(?))`, "USING COVERING INDEX items_key (spider_id=? AND key=?)", []any{id, `["a"]`}},
	} {
		rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, tc.want) || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("%s: query plan %q: want %q and no sort", tc.name, all, tc.want)
		}
	}
}
