// Browser test of the dashboard against a running crawlhub (the Makefile
// starts the all-in-one for it, which creates the sample spider "sample").
// Uses Debian's Chromium through playwright-core, which never downloads a
// browser.
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… npm run test:e2e
//
// Optional: CRAWLHUB_CHROMIUM (default /usr/bin/chromium) and
// CRAWLHUB_E2E_ARTIFACTS (where screenshots go; default a new temp dir).

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const BASE = process.env.CRAWLHUB_E2E_URL ?? '';
const TOKEN = process.env.CRAWLHUB_E2E_TOKEN ?? '';
const CHROMIUM = process.env.CRAWLHUB_CHROMIUM || '/usr/bin/chromium';

// The node list refreshes every 5 s, and a freshly started agent may need a
// heartbeat or two to show as online.
const TIMEOUT_MS = 20_000;

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-quic',
];

let browser;
let profile;
let artifacts;

before(async () => {
  assert.ok(BASE, 'set CRAWLHUB_E2E_URL to the dashboard URL, e.g. http://127.0.0.1:8080 (the Makefile starts a crawlhub for it)');
  assert.ok(TOKEN, 'set CRAWLHUB_E2E_TOKEN to the token that server accepts');
  await access(CHROMIUM, constants.X_OK).catch(() => {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium) or set CRAWLHUB_CHROMIUM`);
  });
  artifacts = process.env.CRAWLHUB_E2E_ARTIFACTS || (await mkdtemp(path.join(tmpdir(), 'crawlhub-e2e-')));
  await mkdir(artifacts, { recursive: true });
  // A profile of our own, so nothing from another Chromium run leaks in.
  profile = await mkdtemp(path.join(tmpdir(), 'crawlhub-e2e-profile-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 800 },
  });
});

after(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
});

/** The dashboard URL with an optional query, relative to CRAWLHUB_E2E_URL. */
function url(query = '') {
  const base = BASE.endsWith('/') ? BASE : `${BASE}/`;
  return new URL(query, base).href;
}

/**
 * Run fn with a page that starts with empty storage (every test starts signed
 * out), fail on uncaught page errors, and keep a screenshot of a failure.
 */
async function withPage(t, fn) {
  await browser.clearCookies();
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  try {
    // Storage is per origin: open the origin once to clear it.
    await page.goto(url(), { waitUntil: 'domcontentloaded' });
    await page.evaluate(() => localStorage.clear());
    await fn(page);
    assert.deepEqual(errors.map(String), [], 'uncaught errors in the page');
  } catch (err) {
    const file = path.join(artifacts, `failed-${t.name.replace(/\W+/g, '-')}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    t.diagnostic(`screenshot of the failure: ${file}`);
    throw err;
  } finally {
    await page.close();
  }
}

test('the login URL signs in, hides the token and lists an online node with its system info', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}`));

    const online = page.locator('#nodes-table tbody tr[data-status="online"]').first();
    await online.waitFor();
    assert.equal(await online.locator('.badge[data-status]').first().innerText(), 'Online');

    const address = new URL(page.url());
    assert.equal(address.searchParams.has('token'), false, `token still in the address bar: ${page.url()}`);
    assert.ok(!page.url().includes(TOKEN), `token still in the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(() => localStorage.getItem('crawlhub.token')), TOKEN);

    const shot = path.join(artifacts, 'nodes.png');
    await page.screenshot({ path: shot, fullPage: true });
    t.diagnostic(`nodes page: ${shot}`);

    const id = await online.getAttribute('data-node-id');
    await online.locator('a').first().click();
    await page.waitForURL((u) => u.hash === `#/nodes/${encodeURIComponent(id)}`);

    const cpus = page.locator('[data-field="cpus"]');
    await cpus.waitFor();
    const count = Number(await cpus.innerText());
    assert.ok(count > 0, `CPU count ${count}, want > 0`);
    await page.locator('#executables').waitFor();

    const detail = path.join(artifacts, 'node.png');
    await page.screenshot({ path: detail, fullPage: true });
    t.diagnostic(`node page: ${detail}`);
  });
});

test('without a stored token the token form is shown, and pasting the token signs in', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url());
    const form = page.locator('#token-form');
    await form.waitFor();
    assert.equal(await page.locator('#nodes-table').count(), 0);

    await form.locator('#token').fill(TOKEN);
    await form.locator('button[type="submit"]').click();
    await page.locator('#nodes-table').waitFor();
    assert.equal(await page.evaluate(() => localStorage.getItem('crawlhub.token')), TOKEN);
  });
});

