// Browser test of the nodes' load over time, against a running crawlhub
// (the all-in-one: its own node heartbeats, every 5 s by default, with its
// load). The node list shows CPU and memory sparklines; the node page's
// charts show the history and grow as heartbeats arrive, without a reload.
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… node --test web/test/nodes-metrics.test.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage } from './browser.mjs';

useBrowser();

// A new 10 s slot opens within 10 s, and the heartbeat that fills it comes
// within one interval (5 s by default) after that.
const NEW_POINT_MS = 30_000;

async function masterNode() {
  const { items } = await api('GET', 'nodes');
  const node = items.find((n) => n.is_master && n.status === 'online');
  assert.ok(node, `no online all-in-one node in ${JSON.stringify(items)}`);
  // The history has the first heartbeat's point within moments of start.
  for (let i = 0; i < 100; i++) {
    const m = await api('GET', `nodes/${node.id}/metrics?range=1h`);
    if (m.points.length > 0) return node;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`node ${node.id} has no recorded load after 20 s`);
}

const points = (locator) => locator.evaluate((el) => Number(el.dataset.points ?? 0));

test('the node list shows CPU and memory sparklines, and the node page charts its load live in three ranges', async (t) => {
  const node = await masterNode();
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/nodes`));
    const row = page.locator(`#nodes-table tbody tr[data-node-id="${node.id}"]`);
    await row.waitFor();
    for (const name of ['cpu', 'memory']) {
      const spark = row.locator(`[data-spark="${name}"]`);
      await spark.locator('canvas').waitFor();
      assert.ok((await points(spark)) >= 1, `${name} sparkline without points`);
    }
    assert.match(await row.locator('.spark-now').first().innerText(), /^\d+%$/);
    await shot(t, page, 'nodes-sparklines.png');

    await row.locator('a').first().click();
    await page.waitForURL((u) => u.hash === `#/nodes/${encodeURIComponent(node.id)}`);
    const charts = ['cpu', 'memory', 'disk', 'network', 'load'];
    for (const name of charts) {
      const chart = page.locator(`[data-chart="${name}"]`);
      await chart.locator('canvas').waitFor();
      assert.ok((await points(chart)) >= 1, `${name} chart without points`);
    }
    // Memory and disk are used space on a scale of the machine's total.
    assert.match(await page.locator('.load-chart-title', { hasText: 'Memory' }).innerText(), /^Memory \(of [\d.]+ [KMGT]iB\)$/);
    assert.match(await page.locator('[data-chart="memory"] .u-legend').innerText(), /Used/);

    // A heartbeat in a new slot adds a point: no reload, no navigation.
    await page.evaluate(() => {
      window.__sameDocument = true;
    });
    const cpu = page.locator('[data-chart="cpu"]');
    const before = await points(cpu);
    await page.waitForFunction(
      (n) => Number(document.querySelector('[data-chart="cpu"]')?.dataset.points ?? 0) > n,
      before,
      { timeout: NEW_POINT_MS },
    );
    assert.equal(await page.evaluate(() => window.__sameDocument), true, 'the page was reloaded');
    const after = await points(cpu);
    for (const name of charts) {
      assert.equal(await points(page.locator(`[data-chart="${name}"]`)), after, `${name} chart out of step with the CPU chart`);
    }
    await shot(t, page, 'node-load.png', { fullPage: true });

    // The other ranges read coarser points; the charts are drawn again.
    for (const range of ['24h', '7d', '1h']) {
      const tab = page.locator(`.load-tabs [data-range="${range}"]`);
      await tab.click();
      assert.equal(await tab.getAttribute('aria-selected'), 'true');
      await page.locator('[data-chart="cpu"] canvas').waitFor();
      await page.locator('.load-note', { hasText: range === '1h' ? 'one per 10 s' : range === '24h' ? 'one per 1 min' : 'one per 10 min' }).or(page.locator('.load-note', { hasText: 'No points yet' })).waitFor();
    }
    assert.ok((await points(cpu)) >= after, 'back on 1 h, fewer points than before');
  });
});
