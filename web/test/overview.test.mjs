// Browser test of the overview, the dashboard's home page, against a
// running crawlhub (see web/test/browser.mjs for the environment it needs).
//
// The test uploads a spider that succeeds and one that fails, runs them,
// and checks that the page the dashboard opens on shows them: the two
// charts drawn by uPlot, the numbers the API counts, the failing spider
// first, the run times; then that a task finishing while the page is open
// shows without a reload.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const spiders = [];

async function newSpider(name, script) {
  const form = new FormData();
  form.set('name', `e2e-${name}-${Date.now().toString(36)}`);
  form.set('command', 'sh run.sh');
  form.set('file', new Blob([zip({ 'run.sh': script })], { type: 'application/zip' }), 'spider.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  const sp = JSON.parse(text);
  spiders.push(sp);
  return sp;
}

/** Run sp and wait until its task has ended; returns the task. */
async function runToEnd(sp) {
  const { items } = await api('POST', 'tasks', { spider_id: sp.id });
  const id = items[0].id;
  for (let i = 0; i < 600; i++) {
    const t = await api('GET', `tasks/${id}`);
    if (['finished', 'error', 'cancelled', 'abnormal'].includes(t.status)) return t;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`task ${id} did not end in 60 s`);
}

after(async () => {
  for (const sp of spiders) await api('DELETE', `spiders/${sp.id}`).catch(() => {});
});

const sum = (m) => Object.values(m ?? {}).reduce((a, b) => a + b, 0);

test('the overview is the home page: charts of the tasks that ran, their numbers, and a new end live', async (t) => {
  const ok = await newSpider('succeeds', 'echo fine\nsleep 1\n');
  const bad = await newSpider('fails', 'echo broken >&2\nexit 3\n');
  assert.equal((await runToEnd(ok)).status, 'finished');
  assert.equal((await runToEnd(ok)).status, 'finished');
  assert.equal((await runToEnd(bad)).status, 'error');

  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}`));
    await page.waitForURL((u) => u.hash === '#/overview');
    assert.equal(await page.locator('nav a[aria-current="page"]').innerText(), 'Overview');

    // Both charts are uPlot canvases, with a legend of the outcomes.
    for (const id of ['#chart-day', '#chart-month']) {
      await page.locator(`${id} .uplot canvas`).waitFor();
      const legend = await page.locator(`${id} .u-legend .u-label`).allInnerTexts();
      for (const label of ['Finished', 'Error', 'Abnormal', 'Cancelled']) assert.ok(legend.includes(label), `${id} legend ${legend}`);
    }

    // The page's numbers are the API's, which count the tasks just run.
    const day = await api('GET', 'stats');
    const n = sum(day.totals);
    assert.ok(day.totals.finished >= 2 && day.totals.error >= 1, JSON.stringify(day.totals));
    const ended = page.locator('#stat-ended .stat-value');
    await page.locator(`#stat-ended .stat-value[data-value="${n}"]`).waitFor();
    assert.equal(await page.locator('#chart-day').getAttribute('data-total'), String(n));
    assert.equal(await page.locator('#stat-success .stat-value').innerText(), `${(day.success_rate * 100).toFixed(1)}%`);
    assert.equal(await page.locator('#stat-running .stat-value').innerText(), String(day.running));

    // The failing spider is listed with its one failure; the other one's
    // run time is about its 1 s sleep.
    const failing = page.locator(`#failing-table tr[data-spider-name="${bad.name}"]`);
    await failing.waitFor();
    assert.equal(await failing.locator('[data-field="failed"]').innerText(), '1');
    const okRow = page.locator(`#spider-stats tr[data-spider-name="${ok.name}"]`);
    assert.equal(await okRow.locator('[data-field="ended"]').innerText(), '2');
    assert.match(await okRow.locator('[data-field="avg"]').innerText(), /^1\.\d s$/);
    assert.match(await okRow.locator('[data-field="p95"]').innerText(), /^1\.\d s$/);

    // Hovering the last hour shows its counts in the legend (the current
    // hour holds this test's tasks).
    const over = page.locator('#chart-day .u-over');
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width - 2, box.y + box.height / 2);
    const last = day.buckets[day.buckets.length - 1].counts;
    const finishedValue = page.locator('#chart-day .u-legend .u-series', { hasText: 'Finished' }).locator('.u-value');
    await page.waitForFunction(([el, want]) => el.textContent === want, [await finishedValue.elementHandle(), String(last.finished ?? 0)]);
    await shot(t, page, 'overview.png');

    // A task that ends while the page is open shows without a reload.
    await page.evaluate(() => (window.__sameDocument = true));
    await runToEnd(ok);
    await page.locator(`#stat-ended .stat-value[data-value="${n + 1}"]`).waitFor();
    await page.locator(`#spider-stats tr[data-spider-name="${ok.name}"] [data-field="ended"]`, { hasText: '3' }).waitFor();
    assert.equal(await ended.innerText(), String(n + 1));
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
  });
});
