// Browser test of the items a spider saves, against a running crawlhub
// (see web/test/browser.mjs for the environment it needs).
//
// A spider uploaded by the test saves items through $CRAWLHUB_ITEMS_URL
// (NDJSON over HTTP, with Python's standard library only). The test paces
// it: the spider asks a small HTTP server of the test for each batch, so
// the test decides when items are saved and checks that the page shows
// them live, without a reload. Then: the columns come from the keys, a
// nested value and a whole item open, the export links download every
// item, the spider's Data tab lists its current items, and deduplication
// set in the spider's form keeps one item per URL.
//
// CRAWLHUB_E2E_BIG_ITEMS (default 1000000; 0 skips it) is the number of
// items of the test that a big task stays usable: every item arrives, the
// DOM holds a few dozen rows, and the first, middle and last are reached
// by scrolling.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const BIG = Number(process.env.CRAWLHUB_E2E_BIG_ITEMS ?? 1_000_000);

/**
 * The spider: asks the test's server for batch i of its run (a JSON list of
 * items, or null when done), saves it through CRAWLHUB_ITEMS_URL, prints
 * the endpoint's answer. With "big N" it saves N small items in chunks.
 */
const SPIDER = String.raw`
import json, os, sys, urllib.request

items_url = os.environ["CRAWLHUB_ITEMS_URL"]

def save(items):
    body = "".join(json.dumps(i, separators=(",", ":")) + "\n" for i in items).encode()
    req = urllib.request.Request(items_url, data=body, method="POST", headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=60) as r:
        print("saved", len(items), r.read().decode().strip(), flush=True)

if sys.argv[1] == "big":
    n = int(sys.argv[2])
    for start in range(0, n, 10000):
        save([{"n": i, "url": "https://example.org/big/%d" % i} for i in range(start, min(n, start + 10000))])
    sys.exit(0)

control, run = sys.argv[1], sys.argv[2]
batch = 0
while True:
    with urllib.request.urlopen("%s/batch/%s/%d" % (control, run, batch), timeout=120) as r:
        items = json.load(r)
    if items is None:
        break
    save(items)
    batch += 1
print("done", flush=True)
`;

