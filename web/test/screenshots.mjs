// The README's pictures: the overview, a node's page and a log search,
// taken in headless Chromium from a running crawlhub after a few real
// tasks. Not a test of the dashboard (web/test/*.test.mjs are); run it with
// `npm run screenshots` against a crawlhub that is up (CRAWLHUB_E2E_URL and
// CRAWLHUB_E2E_TOKEN, see browser.mjs), and it writes docs/screenshots/*.png.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

// A spider that crawls for a few seconds, with a warning and two errors in
// its log; and one that fails.
const SHOP = `i=0
while [ $i -lt 400 ]; do
  echo "$(date '+%F %T') [shop] INFO: GET https://shop.example/p/$i 200"
  [ $i = 120 ] && echo "$(date '+%F %T') [shop] WARNING: slow answer from https://shop.example/p/$i (4.2 s)"
  [ $i = 250 ] && echo "$(date '+%F %T') [shop] ERROR: Spider error processing <GET https://shop.example/p/$i>"
  [ $i = 333 ] && echo "$(date '+%F %T') [shop] ERROR: Gave up retrying <GET https://shop.example/p/$i> (failed 3 times)"
  i=$((i + 1))
done
sleep 2
`;
const FLAKY = `echo "$(date '+%F %T') [news] INFO: Spider opened"
echo "$(date '+%F %T') [news] ERROR: Connection refused: news.example:443"
exit 1
`;

async function spider(name, script) {
  const form = new FormData();
  form.set('name', `${name}-${Date.now().toString(36)}`);
  form.set('command', 'sh run.sh');
  form.set('file', new Blob([zip({ 'run.sh': script })], { type: 'application/zip' }), `${name}.zip`);
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  return JSON.parse(text);
}

async function ended(id) {
  for (;;) {
    const t = await api('GET', `tasks/${id}`);
    if (['finished', 'error', 'cancelled', 'abnormal'].includes(t.status)) return t;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test('screenshots of the overview, a node and a log search', async (t) => {
  const shop = await spider('shop', SHOP);
  const news = await spider('news', FLAKY);
  const ids = [];
  for (let i = 0; i < 4; i++) ids.push((await api('POST', 'tasks', { spider_id: shop.id })).items[0].id);
  for (let i = 0; i < 2; i++) ids.push((await api('POST', 'tasks', { spider_id: news.id })).items[0].id);
  await Promise.all(ids.map(ended));
  const nodes = await api('GET', 'nodes');

  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/overview`));
    await page.locator('.u-legend').first().waitFor();
    await shot(t, page, 'overview.png');

    await page.goto(url(`#/nodes/${nodes.items[0].id}`));
    await page.locator('.load-chart canvas').first().waitFor();
    await page.getByText('Asking the node').waitFor({ state: 'detached' });
    await shot(t, page, 'node.png', { fullPage: true });

    await page.goto(url(`#/tasks/${ids[0]}`));
    await page.locator('.log-end').waitFor();
    const box = page.locator('#log-search');
    await box.fill('error');
    await box.press('Enter');
    await page.locator('#log-search-count', { hasText: 'of' }).waitFor();
    await shot(t, page, 'log-search.png');
  });
});
