// Browser test of the "cluster bus unavailable" banner. The all-in-one the
// other browser tests use has no Redis, so this file starts its own master
// (`crawlhub server`) on a private redis-server, then kills Redis and starts
// it again on the same port, as an operator would see it.
//
// Needs, besides what browser.mjs needs: redis-server on the PATH, and a
// MongoDB-compatible server for the master: CRAWLHUB_TEST_FERRETDB_URI (a
// running one; `make test` sets it) or CRAWLHUB_FERRETDB_BIN (the test
// FerretDB, started here). CRAWLHUB_BIN names a crawlhub binary to use;
// without it one is built from this checkout (the dashboard in web/dist is
// embedded, so build it first: npm run build).

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { artifactsDir, context, useBrowser } from './browser.mjs';

useBrowser();

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = `busdown-${Math.random().toString(36).slice(2)}`;

let work;
let redisPort;
let redis = null;
let master = null;
let ferret = null;
let base = '';

/** A loopback TCP port that was free a moment ago. */
async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

/** Resolves once something accepts connections on port, within ms. */
async function waitListening(port, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50)); // a server that has no readiness signal
  }
}

/** Waits for a line of child's output matching re; resolves to the match. */
function waitOutput(child, re, ms, what) {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no ${re} within ${ms} ms; output:\n${seen}`)), ms);
    const onData = (b) => {
      seen += b.toString();
      const m = seen.match(re);
      if (m) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        resolve(m);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}); output:\n${seen}`)));
  });
}

async function startRedis() {
  redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(redisPort), '--dir', work,
    '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'], { stdio: 'ignore' });
  await waitListening(redisPort, 10_000);
}

async function stopRedis() {
  if (!redis) return;
  const exited = once(redis, 'exit');
  redis.kill('SIGKILL'); // as abrupt as a crash
  await exited;
  redis = null;
}

async function mongoURI() {
  const db = `t_busdown_${Math.random().toString(36).slice(2, 10)}`;
  let uri = process.env.CRAWLHUB_TEST_FERRETDB_URI;
  if (!uri) {
    const bin = process.env.CRAWLHUB_FERRETDB_BIN;
    assert.ok(bin, 'set CRAWLHUB_TEST_FERRETDB_URI to a running FerretDB, or CRAWLHUB_FERRETDB_BIN to the test FerretDB (`make test` sets both)');
    ferret = spawn(bin, ['--listen', '127.0.0.1:0', '--dir', path.join(work, 'ferretdb')], { stdio: ['ignore', 'pipe', 'pipe'] });
    uri = (await waitOutput(ferret, /^ferretdb ready (\S+)/m, 60_000, 'ferretdb'))[1];
  }
  const u = new URL(uri);
  u.pathname = `/${db}`;
  return u.href;
}

async function crawlhubBinary() {
  if (process.env.CRAWLHUB_BIN) return process.env.CRAWLHUB_BIN;
  const bin = path.join(work, 'crawlhub');
  await promisify(execFile)('go', ['build', '-o', bin, './cmd/crawlhub'], { cwd: ROOT, maxBuffer: 16 << 20 });
  return bin;
}

before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'crawlhub-busdown-'));
  redisPort = await freePort();
  await startRedis();
  const [bin, mongo] = await Promise.all([crawlhubBinary(), mongoURI()]);
  master = spawn(bin, ['server', '--redis', `redis://127.0.0.1:${redisPort}/0`, '--mongo', mongo,
    '--listen', '127.0.0.1:0', '--token', TOKEN, '--cluster-secret', `secret-${TOKEN}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  const m = await waitOutput(master, /master serving" addr=(127\.0\.0\.1:\d+)/, 60_000, 'crawlhub server');
  base = `http://${m[1]}`;
  // Keep reading its output, or a full pipe would stall it.
  master.stdout.resume();
  master.stderr.resume();
});

after(async () => {
  for (const p of [master, ferret]) {
    if (p && p.exitCode === null) {
      const exited = once(p, 'exit');
      p.kill('SIGTERM');
      await exited;
    }
  }
  await stopRedis();
  if (work) await rm(work, { recursive: true, force: true });
});

async function system() {
  const res = await fetch(`${base}/api/system`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200);
  return res.json();
}

test('a banner says the cluster bus is unavailable while Redis is down, and goes when it is back', async (t) => {
  const page = await context().newPage();
  page.setDefaultTimeout(20_000);
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  try {
    await page.goto(`${base}/?token=${encodeURIComponent(TOKEN)}`);
    await page.waitForURL((u) => u.hash === '#/overview');
    const banner = page.locator('#bus-banner');
    await banner.waitFor({ state: 'attached' });
    await page.waitForFunction(() => document.getElementById('bus-banner')?.dataset.bus === 'up');
    assert.equal(await banner.isVisible(), false, 'the banner shows while Redis is up');
    assert.equal((await system()).bus, 'up');

    await stopRedis();
    await banner.waitFor({ state: 'visible', timeout: 5_000 });
    const text = await banner.innerText();
    assert.match(text, /Cluster bus unavailable/);
    assert.match(text, /cannot reach Redis/);
    assert.equal((await system()).bus, 'down');
    const shotFile = path.join(artifactsDir(), 'bus-down.png');
    await page.screenshot({ path: shotFile });
    t.diagnostic(`the banner: ${shotFile}`);

    // A page opened during the outage says so at once, too.
    await page.reload();
    await page.locator('#bus-banner').waitFor({ state: 'visible', timeout: 5_000 });

    await startRedis();
    await page.locator('#bus-banner').waitFor({ state: 'hidden', timeout: 10_000 });
    assert.equal((await system()).bus, 'up');
    assert.deepEqual(errors.map(String), [], 'uncaught errors in the page');
  } catch (err) {
    const file = path.join(artifactsDir(), 'failed-bus-banner.png');
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    t.diagnostic(`screenshot of the failure: ${file}`);
    throw err;
  } finally {
    await page.close();
  }
});
