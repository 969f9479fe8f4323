'use strict';
// Tests of the Node.js SDK (sdk/node) against a fake items endpoint.
// Run: node --test sdk/tests/node.test.cjs

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test, describe, before, after } = require('node:test');

const SDK = path.join(__dirname, '..', 'node');
const { Saver, ItemError, SaveError } = require(SDK);
const { FakeEndpoint } = require('./fake_endpoint.cjs');

// NODE_PATH as a task gets it: a directory holding crawlhub/.
let nodePath;
before(() => {
  nodePath = fs.mkdtempSync(path.join(os.tmpdir(), 'crawlhub-node-path-'));
  fs.symlinkSync(SDK, path.join(nodePath, 'crawlhub'));
});
after(() => fs.rmSync(nodePath, { recursive: true, force: true }));

async function withFake(t, opts) {
  const fake = await new FakeEndpoint(opts).start();
  t.after(() => fake.stop());
  return fake;
}

function saver(t, url, opts = {}) {
  const s = new Saver(url, { retryFor: 5000, ...opts });
  t.after(() => s.close().catch(() => {}));
  return s;
}

// Quiet the SDK's stderr warnings in this process; returns what was written.
function captureStderr(t) {
  const out = [];
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => {
    out.push(String(chunk));
    const cb = rest.find((a) => typeof a === 'function');
    if (cb) cb();
    return true;
  };
  t.after(() => {
    process.stderr.write = write;
  });
  return () => out.join('');
}

function env(extra) {
  const e = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CRAWLHUB_')) e[k] = v;
  return { ...e, NODE_PATH: nodePath, ...extra };
}

function run(args, extraEnv, { onStdout } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: env(extraEnv) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
      if (onStdout) onStdout(stdout, child);
    });
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const ns = (items) => items.map((it) => it.n);
const range = (n) => Array.from({ length: n }, (_, i) => i);