/** The test's pacing server: GET /batch/<run>/<i> waits until release(run, i, items). */
function pacer() {
  const waiting = new Map(); // "run/i" → {promise, resolve}
  const slot = (key) => {
    if (!waiting.has(key)) {
      let resolve;
      const promise = new Promise((r) => (resolve = r));
      waiting.set(key, { promise, resolve });
    }
    return waiting.get(key);
  };
  const asked = [];
  const server = http.createServer(async (req, res) => {
    const m = /^\/batch\/([^/]+)\/(\d+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const key = `${m[1]}/${m[2]}`;
    asked.push(key);
    const items = await slot(key).promise;
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(items));
  });
  return {
    server,
    asked,
    release: (run, i, items) => slot(`${run}/${i}`).resolve(items),
    async listen() {
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      return `http://127.0.0.1:${server.address().port}`;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

const first = Array.from({ length: 30 }, (_, i) => ({ url: `https://example.org/p/${i}`, title: `Product ${i}`, price: 10 + i / 4 }));
const nested = Array.from({ length: 20 }, (_, i) => ({
  url: `https://example.org/p/${30 + i}`,
  title: `Product ${30 + i}`,
  price: 20 + i,
  tags: ['new', `t${i}`],
  meta: { page: 2, rank: i, seller: { name: `Shop ${i}` } },
}));
const many = Array.from({ length: 2000 }, (_, i) => ({ url: `https://example.org/p/${50 + i}`, title: `Product ${50 + i}`, price: i }));
const ALL = [...first, ...nested, ...many];

let pace;
let control = '';
const spiders = [];

before(async () => {
  pace = pacer();
  control = await pace.listen();
});

/** A new spider running SPIDER, deleted after the tests. */
async function newSpider() {
  const form = new FormData();
  form.set('name', `e2e-items-${Date.now().toString(36)}-${spiders.length}`);
  form.set('command', 'python3 save.py');
  form.set('file', new Blob([zip({ 'save.py': SPIDER })], { type: 'application/zip' }), 'spider.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  const sp = JSON.parse(text);
  spiders.push(sp);
  return sp;
}

/** Run a spider with these params; returns the task's id. */
async function run(sp, params) {
  const { items } = await api('POST', 'tasks', { spider_id: sp.id, params });
  return items[0].id;
}

after(async () => {
  for (const spider of spiders) {
    for (const status of ['pending', 'running']) {
      const { items } = await api('GET', `tasks?spider_id=${spider.id}&status=${status}&limit=100`).catch(() => ({ items: [] }));
      for (const tk of items) await api('POST', `tasks/${tk.id}/cancel`, { reason: 'browser test done' }).catch(() => {});
    }
    await api('DELETE', `spiders/${spider.id}`).catch(() => {});
  }
  // Answer whatever a cancelled spider may still be waiting for.
  for (const key of pace?.asked ?? []) pace.release(...key.split('/'), null);
  await pace?.close();
});

/** The text of the rows in the DOM: [[#, url, title, …], …]. */
const rowTexts = (page) => page.locator('.item-rows .item-row').evaluateAll((rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));

/**
 * Click cell and wait for popover. The table draws its rows afresh on every
 * scroll, so bringing the cell into view may replace it under the click;
 * and the window's scroll event, a frame after a scroll, closes an open
 * popover. So: scroll, let two frames pass, click, and try again (a few
 * times) when the cell was redrawn or the popover closed.
 */
async function openPopover(page, cell, pop) {
  for (let attempt = 1; ; attempt++) {
    try {
      await cell.scrollIntoViewIfNeeded({ timeout: 2000 });
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      await cell.click({ timeout: 2000 });
      await pop.waitFor({ timeout: 2000 });
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

/** Scroll the table so that row i (from 0) is at the top; returns its cells' text. */
async function rowAt(page, i) {
  await page.locator('.items-scroll').evaluate((s, top) => (s.scrollTop = top), i * 28);
  const row = page.locator(`.item-rows .item-row[data-i="${i}"]`);
  await row.waitFor();
  return row.locator('.item-cell').allTextContents();
}

/** Download what an export link gives. */
async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(selector).click()]);
  assert.equal(await dl.failure(), null, `${selector} download failed`);
  return readFile(await dl.path(), 'utf8');
}

test('a task’s items arrive live in its Data tab, with columns from their keys; an item opens whole; the exports hold every item', async (t) => {
  const id = await run(await newSpider(), `${control} one`);
  // Should an assertion fail half way, the spider still ends now rather
  // than holding the agent until its batch request times out.
  t.after(() => [0, 1, 2, 3].forEach((i) => pace.release('one', i, null)));
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${id}`));
    await page.locator('#tab-data').click();
    await page.waitForURL((u) => u.hash === `#/tasks/${id}?tab=data`);
    await page.locator('#task-data').waitFor();
    assert.equal(await page.locator('#task-log').isVisible(), false, 'the log is on the other tab');
    await page.locator('.live[data-state="open"]').waitFor();
    const reloads = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && reloads.push(f.url()));

    // First batch: three keys, three columns after the number.
    pace.release('one', 0, first);
    await page.locator('#items-count', { hasText: /^30 items/ }).waitFor();
    // The count is set at once, the table drawn in the next animation frame.
    await page.locator('.item-head .item-cell', { hasText: 'price' }).waitFor();
    assert.deepEqual(await page.locator('.item-head .item-cell').allInnerTexts(), ['#', 'url', 'title', 'price']);
    // Following: the newest item is in view.
    assert.deepEqual((await rowTexts(page)).at(-1), ['30', 'https://example.org/p/29', 'Product 29', '17.25']);
    assert.equal(await page.locator('#tab-data .tab-count').innerText(), '30');
    assert.deepEqual(await rowAt(page, 0), ['1', 'https://example.org/p/0', 'Product 0', '10']);
    assert.equal(await page.locator('#items-follow').getAttribute('aria-pressed'), 'false', 'scrolling up stops following');
    await page.locator('#items-follow').click();

    // Second batch, live: new keys become columns, nested values compact.
    pace.release('one', 1, nested);
    await page.locator('#items-count', { hasText: /^50 items/ }).waitFor();
    await page.locator('.item-head .item-cell', { hasText: 'meta' }).waitFor();
    assert.deepEqual(await page.locator('.item-head .item-cell').allInnerTexts(), ['#', 'url', 'title', 'price', 'tags', 'meta']);
    const row50 = page.locator('.item-rows .item-row[data-i="49"]');
    await row50.waitFor();
    assert.equal(await row50.locator('.cell-nested[data-key="tags"] .nested-size').innerText(), '[2]');
    assert.equal(await row50.locator('.cell-nested[data-key="meta"] .nested-size').innerText(), '{3}');
    await shot(t, page, 'task-data-live.png');
    assert.equal((await rowAt(page, 29))[4], '', 'an item without the key has an empty cell');
    await page.locator('#items-follow').click();
    await row50.waitFor();

    // A nested value opens pretty-printed.
    const pop = page.locator('.cell-pop');
    await openPopover(page, row50.locator('.cell-nested[data-key="meta"]'), pop);
    assert.deepEqual(JSON.parse(await pop.locator('pre').innerText()), nested[19].meta);
    await shot(t, page, 'task-data-nested.png');
    await page.keyboard.press('Escape');
    await pop.waitFor({ state: 'detached' });

    // A row opens the whole item.
    await page.locator('.item-rows .item-row[data-i="47"] .item-cell').nth(2).click();
    const dialog = page.locator('#item-dialog');
    await dialog.waitFor();
    assert.match(await dialog.locator('h2').innerText(), /^Item 48$/);
    assert.deepEqual(JSON.parse(await dialog.locator('pre.item-json').innerText()), nested[17]);
    await shot(t, page, 'task-data-item.png');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });

    // Many more: the table keeps only the rows in view in the page.
    pace.release('one', 2, many);
    pace.release('one', 3, null);
    await page.locator('#items-end', { hasText: `Finished — ${ALL.length.toLocaleString('en')} items` }).waitFor();
    await page.locator('#task-status .badge[data-status="finished"]').waitFor();
    assert.equal(await page.locator('#items-count').innerText(), `${ALL.length.toLocaleString('en')} items`);
    const drawn = await page.locator('.item-rows .item-row').count();
    assert.ok(drawn > 5 && drawn < 100, `${drawn} rows in the DOM for ${ALL.length} items`);
    const last = await rowTexts(page);
    assert.deepEqual(last.at(-1).slice(0, 4), [String(ALL.length), ALL.at(-1).url, ALL.at(-1).title, String(ALL.at(-1).price)], 'following: the newest item is in view');
    assert.deepEqual(reloads, [], 'the page did not reload');
    await shot(t, page, 'task-data-finished.png');

    // Exports: every item, in order.
    const ndjson = (await download(page, '#export-ndjson')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(ndjson, ALL);
    assert.deepEqual(JSON.parse(await download(page, '#export-json')), ALL);
    const csv = parseCSV(await download(page, '#export-csv'));
    assert.deepEqual(new Set(csv[0]), new Set(['url', 'title', 'price', 'tags', 'meta']));
    assert.equal(csv.length, ALL.length + 1);
    const col = (name) => csv[0].indexOf(name);
    assert.equal(csv[1][col('url')], ALL[0].url);
    assert.deepEqual(JSON.parse(csv[50][col('meta')]), nested[19].meta, 'nested values as JSON text');
    assert.equal(csv[1][col('meta')], '', 'a missing key is an empty cell');
    assert.ok(!(await page.locator('#export-csv').getAttribute('href')).includes(TOKEN), 'the token is not left in the page');

    // The items were there before the page was: a reload shows them all again.
    await page.reload();
    await page.locator('#items-end', { hasText: `Finished — ${ALL.length.toLocaleString('en')} items` }).waitFor();
    assert.equal(await page.locator('#tab-data').getAttribute('aria-selected'), 'true', 'the address keeps the tab');
  });
});