test('a wrong token in the login URL leads to the token form', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=not-${encodeURIComponent(TOKEN)}`));
    await page.locator('#token-form').waitFor();
    await page.getByText('The saved token was not accepted').waitFor();
    assert.ok(!page.url().includes('token='), `token still in the address bar: ${page.url()}`);
  });
});

/** Call the REST API from the test (not the page), with the token. */
async function api(method, path, body) {
  const res = await fetch(url(`api/${path}`), {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${data?.message ?? text}`);
  return data;
}

/** Move the mouse out of the way, so no row shows its hover state in a screenshot. */
async function shot(t, page, name, options = {}) {
  await page.mouse.move(1, 1);
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, ...options });
  t.diagnostic(`${name}: ${file}`);
}

test('run the sample spider from the Spiders page, watch its log live, cancel it and find it in the task list', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/spiders`));
    assert.equal(await page.locator('nav a[data-section]').allInnerTexts().then((a) => a.join(' ')), 'Nodes Spiders Tasks');
    const row = page.locator('#spiders-table tbody tr[data-spider-name="sample"]');
    await row.waitFor();
    assert.equal(await row.locator('code.command').innerText(), 'sh run.sh');
    assert.match(await row.locator('td').nth(2).innerText(), /^[0-9a-f]{8}$/, 'short MD5');
    await shot(t, page, 'spiders.png');

    await row.locator('button[data-action="run"]').click();
    const dialog = page.locator('#run-dialog');
    await dialog.waitFor();
    assert.equal(await dialog.locator('input[name="mode"]:checked').getAttribute('value'), 'any', 'mode any by default');
    assert.equal(await dialog.locator('#run-nodes').isVisible(), false, 'no node picker for mode any');
    await dialog.locator('input[name="mode"][value="nodes"]').check();
    await dialog.locator('#run-nodes input[name="node"]').first().waitFor();
    await shot(t, page, 'run-dialog.png');
    await dialog.locator('input[name="mode"][value="any"]').check();
    await dialog.locator('button[data-role="submit"]').click();

    // Lands on the new task's page.
    await page.waitForURL((u) => /^#\/tasks\/[0-9a-f]{24}$/.test(u.hash));
    const id = new URL(page.url()).hash.split('/')[2];
    assert.equal(await page.locator('#task-id').innerText(), id);

    // The first lines appear live, numbered, some in colour.
    const first = page.locator('.log-scroll .logline', { hasText: 'line 1: crawling page 1' });
    await first.waitFor();
    assert.equal(await first.locator('.ln').innerText(), '2');
    await page.locator('#task-status .badge[data-status="running"]').waitFor();
    await page.locator('.log-scroll .logline .ansi-fg-2', { hasText: 'line 3: fetched' }).waitFor();
    assert.equal(await page.locator('#log-follow').getAttribute('aria-pressed'), 'true');
    await page.locator('.log-scroll .logline', { hasText: 'line 5:' }).waitFor();
    await shot(t, page, 'task-running.png');

    // Cancel it from the page.
    await page.locator('#cancel-task').click();
    const confirm = page.locator('#cancel-dialog');
    await confirm.waitFor();
    await confirm.locator('#cancel-reason').fill('browser test');
    await confirm.locator('button[data-role="submit"]').click();
    await page.locator('#task-status .badge[data-status="cancelled"]').waitFor();
    const end = page.locator('.log-end');
    await end.waitFor();
    const endText = (await end.textContent()).replace(/\s+/g, ' ').trim();
    assert.match(endText, /^Cancelled — \d+ lines?$/);
    assert.match(await page.locator('#task-status .reason').innerText(), /browser test/);
    await page.locator('#restart-task').waitFor();
    assert.equal(await page.locator('#cancel-task').count(), 0);

    // Every line once and in order: line i (from 1) is the spider's "line i".
    const texts = await page.locator('.log-scroll .logline .lt').allInnerTexts();
    assert.ok(texts.length >= 6, `only ${texts.length} lines`);
    assert.match(texts[0], /^sample spider starting/);
    texts.slice(1).forEach((text, i) => assert.match(text, new RegExp(`^line ${i + 1}:`), `line ${i + 1}`));
    const total = Number(endText.match(/(\d+) line/)[1]);
    assert.equal(total, texts.length, 'the end notice counts the lines shown');
    await shot(t, page, 'task-cancelled.png');

    // The task list shows it.
    await page.locator('nav a[data-section="tasks"]').click();
    const taskRow = page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`);
    await taskRow.waitFor();
    assert.equal(await taskRow.getAttribute('data-status'), 'cancelled');
    assert.equal(await taskRow.locator('.badge[data-status]').innerText(), 'Cancelled');
    await taskRow.locator('button[data-action="restart"]').waitFor();
    await shot(t, page, 'tasks.png');
  });
});

