package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strings"

	"github.com/crawlhub/crawlhub/store"
)

// items keeps one row per item in the table items, keyed (task_id, n):
// reading a task's items is a range scan of the primary key, and the key
// makes appending idempotent. The partial index items_spider holds only
// current items, in save order, so a spider's page and its export walk
// nothing else; the unique partial index items_key holds the current item
// of each dedup key, so SQLite itself refuses a second current item for a
// key should the dedup logic ever be wrong. item_counts keeps what
// deduplication made of each task's items, so that ItemCount does not
// read every item of a task.
type items Store

// itemBatch is how many items one INSERT carries: 8 parameters each, kept
// under SQLite's historical limit of 999 parameters per statement. A
// shorter remainder goes in statements of 64, 32, … 1 items, so every
// statement an append runs is one of a fixed few, prepared once for the
// store.
const itemBatch = 120

const itemRow = `(?,?,?,?,?,?,?,?)`

func insertItems(n int) string {
	return `INSERT INTO items (spider_id, task_id, n, data, key, outcome, current, saved) VALUES ` +
		itemRow + strings.Repeat(","+itemRow, n-1)
}

// The statements of an append, in the order appendItems takes them.
var appendQueries = func() []string {
	q := []string{
		`SELECT coalesce(max(n) + 1, 0) FROM items WHERE task_id = ?`,
		`SELECT key FROM items WHERE spider_id = ? AND current = 1 AND key IS NOT NULL
			AND key IN (SELECT value FROM json_each(?))`,
		`UPDATE items SET current = 0 WHERE spider_id = ? AND current = 1 AND key IS NOT NULL
			AND key IN (SELECT value FROM json_each(?))`,
		`INSERT INTO item_counts (task_id, new, ignored, overwritten) VALUES (?,?,?,?)
			ON CONFLICT (task_id) DO UPDATE SET new = new + excluded.new,
			ignored = ignored + excluded.ignored, overwritten = overwritten + excluded.overwritten`,
		insertItems(itemBatch),
	}
	for n := 64; n >= 1; n /= 2 {
		q = append(q, insertItems(n))
	}
	return q
}()

const (
	qEnd = iota
	qCurrent
	qReplace
	qCount
	qInsertFull
	qInsert64 // then 32, 16, … 1
)

func (s *items) AppendItems(ctx context.Context, spiderID, taskID string, from int64, list []json.RawMessage, d store.Dedup) (store.ItemCounts, error) {
	c, err := s.appendItems(ctx, spiderID, taskID, from, list, d)
	if err != nil {
		return store.ItemCounts{}, fmt.Errorf("store: append items of task %s at item %d: %w", taskID, from, err)
	}
	return c, nil
}

func (s *items) appendItems(ctx context.Context, spiderID, taskID string, from int64, list []json.RawMessage, d store.Dedup) (store.ItemCounts, error) {
	var counts store.ItemCounts
	if err := ctx.Err(); err != nil {
		return counts, err
	}
	if err := errors.Join(checkID(spiderID), checkID(taskID)); err != nil {
		return counts, err
	}
	keys, err := store.PrepareItems(from, list, d)
	if err != nil || len(list) == 0 {
		return counts, err
	}
	saved := ms(store.Now())
	// The end check, the dedup lookup and the inserts share one write
	// transaction: concurrent appends can leave neither a gap, nor a
	// duplicate, nor two current items of one key.
	err = s.w.inTx(ctx, appendQueries, func(st []*sql.Stmt) error {
		var end int64
		if err := st[qEnd].QueryRowContext(ctx, taskID).Scan(&end); err != nil {
			return err
		}
		if from > end {
			return fmt.Errorf("%w: task has %d items", store.ErrLogGap, end)
		}
		// Items already stored are skipped, not compared: the first write
		// of an item number wins.
		skip := end - from
		if skip >= int64(len(list)) {
			return nil
		}
		list, keys = list[skip:], keys[skip:]
		current, err := s.currentKeys(ctx, st[qCurrent], spiderID, keys)
		if err != nil {
			return err
		}
		outcomes, isCurrent, replaced := store.DedupItems(d.Policy, keys, current)
		if len(replaced) > 0 {
			if _, err := st[qReplace].ExecContext(ctx, spiderID, listToJSON(replaced)); err != nil {
				return err
			}
		}
		args := make([]any, 0, 8*itemBatch)
		for i := 0; i < len(list); {
			n := len(list) - i
			stmt := st[qInsertFull]
			if n >= itemBatch {
				n = itemBatch
			} else {
				// The largest power of two not above n: 2^e items, with
				// e from 6 (64) down to 0.
				e := bits.Len(uint(n)) - 1
				stmt, n = st[qInsert64+6-e], 1<<e
			}
			args = args[:0]
			for j := i; j < i+n; j++ {
				var key any // NULL: no key
				if keys[j] != "" {
					key = keys[j]
				}
				args = append(args, spiderID, taskID, end+int64(j), string(list[j]), key, outcomes[j], isCurrent[j], saved)
				counts.Count(outcomes[j])
			}
			if _, err := stmt.ExecContext(ctx, args...); err != nil {
				return err
			}
			i += n
		}
		_, err = st[qCount].ExecContext(ctx, taskID, counts.New, counts.Ignored, counts.Overwritten)
		return err
	})
	if err != nil {
		return store.ItemCounts{}, err
	}
	return counts, nil
}

