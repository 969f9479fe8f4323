// Browser test of a real Scrapy project (internal/e2e/testdata/shop, run by
// Debian's python3-scrapy with /usr/bin/python3) saving its items through crawlhub's Scrapy pipeline,
// against a running crawlhub (see web/test/browser.mjs for the environment
// it needs). The site it crawls is served by the test on loopback: four
// listing pages, linked one to the next, each linking to five products.
// Every product must show in the task's Data tab exactly once.

import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const PRODUCTS = 20;

/** The Scrapy project the Go end-to-end test uploads too: path → content. */
async function project() {
  const root = fileURLToPath(new URL('../../internal/e2e/testdata/shop/', import.meta.url));
  const files = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files[path.relative(root, full)] = await readFile(full, 'utf8');
  }
  return files;
}

/** The shop: /list/<n> links to products n*5…n*5+4 and to /list/<n+1>. */
function shop() {
  return http.createServer((req, res) => {
    let m = /^\/list\/(\d+)$/.exec(req.url ?? '');
    if (m) {
      const n = Number(m[1]);
      let body = `<html><body><h1>Page ${n}</h1>`;
      for (let i = 0; i < 5; i++) body += `<a class="product" href="/product/${n * 5 + i}">product</a>`;
      if (n < PRODUCTS / 5 - 1) body += `<a class="next" href="/list/${n + 1}">next</a>`;
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(`${body}</body></html>`);
      return;
    }
    m = /^\/product\/(\d+)$/.exec(req.url ?? '');
    if (m) {
      res.writeHead(200, { 'Content-Type': 'text/html' })
        .end(`<html><body><h1 class="name">Product ${m[1]}</h1><p class="price">${m[1]}.50</p><a href="/list/0">home</a></body></html>`);
      return;
    }
    res.writeHead(404).end();
  });
}

let site;
let siteURL = '';
let spider;

before(async () => {
  site = shop();
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  siteURL = `http://127.0.0.1:${site.address().port}`;
});

after(async () => {
  if (spider) await api('DELETE', `spiders/${spider.id}`).catch(() => {});
  await new Promise((resolve) => site.close(resolve));
});

test('a Scrapy project with the crawlhub pipeline: every product shows once in the task’s Data tab', async (t) => {
  const form = new FormData();
  form.set('name', `e2e-scrapy-${Date.now().toString(36)}`);
  form.set('command', '/usr/bin/python3 -m scrapy crawl products');
  form.set('file', new Blob([zip(await project())], { type: 'application/zip' }), 'shop.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  spider = JSON.parse(text);
  const { items } = await api('POST', 'tasks', { spider_id: spider.id, params: `-a start=${siteURL}` });
  const id = items[0].id;

  await withPage(t, async (page) => {
    page.setDefaultTimeout(120_000); // Scrapy starts in a few seconds on an idle machine
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${id}?tab=data`));
    await page.locator('#items-end', { hasText: `Finished — ${PRODUCTS} items` }).waitFor();
    // The cells of every row: [#, name, price, url].
    const rows = await page.locator('.item-rows .item-row').evaluateAll((rs) => rs.map((r) => [...r.children].map((c) => c.textContent)));
    assert.equal(rows.length, PRODUCTS, 'one row per product');
    for (let i = 0; i < PRODUCTS; i++) {
      assert.equal(rows.filter((r) => r.includes(`Product ${i}`)).length, 1, `Product ${i} shows once`);
    }
    await shot(t, page, 'task-data-scrapy.png');
  });
  const task = await api('GET', `tasks/${id}`);
  assert.equal(task.status, 'finished', task.reason);
  assert.equal(task.item_count, PRODUCTS);
});
