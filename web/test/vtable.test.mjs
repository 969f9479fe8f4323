// Unit tests of the items table's arithmetic (web/src/lib/vtable.js) and
// the item data helpers: which rows are drawn for a scroll position, for a
// few rows and for a million (scaled past the browsers' height cap), the
// columns from the keys, cells, and the items channel follower.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { followItems, pageInfo, parseDedupKeys } from '../src/data/items.js';
import { applyTaskEvent } from '../src/data/tasks.js';
import { CELL_MAX, Columns, ITEM_ROW, MAX_HEIGHT, OVERSCAN, cellText, isNested, nestedLabel, rowWindow, scrollHeight, scrollTopFor } from '../src/lib/vtable.js';

test('rowWindow without scaling: rows follow scrollTop, with a margin, clamped to the rows', () => {
  const vp = 10 * ITEM_ROW;
  assert.deepEqual(rowWindow(0, vp, 0), { first: 0, last: 0, top: 0, scaled: false });
  assert.deepEqual(rowWindow(0, vp, 5), { first: 0, last: 5, top: 0, scaled: false });
  assert.deepEqual(rowWindow(0, vp, 1000), { first: 0, last: 10 + OVERSCAN, top: 0, scaled: false });
  const mid = rowWindow(500 * ITEM_ROW + 3, vp, 1000);
  assert.deepEqual(mid, { first: 500 - OVERSCAN, last: 511 + OVERSCAN, top: (500 - OVERSCAN) * ITEM_ROW, scaled: false });
  // Past the end (a scrollTop left over from a longer list): the last rows.
  const end = rowWindow(1e9, vp, 1000);
  assert.equal(end.last, 1000);
  assert.equal(end.first, 990 - OVERSCAN);
  assert.equal(scrollHeight(1000), 1000 * ITEM_ROW);
});

/** Check one position: the rows drawn cover the view and are few. */
function checkWindow(scrollTop, vp, count, opts) {
  const w = rowWindow(scrollTop, vp, count, opts);
  const row = opts?.row ?? ITEM_ROW;
  const height = scrollHeight(count, opts);
  const top = Math.min(scrollTop, height - vp);
  assert.ok(w.last - w.first <= Math.ceil(vp / row) + 1 + 2 * OVERSCAN, `${w.last - w.first} rows drawn at ${scrollTop}`);
  assert.ok(w.top <= top + 1e-6, `the first row drawn (y ${w.top}) starts above the view (${top})`);
  const bottom = w.top + (w.last - w.first) * row;
  if (w.last < count) assert.ok(bottom >= top + vp - 1e-6, `the rows drawn end (${bottom}) below the view (${top + vp})`);
  assert.ok(bottom <= height + 1e-6 || w.last < count, `the last row ends inside the scroll range (${bottom} > ${height})`);
  return w;
}

test('a million rows: the scroll range is capped, every position draws a few dozen rows covering the view, and the last row is reachable', () => {
  const count = 1_000_000;
  const vp = 600;
  const height = scrollHeight(count);
  assert.equal(height, MAX_HEIGHT, 'capped under the browsers’ limit');
  assert.ok(count * ITEM_ROW > height, 'so it is scaled');
  let prev = -1;
  const steps = 20_000;
  for (let s = 0; s <= steps; s++) {
    const scrollTop = ((height - vp) * s) / steps;
    const w = checkWindow(scrollTop, vp, count);
    assert.ok(w.scaled);
    assert.ok(w.first >= prev, 'scrolling down never goes back');
    prev = w.first;
  }
  const last = rowWindow(height - vp, vp, count);
  assert.equal(last.last, count, 'the bottom of the scroll range shows the last row');
  assert.equal(last.top + (count - last.first) * ITEM_ROW, height, 'and the last row ends at the bottom');
  const first = rowWindow(0, vp, count);
  assert.equal(first.first, 0);
  assert.equal(first.top, 0);
});

test('scrollTopFor puts row i at the top of the view, scaled or not', () => {
  for (const count of [1000, 1_000_000, 3_000_000]) {
    const vp = 560;
    for (const i of [0, 1, 17, Math.floor(count / 3), count - 100]) {
      const w = rowWindow(scrollTopFor(i, vp, count), vp, count);
      // Row i's top is at the view's top edge (within a pixel).
      const y = w.top + (i - w.first) * ITEM_ROW;
      const top = scrollTopFor(i, vp, count);
      assert.ok(Math.abs(y - top) < 1, `count ${count}, row ${i}: y ${y}, scrollTop ${top}`);
      assert.ok(w.first <= i && i < w.last);
    }
  }
});

test('small limits: a scaled range with a short viewport still covers the view', () => {
  const opts = { row: 10, maxHeight: 1000 };
  for (let s = 0; s <= 900; s += 7) checkWindow(s, 100, 12_345, opts);
  assert.equal(rowWindow(900, 100, 12_345, opts).last, 12_345);
});

test('ITEM_ROW agrees with the stylesheet', async () => {
  const css = await readFile(new URL('../src/styles/items.css', import.meta.url), 'utf8');
  const block = css.match(/\.item-row\s*\{[^}]*\}/)?.[0] ?? '';
  assert.match(block, new RegExp(`height:\\s*${ITEM_ROW}px`), '.item-row height');
  assert.match(css, new RegExp(`\\.items-scroll\\s*\\{[^}]*line-height|font:[^;]*/${ITEM_ROW}px`));
});

