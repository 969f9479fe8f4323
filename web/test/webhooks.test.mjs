// Browser test of the Alerts page (#/webhooks), against a running crawlhub:
// an admin creates a webhook to a receiver this test runs on loopback, sees
// its secret once, sends a test and sees it delivered, then a task of a
// spider that fails and sees that delivery arrive, live, with its outcome.
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… node --test web/test/webhooks.test.mjs

import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

/** The receiver: keeps each request, checks its signature, answers 200. */
const received = [];
let waiters = [];
let receiver;
let receiverURL = '';
let secret = '';

before(async () => {
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const want = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
      const got = Buffer.from(req.headers['x-crawlhub-signature'] ?? '');
      const valid = got.length === want.length && timingSafeEqual(got, want);
      received.push({ event: req.headers['x-crawlhub-event'], delivery: req.headers['x-crawlhub-delivery'], valid, body: JSON.parse(body.toString() || 'null') });
      res.writeHead(valid ? 200 : 401).end();
      for (const w of waiters) w();
      waiters = [];
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverURL = `http://127.0.0.1:${receiver.address().port}/hook`;
});

after(() => new Promise((resolve) => receiver.close(resolve)));

/** Wait until the receiver has a request of event, and return it. */
async function receivedEvent(event, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = received.find((x) => x.event === event);
    if (r) return r;
    const left = deadline - Date.now();
    assert.ok(left > 0, `no ${event} delivery within ${timeoutMs} ms; got ${JSON.stringify(received.map((x) => x.event))}`);
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

const made = { spiders: [], webhooks: [] };
after(async () => {
  for (const id of made.webhooks) await api('DELETE', `webhooks/${id}`).catch(() => {});
  for (const id of made.spiders) await api('DELETE', `spiders/${id}`).catch(() => {});
});

test('an admin creates a webhook, sends a test, and sees a failed task delivered', async (t) => {
  const name = `e2e-alerts-${Date.now().toString(36)}`;
  // A spider that fails, made before the page opens so the filter offers it.
  const form = new FormData();
  form.set('name', `${name}-boom`);
  form.set('command', 'sh run.sh');
  form.set('file', new Blob([zip({ 'run.sh': 'echo going to fail\nexit 7\n' })], { type: 'application/zip' }), 'spider.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  assert.equal(res.status, 201, await res.clone().text());
  const spider = await res.json();
  made.spiders.push(spider.id);

  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/webhooks`));
    await page.locator('nav a[data-section="webhooks"]', { hasText: 'Alerts' }).waitFor();
    await page.locator('#new-webhook').click();
    const dialog = page.locator('#webhook-dialog');
    await dialog.locator('#webhook-name').fill(name);
    await dialog.locator('#webhook-url').fill(receiverURL);
    // task.failed is ticked for a new channel; add node.offline too.
    assert.equal(await dialog.locator('#event-task-failed').isChecked(), true);
    await dialog.locator('#event-node-offline').check();
    await dialog.locator('#webhook-spiders').selectOption(spider.id);
    await shot(t, page, 'alerts-form.png');
    await dialog.locator('button[data-role="submit"]').click();

    // The secret, once.
    const once = page.locator('#webhook-secret-dialog #webhook-secret-once');
    await once.waitFor();
    secret = await once.inputValue();
    assert.match(secret, /^[0-9a-f]{64}$/);
    await page.locator('#webhook-secret-dialog button', { hasText: 'Done' }).click();

    const row = page.locator(`#webhooks-table tr[data-name="${name}"]`);
    await row.waitFor();
    made.webhooks.push(await row.getAttribute('data-webhook-id'));
    assert.match(await row.locator('[data-field="events"]').innerText(), /task\.failed, node\.offline/);
    assert.equal(await row.locator('[data-field="to"]').innerText(), receiverURL);
    // The list never shows the secret again.
    const listed = await api('GET', 'webhooks');
    assert.ok(!JSON.stringify(listed).includes(secret), 'the secret is listed');

    // Send a test: delivered, to the receiver, signed.
    await row.locator('button[data-action="test"]').click();
    await page.locator('#deliveries-table tr[data-event="test"][data-status="delivered"]').waitFor();
    const test = await receivedEvent('test');
    assert.ok(test.valid, 'the test delivery is signed with the secret shown');

    // A task of the spider fails: its delivery arrives, and the page shows it live.
    await api('POST', 'tasks', { spider_id: spider.id });
    const failed = await receivedEvent('task.failed', 60_000);
    assert.ok(failed.valid, 'the task.failed delivery is signed');
    assert.equal(failed.body.task.spider_name, spider.name);
    assert.equal(failed.body.task.exit_code, 7);
    const line = page.locator(`#deliveries-table tr[data-delivery-id="${failed.delivery}"]`);
    await line.waitFor();
    await page.locator(`#deliveries-table tr[data-delivery-id="${failed.delivery}"][data-status="delivered"]`).waitFor();
    assert.equal(await line.locator('[data-field="attempts"]').innerText(), '1');
    await shot(t, page, 'alerts.png', { fullPage: true });

    // Disable it: the page says so.
    await row.locator('button[data-action="disable"]').click();
    await page.locator(`#webhooks-table tr[data-name="${name}"][data-enabled="false"]`).waitFor();
  });
});