test('the spider’s Data tab lists its current items newest first, a page at a time; dedup set in its form keeps one item per key', async (t) => {
  const spider = await newSpider();
  const firstTask = await run(spider, `${control} all`);
  [first, nested, many, null].forEach((items, i) => pace.release('all', i, items));
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${firstTask}?tab=data`));
    await page.locator('#items-end', { hasText: `Finished — ${ALL.length.toLocaleString('en')} items` }).waitFor();
    await page.goto(url(`#/spiders`));
    await page.locator(`#spiders-table tbody tr[data-spider-id="${spider.id}"] a.strong-link`).click();
    await page.waitForURL((u) => u.hash === `#/spiders/${spider.id}`);
    await page.locator('#spider-tasks-table tbody tr').first().waitFor();
    assert.equal(await page.locator('[data-field="dedup"]').innerText(), 'none: every item is new');
    await page.locator('#tab-data').click();
    await page.locator('#spider-items-count', { hasText: `${ALL.length.toLocaleString('en')} current items` }).waitFor();
    assert.equal(await page.locator('#spider-items-page').innerText(), `1–100 of ${ALL.length.toLocaleString('en')}`);
    // The count is set at once, the rows drawn in the next animation frame.
    await page.locator('.item-rows .item-row[data-i="0"]').waitFor();
    let rows = await rowTexts(page);
    assert.equal(rows[0][1], String(ALL.length), 'newest first');
    assert.equal(rows[0][2], ALL.at(-1).url);
    assert.equal(await page.locator('.item-rows .item-row[data-i="0"] a').getAttribute('href'), `#/tasks/${firstTask}`, 'the task that saved it');
    await page.locator('#items-next').click();
    await page.locator('#spider-items-page', { hasText: `101–200 of` }).waitFor();
    await page.locator('.item-rows .item-row[data-i="0"]', { hasText: ALL.at(-101).url }).waitFor();
    rows = await rowTexts(page);
    assert.equal(rows[0][1], String(ALL.length - 100));
    await shot(t, page, 'spider-data.png');
    const exported = (await download(page, '#export-ndjson')).trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(exported, ALL.slice().reverse(), 'the spider export: its current items, newest first');

    // Deduplicate by url, keeping the newest.
    await page.locator('#edit-spider').click();
    const form = page.locator('#spider-dialog');
    await form.waitFor();
    await form.locator('#spider-dedup-keys').fill('url, _id');
    await form.locator('input[name="dedup"][value="overwrite"]').check();
    await form.locator('button[data-role="submit"]').click();
    await form.getByText('"_id" is a reserved name').waitFor();
    await form.locator('#spider-dedup-keys').fill('url');
    await form.locator('button[data-role="submit"]').click();
    await form.waitFor({ state: 'detached' });
    await page.locator('[data-field="dedup"]', { hasText: 'by url — keep the newest' }).waitFor();
    const saved = await api('GET', `spiders/${spider.id}`);
    assert.deepEqual([saved.dedup_keys, saved.dedup], [['url'], 'overwrite']);

    // From now on, a second item with a URL replaces the first: a run that
    // saves 30 URLs twice leaves 30 current items, the second copies. (The
    // items saved before dedup was set have no key, and stay current.)
    const id = await run(spider, `${control} two`);
    const again = first.map((it) => ({ ...it, price: it.price + 100 }));
    pace.release('two', 0, first);
    pace.release('two', 1, again);
    pace.release('two', 2, null);
    await page.goto(url(`#/tasks/${id}?tab=data`));
    await page.locator('#items-end', { hasText: 'Finished — 60 items' }).waitFor();
    await page.locator('#items-end', { hasText: '(30 new, 0 ignored as duplicates, 30 overwrote earlier ones)' }).waitFor();
    await page.goto(url(`#/spiders/${spider.id}?tab=data`));
    await page.locator('#spider-items-count', { hasText: `${(ALL.length + 30).toLocaleString('en')} current items` }).waitFor();
    await page.locator('.item-rows .item-row[data-i="0"]').waitFor();
    rows = await rowTexts(page);
    const ofTwo = await page.locator('.item-rows .item-row').evaluateAll((els, href) => els.map((r) => r.querySelector('a')?.getAttribute('href') === href), `#/tasks/${id}`);
    const shown = Math.min(rows.length, 30);
    assert.ok(shown >= 10, `${shown} rows in view`);
    assert.deepEqual(ofTwo.slice(0, shown), Array(shown).fill(true), 'the second run’s current items come first');
    assert.deepEqual(rows.slice(0, shown).map((r) => [r[1], r[2], r[4]]), again.slice().reverse().slice(0, shown).map((it, i) => [String(60 - i), it.url, String(it.price)]), 'the second copies, newest first');
    await rowAt(page, 29);
    assert.equal(await page.locator('.item-rows .item-row[data-i="29"] a').getAttribute('href'), `#/tasks/${id}`);
    assert.equal(await page.locator('.item-rows .item-row[data-i="30"] a').getAttribute('href'), `#/tasks/${firstTask}`, 'then the first run’s');
    await shot(t, page, 'spider-data-dedup.png');
  });
});