describe('Saver', { timeout: 60000 }, () => {
  test('batches by count', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { batchSize: 5, interval: 3600e3 });
    for (let i = 0; i < 12; i++) s.saveItem({ n: i });
    await fake.until('two full batches', () => fake.requests.length >= 2);
    assert.deepEqual(fake.requests, [[200, 5], [200, 5]]);
    await s.flush();
    assert.deepEqual(ns(fake.items), range(12));
    assert.deepEqual(fake.requests.at(-1), [200, 2]);
    assert.equal(s.saved, 12);
  });

  test('batches by time', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { batchSize: 1000, interval: 300 });
    const savedAt = Date.now();
    s.saveItems([{ n: 0 }, { n: 1 }, { n: 2 }]);
    await fake.until('3 items', () => fake.items.length >= 3, 5000);
    assert.ok(Date.now() - savedAt >= 290, 'sent before the interval');
    assert.deepEqual(fake.requests, [[200, 3]]);
  });

  test('retries 503 and keeps every item once', async (t) => {
    const stderr = captureStderr(t);
    const fake = await withFake(t);
    fake.fail503 = 3;
    const s = saver(t, fake.url, { batchSize: 7, interval: 3600e3 });
    for (let i = 0; i < 20; i++) s.saveItem({ n: i });
    await s.flush();
    assert.deepEqual(ns(fake.items), range(20));
    assert.equal(fake.requests.filter(([st]) => st === 503).length, 3);
    assert.match(stderr(), /retrying/);
  });

  test('retries until the endpoint is up', async (t) => {
    const stderr = captureStderr(t);
    const first = await new FakeEndpoint().start();
    const { port, url } = first;
    await first.stop(); // nothing listens on the port for a while
    const s = saver(t, url, { interval: 3600e3, retryFor: 20000 });
    s.saveItems(range(5).map((n) => ({ n })));
    const flushed = s.flush();
    while (!/retrying/.test(stderr())) await new Promise((r) => setTimeout(r, 20));
    const fake = await new FakeEndpoint().start(port);
    t.after(() => fake.stop());
    await flushed;
    assert.deepEqual(ns(fake.items), range(5));
  });

  test('gives up after the retry time and keeps the items', async (t) => {
    const stderr = captureStderr(t);
    const fake = await withFake(t);
    fake.fail503 = 1e9;
    const s = saver(t, fake.url, { interval: 3600e3, retryFor: 500 });
    s.saveItems(range(4).map((n) => ({ n })));
    await assert.rejects(s.flush(), (e) => e instanceof SaveError && e.waiting === 4 && /did not answer/.test(e.message));
    assert.doesNotMatch(stderr(), /s3cr3t/);
    fake.fail503 = 0;
    await s.flush();
    assert.deepEqual(ns(fake.items), [0, 1, 2, 3]);
  });

  test('a line the server refuses fails alone', async (t) => {
    captureStderr(t);
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    s.saveItems([{ n: 0 }, { n: 1 }, { n: 2, server_rejects: true }, { n: 3 }]);
    await assert.rejects(s.flush(), (e) => {
      assert.ok(e instanceof SaveError);
      assert.match(e.message, /line 3/);
      assert.match(e.message, /"n":2/);
      assert.equal(e.status, 400);
      assert.equal(e.lost, 1);
      return true;
    });
    assert.deepEqual(ns(fake.items), [0, 1, 3]);
    s.saveItem({ n: 4 }); // reported once; the saver goes on
    await s.flush();
    assert.deepEqual(ns(fake.items), [0, 1, 3, 4]);
  });

  test('a body too large is split', async (t) => {
    const fake = await withFake(t, { maxBody: 250 });
    const s = saver(t, fake.url, { interval: 3600e3 });
    s.saveItems(range(10).map((n) => ({ n, pad: 'x'.repeat(80) })));
    await s.flush();
    assert.deepEqual(ns(fake.items), range(10));
    assert.ok(fake.requests.some(([st]) => st === 413));
  });

  test('task gone', async (t) => {
    captureStderr(t);
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    s.saveItem({ n: 0 });
    fake.gone = true;
    await assert.rejects(s.flush(), (e) => e instanceof SaveError && e.status === 403 && /no longer takes/.test(e.message));
    assert.throws(() => s.saveItem({ n: 1 }), SaveError);
    assert.equal(fake.requests.length, 1);
  });

  test('a background failure is thrown by the next call', async (t) => {
    const stderr = captureStderr(t);
    const fake = await withFake(t);
    fake.gone = true;
    const s = saver(t, fake.url, { batchSize: 2, interval: 3600e3 });
    s.saveItems([{ n: 0 }, { n: 1 }]); // a full batch: sent in the background
    while (s._sending) await s._sending; // the background send is over
    assert.match(stderr(), /no longer takes/); // said at once
    assert.throws(() => s.saveItem({ n: 2 }), (e) => e instanceof SaveError && e.status === 403);
  });

  test('backpressure: saveItem resolves when there is room', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { batchSize: 10, maxPending: 20, interval: 3600e3 });
    for (let i = 0; i < 1000; i++) {
      await s.saveItem({ n: i });
      assert.ok(s._buf.length <= 20, `buffer ${s._buf.length}`);
    }
    await s.flush();
    assert.deepEqual(ns(fake.items), range(1000));
  });

  test('a file that cannot be written is not retried', { skip: !fs.existsSync('/dev/full') }, async (t) => {
    captureStderr(t);
    const s = new Saver(undefined, { file: '/dev/full', interval: 3600e3, retryFor: 60000 });
    t.after(() => s.close().catch(() => {}));
    s.saveItems([{ n: 0 }, { n: 1 }]);
    await assert.rejects(s.flush(), (e) => {
      assert.match(e.message, /could not save 2 items \(writing items to the items file failed/);
      assert.equal(e.lost, 2);
      return true;
    });
  });

  test('backpressure below the batch size does not wait for the timer', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { batchSize: 500, maxPending: 20, interval: 3600e3 });
    for (let i = 0; i < 100; i++) await s.saveItem({ n: i });
    assert.ok(fake.items.length >= 80, `${fake.items.length} items sent`);
    await s.flush();
    assert.deepEqual(ns(fake.items), range(100));
  });

  test('unix socket', async (t) => {
    const fake = await new FakeEndpoint().startUnix();
    t.after(() => fake.stop());
    assert.match(fake.url, /^http\+unix:\/\/%2F/);
    const s = saver(t, fake.url, { interval: 3600e3 });
    s.saveItems([{ n: 0 }, { n: 1 }, { n: 2 }]);
    await s.flush();
    assert.deepEqual(ns(fake.items), [0, 1, 2]);
  });
});

