// Browser test of a real Scrapy project (Debian's python3-scrapy, run with
// /usr/bin/python3) saving its items through crawlhub's Scrapy pipeline,
// against a running crawlhub (see web/test/browser.mjs for the environment
// it needs). The site it crawls is served by the test on loopback: four
// listing pages, linked one to the next, each linking to five products.
// Every product must show in the task's Data tab exactly once.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const PRODUCTS = 20;

const PROJECT = {
  'scrapy.cfg': '[settings]\ndefault = shop.settings\n',
  'shop/__init__.py': '',
  'shop/settings.py': `BOT_NAME = "shop"
SPIDER_MODULES = ["shop.spiders"]
ROBOTSTXT_OBEY = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "WARNING"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
ITEM_PIPELINES = {"crawlhub.scrapy.CrawlhubPipeline": 300}
`,
  'shop/spiders/__init__.py': '',
  'shop/spiders/products.py': `import scrapy


class ProductsSpider(scrapy.Spider):
    name = "products"

    def __init__(self, start=None, **kw):
        super().__init__(**kw)
        self.start_urls = [start + "/list/0"]

    def parse(self, response):
        for href in response.css("a.product::attr(href)").getall():
            yield response.follow(href, self.product)
        nxt = response.css("a.next::attr(href)").get()
        if nxt:
            yield response.follow(nxt, self.parse)

    def product(self, response):
        yield {
            "name": response.css("h1.name::text").get(),
            "price": float(response.css("p.price::text").get()),
            "url": response.url,
        }
`,
};

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
  form.set('file', new Blob([zip(PROJECT)], { type: 'application/zip' }), 'shop.zip');
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