test('a task with many items stays usable: all arrive, a few dozen rows are drawn, and scrolling reaches any of them', { skip: BIG <= 0 && 'CRAWLHUB_E2E_BIG_ITEMS=0' }, async (t) => {
  const started = Date.now();
  const id = await run(await newSpider(), `big ${BIG}`);
  await withPage(t, async (page) => {
    page.setDefaultTimeout(Math.max(60_000, BIG / 5));
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${id}?tab=data`));
    await page.locator('#items-end', { hasText: `Finished — ${BIG.toLocaleString('en')} items` }).waitFor();
    t.diagnostic(`${BIG} items saved and shown in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const heap = await page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
    if (heap) t.diagnostic(`page heap: ${(heap / 2 ** 20).toFixed(0)} MiB`);
    const scroller = page.locator('.items-scroll');
    await page.evaluate(() => {
      window.__long = [];
      new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => Math.round(e.duration)))).observe({ type: 'longtask' });
    });
    for (const [fraction, want] of [[0, 0], [0.5, Math.floor(BIG / 2)], [1, BIG - 1]]) {
      await scroller.evaluate((s, f) => (s.scrollTop = f * (s.scrollHeight - s.clientHeight)), fraction);
      const rows = page.locator('.item-rows .item-row');
      await page.waitForFunction(
        ([w]) => [...document.querySelectorAll('.item-rows .item-row')].some((r) => Math.abs(Number(r.dataset.i) - w) <= 40),
        [want],
      );
      const count = await rows.count();
      assert.ok(count < 100, `${count} rows in the DOM at ${fraction}`);
      const texts = await rowTexts(page);
      for (const r of texts) {
        const n = Number(r[0]) - 1;
        assert.equal(r[1], String(n), 'item n is row n');
      }
    }
    assert.equal((await rowTexts(page)).at(-1)[0], String(BIG), 'the last item is reachable');
    // Wheel-like scrolling, as a person would.
    await scroller.hover();
    for (let i = 0; i < 30; i++) await page.mouse.wheel(0, -400);
    const longTasks = await page.evaluate(() => window.__long);
    t.diagnostic(`long tasks while scrolling: ${JSON.stringify(longTasks)}`);
    await shot(t, page, 'task-data-big.png');
  });
});

/** RFC 4180 CSV: quoted fields may hold commas, quotes (doubled) and line breaks. */
function parseCSV(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

