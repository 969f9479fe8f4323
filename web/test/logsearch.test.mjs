// Browser test of the log viewer's search against a running crawlhub (see
// web/test/browser.mjs for the environment it needs): a task prints a
// 500,000-line log with 5 error lines; the search finds the 5 and next /
// previous jump to each (in view, marked current, the match highlighted),
// "Next error" walks the lines the task's error count counted, the filter
// shows only the matches, and a click on a line number gives a link that
// opens the log scrolled to that line.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const LINES = 500_000;
const ERRORS = [37_000, 150_123, 260_000, 390_500, 480_000];

// Every other line has "error" in its URL, in lower case: the search for
// "failure" must not find them, and the level rules must not count them.
const SCRIPT = `awk 'BEGIN {
  split("${ERRORS.join(' ')}", e, " ")
  for (k in e) err[e[k]] = k
  for (i = 0; i < ${LINES}; i++) {
    if (i in err) print "2026-12-03 22:42:07 [shop] ERROR: failure number " err[i] " at line " i
    else print "2026-12-03 22:42:07 [shop] INFO: GET https://example.com/error/page/" i " 200"
  }
}'
`;

let spider;

after(async () => {
  if (spider) await api('DELETE', `spiders/${spider.id}`).catch(() => {});
});

/** Whether row n (from 0) is inside the log's scrolled view and is the current line. */
async function inView(page, n) {
  return page.evaluate((n) => {
    const row = document.querySelector(`.logline[data-line="${n}"]`);
    const box = document.querySelector('.log-scroll')?.getBoundingClientRect();
    if (!row || !box) return { shown: false, current: false };
    const r = row.getBoundingClientRect();
    return { shown: r.top >= box.top - 1 && r.bottom <= box.bottom + 1, current: row.classList.contains('log-current'), hit: row.querySelector('mark.log-hit')?.textContent ?? '' };
  }, n);
}

async function expectAt(page, n, { hit } = {}) {
  await page.waitForFunction((n) => document.querySelector(`.logline.log-current[data-line="${n}"]`), n);
  const seen = await inView(page, n);
  assert.ok(seen.shown, `line ${n} is in view`);
  assert.ok(seen.current, `line ${n} is marked current`);
  if (hit !== undefined) assert.equal(seen.hit.toLowerCase(), hit.toLowerCase(), `line ${n} highlights the match`);
}

test('the log search finds the 5 error lines of a 500,000-line log and jumps to each', async (t) => {
  const form = new FormData();
  form.set('name', `e2e-search-${Date.now().toString(36)}`);
  form.set('command', 'sh run.sh');
  form.set('file', new Blob([zip({ 'run.sh': SCRIPT })], { type: 'application/zip' }), 'search.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  spider = JSON.parse(text);
  const { items } = await api('POST', 'tasks', { spider_id: spider.id });
  const id = items[0].id;

  await withPage(t, async (page) => {
    page.setDefaultTimeout(120_000);
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${id}`));
    await page.locator('.log-end', { hasText: `Finished — ${LINES.toLocaleString('en-US')} lines` }).waitFor();
    // The counts the agent made, on the task page.
    await page.locator('[data-level="error"]', { hasText: '5 errors' }).first().waitFor();

    // Search: the first match, then Enter and Shift+Enter through them.
    const box = page.locator('#log-search');
    await box.fill('FAILURE number');
    await box.press('Enter');
    const count = page.locator('#log-search-count');
    await count.filter({ hasText: '1 of 5' }).waitFor();
    await expectAt(page, ERRORS[0], { hit: 'failure number' });
    for (let i = 1; i < ERRORS.length; i++) {
      await box.press('Enter');
      await count.filter({ hasText: `${i + 1} of 5` }).waitFor();
      await expectAt(page, ERRORS[i], { hit: 'failure number' });
    }
    await box.press('Enter'); // round to the first
    await count.filter({ hasText: '1 of 5' }).waitFor();
    await expectAt(page, ERRORS[0]);
    await box.press('Shift+Enter'); // and back to the last
    await count.filter({ hasText: '5 of 5' }).waitFor();
    await expectAt(page, ERRORS[4]);
    await page.locator('#log-prev').click();
    await count.filter({ hasText: '4 of 5' }).waitFor();
    await expectAt(page, ERRORS[3]);
    await page.locator('#log-next').click();
    await count.filter({ hasText: '5 of 5' }).waitFor();
    await expectAt(page, ERRORS[4]);
    await shot(t, page, 'log-search.png', { fullPage: true });

    // Only the matches.
    await page.locator('#log-filter').check();
    await page.waitForFunction(() => document.querySelectorAll('.logline').length === 5);
    const shown = await page.locator('.logline').evaluateAll((rows) => rows.map((r) => Number(r.dataset.line)));
    assert.deepEqual(shown, ERRORS, 'the filter shows the matching lines, in order');
    await page.locator('#log-filter').uncheck();
    await page.waitForFunction(() => document.querySelectorAll('.logline').length > 5);

    // Next error: the lines the error count counted.
    await box.fill('');
    await page.locator('#log-next-error').click();
    await count.filter({ hasText: 'error 1 of 5' }).waitFor();
    await expectAt(page, ERRORS[0]);
    await page.locator('#log-next-error').click();
    await count.filter({ hasText: 'error 2 of 5' }).waitFor();
    await expectAt(page, ERRORS[1]);

    // A link to a line: click its number.
    const target = ERRORS[1] + 3;
    await page.locator(`.logline[data-line="${target}"] .ln`).click();
    await page.waitForFunction((n) => location.hash.endsWith(`?line=${n}`), target + 1);
    const link = page.url();
    assert.ok(link.includes(`#/tasks/${id}?line=${target + 1}`), link);
    await expectAt(page, target);

    const other = await page.context().newPage();
    try {
      await other.goto(link);
      await other.locator('.log-end', { hasText: 'Finished' }).waitFor({ timeout: 120_000 });
      await expectAt(other, target);
    } finally {
      await other.close();
    }
  });
  const task = await api('GET', `tasks/${id}`);
  assert.deepEqual(task.log_levels, { error: 5, warning: 0 });
});