// currentKeys returns which of keys the spider has a current item of.
func (s *items) currentKeys(ctx context.Context, st *sql.Stmt, spiderID string, keys []string) (map[string]bool, error) {
	var distinct []string
	seen := map[string]bool{}
	for _, k := range keys {
		if k != "" && !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	current := map[string]bool{}
	if len(distinct) == 0 {
		return current, nil
	}
	rows, err := st.QueryContext(ctx, spiderID, listToJSON(distinct))
	if err != nil {
		return nil, err
	}
	found, err := collect(rows, func(row interface{ Scan(...any) error }) (string, error) {
		var k string
		return k, row.Scan(&k)
	})
	for _, k := range found {
		current[k] = true
	}
	return current, err
}

const itemCols = `task_id, n, data, outcome, current, saved`

func scanItem(row interface{ Scan(...any) error }) (store.Item, error) {
	var it store.Item
	var data string
	var saved int64
	err := row.Scan(&it.TaskID, &it.N, &data, &it.Outcome, &it.Current, &saved)
	it.Data, it.Saved = json.RawMessage(data), fromMS(saved)
	return it, err
}

func (s *items) ReadItems(ctx context.Context, spiderID, taskID string, from int64, limit int) ([]store.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: read items of task %s: %w", taskID, err)
	}
	if from < 0 {
		return nil, fmt.Errorf("store: read items of task %s from item %d: negative item number", taskID, from)
	}
	if limit <= 0 {
		return nil, nil
	}
	list, err := s.query(ctx, `SELECT `+itemCols+` FROM items WHERE task_id = ? AND n >= ? ORDER BY n LIMIT ?`,
		taskID, from, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read items of task %s: %w", taskID, err)
	}
	return list, nil
}

func (s *items) query(ctx context.Context, q string, args ...any) ([]store.Item, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanItem)
}

func (s *items) ItemCount(ctx context.Context, spiderID, taskID string) (int64, store.ItemCounts, error) {
	var c store.ItemCounts
	err := s.r.QueryRowContext(ctx, `SELECT new, ignored, overwritten FROM item_counts WHERE task_id = ?`,
		taskID).Scan(&c.New, &c.Ignored, &c.Overwritten)
	if err == sql.ErrNoRows {
		err = nil
	}
	if err != nil {
		return 0, c, fmt.Errorf("store: count items of task %s: %w", taskID, err)
	}
	// Every stored item has one outcome.
	return c.New + c.Ignored + c.Overwritten, c, nil
}

// The order of a spider's items, newest first; items_spider serves it.
const spiderOrder = ` ORDER BY saved DESC, task_id DESC, n DESC`

func (s *items) SpiderItems(ctx context.Context, spiderID string, limit, offset int) ([]store.Item, int64, error) {
	// Count and page in one read transaction, so the total matches the
	// page even while items arrive.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("store: items of spider %s: %w", spiderID, err)
	}
	defer tx.Rollback()
	var total int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM items WHERE spider_id = ? AND current = 1`,
		spiderID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: count items of spider %s: %w", spiderID, err)
	}
	if limit <= 0 {
		return nil, total, nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+itemCols+` FROM items WHERE spider_id = ? AND current = 1`+
		spiderOrder+` LIMIT ? OFFSET ?`, spiderID, limit, max(offset, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("store: items of spider %s: %w", spiderID, err)
	}
	list, err := collect(rows, scanItem)
	if err != nil {
		return nil, 0, fmt.Errorf("store: items of spider %s: %w", spiderID, err)
	}
	return list, total, nil
}

// eachPage is how many items EachItem reads at a time: memory is bounded
// by a page, and each page is its own query, so a slow fn (an export
// streaming to a slow client) holds no read transaction open.
const eachPage = 1000

func (s *items) EachItem(ctx context.Context, spiderID, taskID string, fn func(store.Item) error) error {
	what := "spider " + spiderID
	if taskID != "" {
		what = "task " + taskID
	}
	var last *store.Item
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: items of %s: %w", what, err)
		}
		var page []store.Item
		var err error
		switch {
		case taskID != "":
			next := int64(0)
			if last != nil {
				next = last.N + 1
			}
			page, err = s.query(ctx, `SELECT `+itemCols+` FROM items WHERE task_id = ? AND n >= ? ORDER BY n LIMIT ?`,
				taskID, next, eachPage)
		case last == nil:
			page, err = s.query(ctx, `SELECT `+itemCols+` FROM items WHERE spider_id = ? AND current = 1`+
				spiderOrder+` LIMIT ?`, spiderID, eachPage)
		default:
			// A keyset cursor: the page after the last item seen, however
			// deep, costs the same.
			page, err = s.query(ctx, `SELECT `+itemCols+` FROM items WHERE spider_id = ? AND current = 1
				AND (saved, task_id, n) < (?, ?, ?)`+spiderOrder+` LIMIT ?`,
				spiderID, ms(last.Saved), last.TaskID, last.N, eachPage)
		}
		if err != nil {
			return fmt.Errorf("store: items of %s: %w", what, err)
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if len(page) < eachPage {
			return nil
		}
		last = &page[len(page)-1]
	}
}

func (s *items) DeleteItems(ctx context.Context, spiderID, taskID string) error {
	err := s.w.inTx(ctx, []string{`DELETE FROM items WHERE task_id = ?`, `DELETE FROM item_counts WHERE task_id = ?`},
		func(st []*sql.Stmt) error {
			for _, q := range st {
				if _, err := q.ExecContext(ctx, taskID); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("store: delete items of task %s: %w", taskID, err)
	}
	return nil
}