describe('items', { timeout: 60000 }, () => {
  test('bad items fail at the call', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    const circular = { a: 1 };
    circular.self = circular;
    const cases = [
      [[1, 2], /an array: an item must be a JSON object/],
      ['text', /string: an item must be a JSON object/],
      [null, /null: an item must be a JSON object/],
      [new Date(), /a Date: an item must be a JSON object/],
      [{ _id: 1 }, /reserved key '_id'/],
      [{ a: { _id: 1 }, _current: true }, /reserved key '_current'/],
      [{ big: 'x'.repeat(1 << 20) }, /over the limit of 1048576 bytes/],
      [circular, /circular reference/],
      [{ b: Buffer.from([0xff, 0xfe]) }, /not UTF-8/],
    ];
    for (const [item, want] of cases) {
      assert.throws(() => s.saveItem(item), (e) => e instanceof ItemError && want.test(e.message), String(want));
    }
    await s.flush();
    assert.deepEqual(fake.requests, []);
  });

  test('an item of exactly the limit is taken', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    const pad = (1 << 20) - '{"big":""}'.length;
    s.saveItem({ big: 'x'.repeat(pad) });
    await s.flush();
    assert.equal(fake.items[0].big.length, pad);
  });

  test('saveItems takes all or none', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    assert.throws(
      () => s.saveItems([{ n: 0 }, { n: 1 }, { _key: 2 }, { n: 3 }]),
      (e) => e instanceof ItemError && e.index === 2 && /item 2/.test(e.message),
    );
    assert.throws(() => s.saveItems({ n: 0 }), /use saveItem for one/); // one item, not a list of them
    await s.flush();
    assert.deepEqual(fake.items, []);
  });

  test('values JSON has no type for', async (t) => {
    const fake = await withFake(t);
    const s = saver(t, fake.url, { interval: 3600e3 });
    s.saveItem({
      when: new Date(Date.UTC(2026, 11, 3, 16, 5)),
      big: 12345678901234567890n,
      tags: new Set(['a', 'b']),
      attrs: new Map([['k', 1]]),
      raw: Buffer.from('café'),
      nan: NaN,
      gone: undefined,
      naïve: 'ünïcode',
    });
    await s.flush();
    assert.deepEqual(fake.items, [
      {
        when: '2026-12-03T16:05:00.000Z',
        big: '12345678901234567890',
        tags: ['a', 'b'],
        attrs: { k: 1 },
        raw: 'café',
        nan: null,
        naïve: 'ünïcode',
      },
    ]);
  });
});

describe('process', { timeout: 60000 }, () => {
  test('items are flushed when the event loop empties', async (t) => {
    const fake = await withFake(t);
    const code = "const { saveItem } = require('crawlhub'); for (let i = 0; i < 1234; i++) saveItem({ n: i });";
    const r = await run(['-e', code], { CRAWLHUB_ITEMS_URL: fake.url });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(ns(fake.items), range(1234));
  });

  test('process.exit after await flush() keeps everything', async (t) => {
    const fake = await withFake(t);
    const code = `const c = require('crawlhub');
      (async () => { for (let i = 0; i < 10; i++) c.saveItem({ n: i }); await c.flush(); process.exit(3); })();`;
    const r = await run(['-e', code], { CRAWLHUB_ITEMS_URL: fake.url });
    assert.equal(r.code, 3, r.stderr);
    assert.deepEqual(ns(fake.items), range(10));
  });

  test('process.exit without flush says what is lost', async (t) => {
    const fake = await withFake(t);
    const code = "const c = require('crawlhub'); c.saveItem({ n: 0 }); process.exit(0);";
    const r = await run(['-e', code], { CRAWLHUB_ITEMS_URL: fake.url });
    assert.match(r.stderr, /1 NOT saved/);
    assert.match(r.stderr, /await crawlhub.flush\(\) before process.exit\(\)/);
  });

  test('SIGTERM flushes, then the process dies of it', async (t) => {
    const fake = await withFake(t);
    const code = `const c = require('crawlhub');
      for (let i = 0; i < 10; i++) c.saveItem({ n: i });
      console.log('ready'); setInterval(() => {}, 1000);`;
    let sent = false;
    const r = await run(['-e', code], { CRAWLHUB_ITEMS_URL: fake.url }, {
      onStdout: (out, child) => {
        if (!sent && out.includes('ready')) {
          sent = true;
          child.kill('SIGTERM');
        }
      },
    });
    assert.equal(r.signal, 'SIGTERM', r.stderr);
    assert.deepEqual(ns(fake.items), range(10));
  });

  test('an ES module uses it through createRequire', async (t) => {
    const fake = await withFake(t);
    const code = `import { createRequire } from 'node:module';
      const { saveItem } = createRequire(import.meta.url)('crawlhub');
      saveItem({ n: 0 });`;
    const r = await run(['--input-type=module', '-e', code], { CRAWLHUB_ITEMS_URL: fake.url });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(fake.items, [{ n: 0 }]);
  });

  test('outside crawlhub items go to stdout as NDJSON', async () => {
    const code = "const c = require('crawlhub'); console.log('hello'); c.saveItem({ n: 0 }); c.saveItems([{ n: 1 }]);";
    const r = await run(['-e', code], {});
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n{"n":0}\n{"n":1}\n');
    assert.equal(r.stderr.split('CRAWLHUB_ITEMS_URL is not set').length - 1, 1);
  });

  test('outside crawlhub with CRAWLHUB_ITEMS_FILE items are appended to it', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crawlhub-items-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'items.ndjson');
    const code = "require('crawlhub').saveItem({ n: 0 });";
    for (let i = 0; i < 2; i++) {
      const r = await run(['-e', code], { CRAWLHUB_ITEMS_FILE: file });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, '');
    }
    assert.equal(fs.readFileSync(file, 'utf8'), '{"n":0}\n{"n":0}\n');
  });
});
