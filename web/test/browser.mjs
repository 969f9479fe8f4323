// What the browser tests share: Chromium (Debian's, through playwright-core,
// which never downloads a browser) started once per test file, a fresh
// signed-out page per test, the REST API with the token, users made for a
// test and signing in as them, screenshots, and zip archives for spider
// uploads.
//
// Environment: CRAWLHUB_E2E_URL and CRAWLHUB_E2E_TOKEN (a running crawlhub),
// optional CRAWLHUB_CHROMIUM (default /usr/bin/chromium) and
// CRAWLHUB_E2E_ARTIFACTS (where screenshots go; default a new temp dir).

import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const BASE = process.env.CRAWLHUB_E2E_URL ?? '';
export const TOKEN = process.env.CRAWLHUB_E2E_TOKEN ?? '';
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

/**
 * Start Chromium before the file's tests and close it after them. Call once
 * at the top of a test file.
 */
export function useBrowser() {
  before(launch);
  after(close);
}

/** The browser context (one per test file). */
export const context = () => browser;

/** Where screenshots go. */
export const artifactsDir = () => artifacts;

async function launch() {
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
}

async function close() {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
}

/** The dashboard URL with an optional query, relative to CRAWLHUB_E2E_URL. */
export function url(query = '') {
  const base = BASE.endsWith('/') ? BASE : `${BASE}/`;
  return new URL(query, base).href;
}

/**
 * Run fn with a page that starts with no cookie and empty storage (every
 * test starts signed out), fail on uncaught page errors, and keep a
 * screenshot of a failure.
 */
export async function withPage(t, fn) {
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

/** Call the REST API from the test (not the page), with the token. */
export async function api(method, path, body) {
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

/**
 * A user made for one test, with a random name and password:
 * {id, username, password, role}. The admin's token makes it.
 * @param {'viewer'|'operator'|'admin'} role
 */
export async function newUser(role) {
  const username = `e2e-${role}-${Math.random().toString(36).slice(2, 8)}`;
  const password = `pw-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;
  const user = await api('POST', 'users', { username, password, role });
  return { ...user, password };
}

/** Sign in on the sign-in page with a username and password; resolves once the dashboard shows. */
export async function signIn(page, { username, password }, hash = '') {
  await page.goto(url(hash));
  const form = page.locator('#login-form');
  await form.waitFor();
  await form.locator('#username').fill(username);
  await form.locator('#password').fill(password);
  await form.locator('button[type="submit"]').click();
  await page.locator('#account-name', { hasText: username }).waitFor();
}

/**
 * The session is the HttpOnly cookie: no token or session secret is in
 * the page's storage, and scripts cannot read the cookie.
 */
export async function assertNoSecretsInStorage(page) {
  const seen = await page.evaluate(() => ({
    local: Object.entries(localStorage),
    session: Object.entries(sessionStorage),
    cookie: document.cookie,
  }));
  for (const [where, entries] of [['localStorage', seen.local], ['sessionStorage', seen.session]]) {
    for (const [k, v] of entries) {
      assert.ok(!/token|session|csrf/i.test(k), `${where} holds ${k}`);
      assert.ok(!v.includes(TOKEN), `${where}[${k}] holds the token`);
    }
  }
  assert.ok(!seen.cookie.includes('crawlhub_session'), 'the session cookie is readable by scripts');
}

/** Move the mouse out of the way, so no row shows its hover state in a screenshot. */
export async function shot(t, page, name, options = {}) {
  await page.mouse.move(1, 1);
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, ...options });
  t.diagnostic(`${name}: ${file}`);
}

/** A zip archive of text files, stored without compression. */
export function zip(files) {
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
