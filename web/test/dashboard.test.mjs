// Browser test of the dashboard against a running crawlhub (the Makefile
// starts the all-in-one for it). Uses Debian's Chromium through
// playwright-core, which never downloads a browser.
//
//   CRAWLHUB_E2E_URL=http://127.0.0.1:8080 CRAWLHUB_E2E_TOKEN=… npm run test:e2e
//
// Optional: CRAWLHUB_CHROMIUM (default /usr/bin/chromium) and
// CRAWLHUB_E2E_ARTIFACTS (where screenshots go; default a new temp dir).

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
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