test('Columns: the union of top-level keys in first-seen order, widths from keys and values, a cap', () => {
  const c = new Columns({ max: 4 });
  assert.equal(c.add([{ url: 'https://example.org/a', title: 'A' }, { title: 'B', price: 3 }]), true);
  assert.deepEqual(c.keys, ['url', 'title', 'price']);
  assert.equal(c.add([{ price: 4, url: 'x' }]), false, 'nothing new');
  assert.equal(c.add([null, [1, 2], 'text', { tags: ['a'] }]), true, 'non-objects are skipped');
  assert.deepEqual(c.keys, ['url', 'title', 'price', 'tags']);
  assert.equal(c.widths[0], 'https://example.org/a'.length + 1);
  assert.equal(c.widths[2], 'price'.length + 2, 'from the key when the values are shorter');
  const narrow = new Columns();
  narrow.add([{ a: 1 }]);
  assert.equal(narrow.widths[0], 6, 'at least 6 ch');
  c.add([{ more: 1, evenMore: 2 }, { more: 3 }]);
  assert.deepEqual(c.keys, ['url', 'title', 'price', 'tags'], 'past the cap, keys are counted, not shown');
  assert.equal(c.hidden, 2);
  const wide = new Columns();
  wide.add([{ text: 'x'.repeat(500) }]);
  assert.equal(wide.widths[0], 36, 'capped');
});

test('a million items: kept as they came, columns read once per batch', () => {
  const items = [];
  const c = new Columns();
  for (let b = 0; b < 200; b++) {
    const batch = [];
    for (let i = 0; i < 5000; i++) {
      const n = b * 5000 + i;
      batch.push(n % 1000 === 999 ? { url: `https://example.org/${n}`, title: `Item ${n}`, extra: { n } } : { url: `https://example.org/${n}`, title: `Item ${n}` });
    }
    for (const it of batch) items.push(it);
    c.add(batch);
  }
  assert.equal(items.length, 1_000_000);
  assert.deepEqual(c.keys, ['url', 'title', 'extra']);
  const w = rowWindow(scrollTopFor(654_321, 600, items.length), 600, items.length);
  const shown = items.slice(w.first, w.last);
  assert.ok(shown.length < 60, `${shown.length} rows to draw`);
  assert.ok(shown.some((it) => it.title === 'Item 654321'));
});

test('cellText: one short line for any value; nested values compact', () => {
  assert.equal(cellText('a\nb\r\nc'), 'a⏎b⏎c');
  assert.equal(cellText(3.5), '3.5');
  assert.equal(cellText(false), 'false');
  assert.equal(cellText(null), 'null');
  assert.equal(cellText(undefined), '');
  assert.equal(cellText({ a: 1, b: [1, 2] }), '{"a":1,"b":[1,2]}');
  const long = cellText('x'.repeat(1000));
  assert.equal(long.length, CELL_MAX);
  assert.ok(long.endsWith('…'));
  assert.ok(isNested([]) && isNested({}) && !isNested(null) && !isNested('s'));
  assert.equal(nestedLabel([1, 2, 3]), '[3]');
  assert.equal(nestedLabel({ a: 1, b: 2 }), '{2}');
});

test('followItems passes new items and the end once, from since', () => {
  const calls = [];
  let listener;
  const socket = {
    subscribe(channel, l) {
      calls.push(['subscribe', channel, l.since]);
      listener = l;
      return { unsubscribe: () => calls.push(['unsubscribe', channel]) };
    },
  };
  const got = [];
  const f = followItems('t1', { since: 3, socket, onItems: (b) => got.push(b), onEnd: (e) => got.push(e), onError: () => {} });
  listener.onData({ from: 3, items: [{ a: 1 }] });
  listener.onData({ end: true, status: 'finished', total: 4 });
  f.stop();
  assert.deepEqual(calls, [['subscribe', 'task:t1:items', 3], ['unsubscribe', 'task:t1:items']]);
  assert.deepEqual(got, [{ from: 3, items: [{ a: 1 }] }, { status: 'finished', total: 4 }]);
});

test('pageInfo and parseDedupKeys', () => {
  assert.deepEqual(pageInfo(0, 100, 250), { text: '1–100 of 250', prev: false, next: true });
  assert.deepEqual(pageInfo(2, 50, 250), { text: '201–250 of 250', prev: true, next: false });
  assert.deepEqual(pageInfo(0, 0, 0), { text: 'none', prev: false, next: false });
  assert.deepEqual(parseDedupKeys(' url, title url\nsku '), { keys: ['url', 'title', 'sku'] });
  assert.deepEqual(parseDedupKeys(''), { keys: [] });
  assert.match(parseDedupKeys('url, _id').error, /"_id" is a reserved name/);
});

test('applyTaskEvent keeps the item count live and never lowers it', () => {
  const t = { id: 't1', status: 'running', item_count: 10, log_lines: 0 };
  assert.equal(applyTaskEvent(t, { task_id: 't1', status: 'running', item_count: 25, log_lines: 0 }).item_count, 25);
  assert.equal(applyTaskEvent(t, { task_id: 't1', status: 'running', log_lines: 0 }).item_count, 10);
  assert.equal(applyTaskEvent(t, { task_id: 't1', status: 'finished', item_count: 3, log_lines: 0 }).item_count, 10);
});