test('the task list changes state live, without a reload, and filters by status', async (t) => {
  await withPage(t, async (page) => {
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks`));
    await page.locator('#tasks-table, .empty').first().waitFor();
    await page.locator('.live[data-state="open"]').waitFor();
    const reloads = [];
    page.on('framenavigated', (f) => f === page.mainFrame() && reloads.push(f.url()));

    const { items } = await api('POST', 'tasks', { spider: 'sample' });
    const id = items[0].id;
    const row = page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`);
    await row.waitFor();
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"][data-status="running"]`).waitFor();
    await row.locator('button[data-action="cancel"]').waitFor();

    await api('POST', `tasks/${id}/cancel`, { reason: 'from the test' });
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"][data-status="cancelled"]`).waitFor();
    assert.match(await row.locator('.reason').innerText(), /from the test/);
    assert.deepEqual(reloads, [], 'the page did not reload');

    await page.locator('#filter-status').selectOption('cancelled');
    await page.waitForURL((u) => u.hash === '#/tasks?status=cancelled');
    await page.locator(`#tasks-table tbody tr[data-task-id="${id}"]`).waitFor();
    for (const status of await page.locator('#tasks-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.status))) {
      assert.equal(status, 'cancelled');
    }
  });
});

test('uploading a hostile archive shows the server’s refusal; a good one is listed and can be deleted', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crawlhub-e2e-zip-'));
  try {
    const evil = path.join(dir, 'evil.zip');
    const good = path.join(dir, 'good.zip');
    await writeFile(evil, zip({ '../escape.sh': 'echo escaped\n' }));
    await writeFile(good, zip({ 'run.sh': 'echo hello from the browser test\n' }));
    const name = `e2e-${Date.now().toString(36)}`;

    await withPage(t, async (page) => {
      await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/spiders`));
      await page.locator('#spiders-table').waitFor();
      await page.locator('#new-spider').click();
      const dialog = page.locator('#upload-dialog');
      await dialog.waitFor();
      await dialog.locator('#spider-name').fill(name);
      await dialog.locator('#spider-command').fill('sh run.sh');
      await dialog.locator('#spider-env').fill('GREETING=hello\nnot a variable');
      await dialog.locator('#spider-file').setInputFiles(evil);
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.getByText('Line 2: "not a variable" has no "="').waitFor();

      await dialog.locator('#spider-env').fill('GREETING=hello');
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.getByText('archive refused').waitFor();
      assert.match(await dialog.locator('.callout-error').innerText(), /escape/);
      await shot(t, page, 'upload-refused.png');

      await dialog.locator('#spider-file').setInputFiles(good);
      await dialog.locator('button[data-role="submit"]').click();
      await dialog.waitFor({ state: 'detached' });
      const row = page.locator(`#spiders-table tbody tr[data-spider-name="${name}"]`);
      await row.waitFor();
      assert.match(await row.innerText(), /1 environment variable/);
      const sp = await api('GET', `spiders/${name}`);
      assert.deepEqual(sp.env, { GREETING: 'hello' });

      // Deploy: the node's answer comes back on the spiders channel.
      await row.locator('button[data-action="deploy"]').click();
      const confirmed = page.locator('.toast-ok', { hasText: `${name} is on its node` });
      await confirmed.waitFor();
      assert.match(await confirmed.innerText(), /Downloaded now\./);

      await row.locator('button[data-action="delete"]').click();
      const confirm = page.locator('#delete-dialog');
      await confirm.waitFor();
      await confirm.locator('button[data-role="submit"]').click();
      await row.waitFor({ state: 'detached' });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/** A zip archive of text files, stored without compression. */
function zip(files) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const nameBuf = Buffer.from(name);
    const data = Buffer.from(text);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBuf.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBuf.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBuf, data);
    centrals.push(central, nameBuf);
    offset += local.length + nameBuf.length + data.length;
  }
  const dir = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(dir.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dir, end]);
}

function crc32(buf) {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
