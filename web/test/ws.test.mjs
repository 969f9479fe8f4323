// Unit tests of the WebSocket client (web/src/lib/ws.js) with a fake
// WebSocket and a manual clock: frames of one message or an array, calls,
// subscriptions, reconnects (4008 included) that resume logs with since,
// and a revoked session (4001) that stops reconnecting.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT, CLOSE_REVOKED, CLOSE_SERVICE_RESTART, CLOSE_TOO_SLOW, RPC, RpcError, createSocket, parseFrame, sequenceField, wsURL } from '../src/lib/ws.js';

/** A manual clock: timers run only when the test advances time. */
function clock() {
  let now = 0;
  let seq = 0;
  const timers = new Map();
  return {
    now: () => now,
    timers: {
      setTimeout(fn, ms = 0) {
        const id = ++seq;
        timers.set(id, { at: now + ms, fn });
        return id;
      },
      clearTimeout(id) {
        timers.delete(id);
      },
    },
    /** Advance time by ms, running due timers in order. */
    tick(ms) {
      const end = now + ms;
      for (;;) {
        let next = null;
        for (const [id, t] of timers) if (t.at <= end && (!next || t.at < next[1].at)) next = [id, t];
        if (!next) break;
        timers.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
    pending: () => timers.size,
  };
}

/** A fake WebSocket class recording every instance and what it was sent. */
function fakeWS() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = null;
      sockets.push(this);
    }
    send(text) {
      if (this.closed) throw new Error('closed');
      this.sent.push(JSON.parse(text));
    }
    close(code = 1000, reason = '') {
      this.closed = { code, reason };
    }
    // test side
    open() {
      this.onopen?.({});
    }
    receive(value) {
      this.onmessage?.({ data: typeof value === 'string' ? value : JSON.stringify(value) });
    }
    drop(code = 1006, reason = '') {
      this.closed = { code, reason };
      this.onclose?.({ code, reason });
    }
    /** The last request sent with this method. */
    last(method) {
      return this.sent.filter((m) => m.method === method).at(-1);
    }
  }
  return { FakeWebSocket, sockets };
}

const flush = () => new Promise((r) => setImmediate(r));

function setup(extra = {}) {
  const c = clock();
  const { FakeWebSocket, sockets } = fakeWS();
  const reported = [];
  const socket = createSocket({
    url: () => 'ws://test/ws',
    WebSocket: FakeWebSocket,
    timers: c.timers,
    now: c.now,
    random: () => 0.5, // no jitter
    report: (err) => reported.push(err),
    ...extra,
  });
  return { socket, sockets, clock: c, reported };
}

const publish = (channel, data) => ({ jsonrpc: '2.0', method: 'publish', params: { channel, data } });
const result = (id, value) => ({ jsonrpc: '2.0', id, result: value });
const LOG = 'task:6b083ebe7f1d6590cb2b06d6:log';
const ITEMS = 'task:6b083ebe7f1d6590cb2b06d6:items';

test('wsURL derives ws: or wss: from the page and carries no credential (the cookie goes with the upgrade)', () => {
  assert.equal(wsURL('http://127.0.0.1:8080/#/tasks'), 'ws://127.0.0.1:8080/ws');
  assert.equal(wsURL('https://example.org/crawlhub/?x=1'), 'wss://example.org/crawlhub/ws');
  assert.equal(wsURL('http://127.0.0.1:8080/?token=secret#/nodes'), 'ws://127.0.0.1:8080/ws', 'a token left in the page address is not passed on');
});

test('parseFrame accepts one message or an array, and skips garbage', () => {
  assert.deepEqual(parseFrame('{"a":1}'), [{ a: 1 }]);
  assert.deepEqual(parseFrame('[{"a":1},{"b":2}]'), [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(parseFrame('[{"a":1},3,null,[1]]'), [{ a: 1 }]);
  assert.deepEqual(parseFrame('not json'), []);
});

test('connects lazily, sends calls queued before open, resolves and rejects them', async () => {
  const { socket, sockets } = setup();
  assert.equal(sockets.length, 0, 'no connection before first use');
  assert.equal(socket.status().state, 'idle');
  const p1 = socket.call('nodes.list');
  const p2 = socket.call('task.cancel', { task_id: 'x', reason: '' });
  assert.equal(sockets.length, 1);
  assert.equal(socket.status().state, 'connecting');
  const ws = sockets[0];
  assert.equal(ws.sent.length, 0, 'nothing sent before open');
  ws.open();
  assert.deepEqual(ws.sent.map((m) => m.method), ['nodes.list', 'task.cancel']);
  assert.equal(ws.sent[0].jsonrpc, '2.0');
  assert.equal('params' in ws.sent[0], false);
  ws.receive([
    result(ws.sent[0].id, { items: [], total: 0 }),
    { jsonrpc: '2.0', id: ws.sent[1].id, error: { code: RPC.CONFLICT, message: 'task x has already ended (finished)' } },
  ]);
  assert.deepEqual(await p1, { items: [], total: 0 });
  await assert.rejects(p2, (err) => err instanceof RpcError && err.code === RPC.CONFLICT && /already ended/.test(err.message));
});

test('a call times out, and a call in flight fails when the connection drops', async () => {
  const { socket, sockets, clock: c } = setup({ callTimeout: 1000 });
  const slow = socket.call('node.sysinfo', { node_id: 'n' });
  sockets[0].open();
  c.tick(1000);
  await assert.rejects(slow, (err) => err.code === CLIENT.TIMEOUT);
  const lost = socket.call('task.run', { spider: 'sample' });
  sockets[0].drop(1006);
  await assert.rejects(lost, (err) => err.code === CLIENT.DISCONNECTED);
});

test('array frames deliver every notification in order to the right channel', () => {
  const { socket, sockets } = setup();
  const tasks = [];
  const nodes = [];
  socket.subscribe('tasks', { onData: (d) => tasks.push(d) });
  socket.subscribe('nodes', { onData: (d) => nodes.push(d) });
  const ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sent.map((m) => [m.method, m.params]), [
    ['subscribe', { channel: 'tasks' }],
    ['subscribe', { channel: 'nodes' }],
  ]);
  ws.receive([
    result(ws.sent[0].id, { channel: 'tasks' }),
    publish('tasks', { task_id: 'a', status: 'pending' }),
    publish('nodes', { node_id: 'n', status: 'offline' }),
    publish('tasks', { task_id: 'a', status: 'running' }),
    publish('elsewhere', { x: 1 }),
  ]);
  ws.receive(publish('tasks', { task_id: 'a', status: 'finished' }));
  assert.deepEqual(tasks.map((t) => t.status), ['pending', 'running', 'finished']);
  assert.deepEqual(nodes, [{ node_id: 'n', status: 'offline' }]);
});

test('a log arriving before the subscribe answer is delivered; duplicates are dropped', () => {
  const { socket, sockets } = setup();
  const got = [];
  socket.subscribe(LOG, { since: 0, onData: (d) => got.push(d) });
  const ws = sockets[0];
  ws.open();
  const sub = ws.last('subscribe');
  assert.deepEqual(sub.params, { channel: LOG, since: 0 });
  ws.receive([publish(LOG, { from: 0, lines: ['a', 'b', 'c'] }), result(sub.id, { channel: LOG, since: 0 })]);
  ws.receive(publish(LOG, { from: 1, lines: ['b', 'c', 'd'] })); // overlaps: only d is new
  ws.receive(publish(LOG, { from: 2, lines: ['c'] })); // all seen
  ws.receive(publish(LOG, { from: 4, lines: [] }));
  assert.deepEqual(got, [
    { from: 0, lines: ['a', 'b', 'c'] },
    { from: 3, lines: ['d'] },
  ]);
});

test('after a 4008 close it reconnects with backoff and resumes the log at the next line', () => {
  const { socket, sockets, clock: c } = setup();
  const got = [];
  const confirmations = [];
  const statuses = [];
  socket.onStatus((s) => statuses.push(s.state));
  socket.subscribe('tasks', { onSubscribed: (i) => confirmations.push(['tasks', i.resumed]) });
  const log = socket.subscribe(LOG, { since: 0, onData: (d) => got.push(d), onSubscribed: (i) => confirmations.push(['log', i.resumed]) });
  let ws = sockets[0];
  ws.open();
  ws.receive([result(ws.sent[0].id, {}), result(ws.sent[1].id, {}), publish(LOG, { from: 0, lines: ['l0', 'l1', 'l2'] })]);
  assert.equal(log.next, 3);

  ws.drop(CLOSE_TOO_SLOW, 'too slow: the client did not read what it was sent in time; reconnect and resubscribe with since');
  assert.equal(socket.status().state, 'waiting');
  assert.equal(socket.status().lastClose.code, CLOSE_TOO_SLOW);
  assert.equal(sockets.length, 1, 'waits before reconnecting');
  c.tick(499);
  assert.equal(sockets.length, 1);
  c.tick(1);
  assert.equal(sockets.length, 2, 'reconnects after the first backoff (500 ms)');
  ws = sockets[1];
  ws.open();
  assert.deepEqual(
    ws.sent.map((m) => m.params),
    [{ channel: 'tasks' }, { channel: LOG, since: 3 }],
    'resubscribes every channel, the log from the next line',
  );
  // The server replays from since; an overlap from a confused server is trimmed.
  ws.receive([result(ws.sent[0].id, {}), result(ws.sent[1].id, {}), publish(LOG, { from: 2, lines: ['l2', 'l3'] }), publish(LOG, { from: 4, lines: ['l4'] })]);
  ws.receive(publish(LOG, { end: true, status: 'finished', total: 5 }));
  assert.deepEqual(got.flatMap((d) => d.lines ?? [`end ${d.status} ${d.total}`]), ['l0', 'l1', 'l2', 'l3', 'l4', 'end finished 5']);
  assert.deepEqual(confirmations, [['tasks', false], ['log', false], ['tasks', true], ['log', true]]);
  assert.ok(statuses.includes('waiting') && statuses.at(-1) === 'open', statuses.join(' '));

  // An ended log is not subscribed again after another drop.
  ws.drop(1006);
  c.tick(10_000);
  sockets.at(-1).open();
  assert.deepEqual(sockets.at(-1).sent.map((m) => m.params.channel), ['tasks']);
});

test('a task\'s items follow the log\'s contract: since, trimmed overlaps, a gap read again, resumed after a drop, the end once', () => {
  assert.equal(sequenceField(ITEMS), 'items');
  assert.equal(sequenceField(LOG), 'lines');
  assert.equal(sequenceField('tasks'), '');
  assert.equal(sequenceField('task:x:items:more'), '');
  const { socket, sockets, clock: c } = setup();
  const got = [];
  const items = socket.subscribe(ITEMS, { since: 2, onData: (d) => got.push(d) });
  assert.throws(() => socket.subscribe(ITEMS, {}), /already following/);
  let ws = sockets[0];
  ws.open();
  assert.deepEqual(ws.sent[0].params, { channel: ITEMS, since: 2 });
  ws.receive([
    result(ws.sent[0].id, {}),
    publish(ITEMS, { from: 2, items: [{ n: 2 }, { n: 3 }] }),
    publish(ITEMS, { from: 3, items: [{ n: 3 }, { n: 4 }] }), // overlap: trimmed
    publish(ITEMS, { from: 2, items: [{ n: 2 }] }), // all seen: dropped
    publish(ITEMS, { from: 0, lines: ['not items'] }), // wrong field: ignored
  ]);
  assert.equal(items.next, 5);
  assert.deepEqual(got, [{ from: 2, items: [{ n: 2 }, { n: 3 }] }, { from: 4, items: [{ n: 4 }] }]);

  // A gap: unsubscribed and subscribed again from the next item; what
  // arrives in between is not delivered.
  ws.receive(publish(ITEMS, { from: 7, items: [{ n: 7 }] }));
  assert.deepEqual(ws.sent.slice(-2).map((m) => [m.method, m.params]), [['unsubscribe', { channel: ITEMS }], ['subscribe', { channel: ITEMS, since: 5 }]]);
  ws.receive(publish(ITEMS, { from: 8, items: [{ n: 8 }] }));
  ws.receive([result(ws.sent.at(-2).id, {}), result(ws.sent.at(-1).id, {}), publish(ITEMS, { from: 5, items: [{ n: 5 }, { n: 6 }] })]);
  assert.equal(items.next, 7);

  ws.drop(CLOSE_TOO_SLOW, 'too slow');
  c.tick(500);
  ws = sockets[1];
  ws.open();
  assert.deepEqual(ws.sent.map((m) => m.params), [{ channel: ITEMS, since: 7 }], 'resumes at the next item');
  ws.receive([result(ws.sent[0].id, {}), publish(ITEMS, { from: 7, items: [{ n: 7 }] }), publish(ITEMS, { end: true, status: 'finished', total: 8 })]);
  ws.receive(publish(ITEMS, { end: true, status: 'finished', total: 8 }));
  assert.deepEqual(got.flatMap((d) => d.items?.map((i) => i.n) ?? [`end ${d.status} ${d.total}`]), [2, 3, 4, 5, 6, 7, 'end finished 8']);
});

test('backoff grows while connections fail, and resets once one has stayed up', () => {
  const { socket, sockets, clock: c } = setup({ minDelay: 100, maxDelay: 1000, stableAfter: 5000 });
  socket.subscribe('nodes', {});
  const delays = [];
  for (let i = 0; i < 6; i++) {
    const before = sockets.length;
    sockets.at(-1).drop(1006);
    const start = c.now();
    while (sockets.length === before) c.tick(10);
    delays.push(c.now() - start);
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  sockets.at(-1).open();
  c.tick(5000);
  sockets.at(-1).drop(1001);
  const start = c.now();
  const before = sockets.length;
  while (sockets.length === before) c.tick(10);
  assert.equal(c.now() - start, 100);
});

test('a 1012 close (the master drains) reconnects at once, not with the grown backoff, and resumes the log', () => {
  const revoked = [];
  const { socket, sockets, clock: c } = setup({ minDelay: 100, maxDelay: 10_000, onRevoked: () => revoked.push(true) });
  const got = [];
  socket.subscribe(LOG, { since: 0, onData: (d) => got.push(...(d.lines ?? [])) });
  // A few failed attempts first: the backoff has grown to seconds.
  for (let i = 0; i < 5; i++) {
    const before = sockets.length;
    sockets.at(-1).drop(1006);
    while (sockets.length === before) c.tick(10);
  }
  let ws = sockets.at(-1);
  ws.open();
  ws.receive([result(ws.sent[0].id, {}), publish(LOG, { from: 0, lines: ['l0', 'l1'] })]);
  ws.drop(CLOSE_SERVICE_RESTART, 'this master is shutting down: reconnect, to another master if there is one');
  assert.equal(socket.status().state, 'waiting', 'not paused: 1012 is no credential problem');
  assert.equal(revoked.length, 0);
  const before = sockets.length;
  c.tick(100);
  assert.equal(sockets.length, before + 1, 'reconnected within minDelay');
  ws = sockets.at(-1);
  ws.open();
  assert.deepEqual(ws.sent.map((m) => m.params), [{ channel: LOG, since: 2 }]);
  ws.receive([result(ws.sent[0].id, {}), publish(LOG, { from: 2, lines: ['l2'] })]);
  assert.deepEqual(got, ['l0', 'l1', 'l2']);
});

test('a log subscription refused while the store is away (-32011) is tried again, not dropped', () => {
  const { socket, sockets, clock: c } = setup({ minDelay: 100 });
  const errors = [];
  socket.subscribe(LOG, { since: 0, onError: (e) => errors.push(e) });
  const ws = sockets[0];
  ws.open();
  ws.receive({ jsonrpc: '2.0', id: ws.last('subscribe').id, error: { code: RPC.STORE_UNAVAILABLE, message: 'the store is not answering' } });
  c.tick(200);
  const again = ws.sent.filter((m) => m.method === 'subscribe');
  assert.equal(again.length, 2, 'subscribed again');
  assert.deepEqual(again[1].params, { channel: LOG, since: 0 });
  assert.equal(errors.length, 0);
});

test('a gap in a log is read again from the next line, and nothing in between leaks', () => {
  const { socket, sockets } = setup();
  const got = [];
  socket.subscribe(LOG, { onData: (d) => got.push(d) });
  const ws = sockets[0];
  ws.open();
  ws.receive([result(ws.last('subscribe').id, {}), publish(LOG, { from: 0, lines: ['a', 'b'] })]);
  ws.receive(publish(LOG, { from: 5, lines: ['f'] })); // a gap: 2..4 are missing
  const unsub = ws.last('unsubscribe');
  const resub = ws.last('subscribe');
  assert.deepEqual(unsub.params, { channel: LOG });
  assert.deepEqual(resub.params, { channel: LOG, since: 2 });
  assert.ok(unsub.id < resub.id);
  ws.receive(publish(LOG, { from: 6, lines: ['g'] })); // the old subscription, before the unsubscribe answer: dropped
  ws.receive([result(unsub.id, {}), publish(LOG, { from: 2, lines: ['c', 'd', 'e', 'f', 'g'] }), result(resub.id, {})]);
  assert.deepEqual(got.flatMap((d) => d.lines), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
});

test('unsubscribing then subscribing again to a channel ignores the old subscription', () => {
  const { socket, sockets } = setup();
  const first = [];
  const second = [];
  const s1 = socket.subscribe(LOG, { onData: (d) => first.push(d) });
  const ws = sockets[0];
  ws.open();
  ws.receive(result(ws.last('subscribe').id, {}));
  s1.unsubscribe();
  socket.subscribe(LOG, { since: 0, onData: (d) => second.push(d) });
  const unsub = ws.last('unsubscribe');
  ws.receive(publish(LOG, { from: 0, lines: ['old'] })); // queued before the server unsubscribed
  ws.receive([result(unsub.id, {}), publish(LOG, { from: 0, lines: ['new'] })]);
  assert.deepEqual(first, []);
  assert.deepEqual(second, [{ from: 0, lines: ['new'] }]);
});

test('plain channels are shared by listeners; the server subscription goes with the last', () => {
  const { socket, sockets } = setup();
  const a = [];
  const b = [];
  const sa = socket.subscribe('tasks', { onData: (d) => a.push(d) });
  const sb = socket.subscribe('tasks', { onData: (d) => b.push(d) });
  const ws = sockets[0];
  ws.open();
  assert.equal(ws.sent.filter((m) => m.method === 'subscribe').length, 1);
  ws.receive(publish('tasks', 1));
  sa.unsubscribe();
  assert.equal(ws.last('unsubscribe'), undefined);
  ws.receive(publish('tasks', 2));
  sb.unsubscribe();
  assert.deepEqual(ws.last('unsubscribe').params, { channel: 'tasks' });
  assert.deepEqual([a, b], [[1], [1, 2]]);
  assert.throws(() => {
    socket.subscribe(LOG, {});
    socket.subscribe(LOG, {});
  }, /already following/);
});

test('a refused subscription reports the server error and is dropped', () => {
  const { socket, sockets } = setup();
  const errors = [];
  socket.subscribe('task:000000000000000000000000:log', { onError: (e) => errors.push(e) });
  const ws = sockets[0];
  ws.open();
  ws.receive({ jsonrpc: '2.0', id: ws.last('subscribe').id, error: { code: RPC.NOT_FOUND, message: 'no task has id 000000000000000000000000' } });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, RPC.NOT_FOUND);
  ws.drop(1006);
  assert.equal(socket.status().state, 'idle', 'nothing left to reconnect for');
});

test('a connection refused before opening asks the probe; a 401 pauses until resume()', async () => {
  let probeResult = Promise.reject(Object.assign(new Error('missing or wrong token'), { status: 401 }));
  probeResult.catch(() => {});
  let probes = 0;
  const { socket, sockets, clock: c } = setup({
    probe: () => {
      probes++;
      return probeResult;
    },
  });
  socket.subscribe('nodes', {});
  const call = assert.rejects(socket.call('nodes.list'), (err) => err.code === CLIENT.PAUSED);
  sockets[0].drop(1006); // the upgrade failed: the browser does not say why
  await flush();
  assert.equal(probes, 1);
  assert.equal(socket.status().state, 'paused');
  await call;
  c.tick(60_000);
  assert.equal(sockets.length, 1, 'no reconnect while paused');
  await assert.rejects(socket.call('nodes.list'), (err) => err.code === CLIENT.PAUSED);

  // Signed in again: connects at once and subscribes again.
  probeResult = Promise.resolve();
  socket.resume();
  assert.equal(sockets.length, 2);
  sockets[1].open();
  assert.deepEqual(sockets[1].last('subscribe').params, { channel: 'nodes' });

  // A failure that is not a 401 (server down) backs off and retries.
  sockets[1].drop(1006);
  c.tick(1000);
  assert.equal(sockets.length, 3);
  sockets[2].drop(1006);
  await flush();
  assert.equal(socket.status().state, 'waiting');
  c.tick(1000);
  assert.equal(sockets.length, 4);
});

test('pause closes the connection and fails what waits; a listener that throws is reported, not fatal', async () => {
  const { socket, sockets, reported } = setup();
  const seen = [];
  socket.subscribe('tasks', {
    onData(d) {
      if (d === 'boom') throw new Error('listener bug');
      seen.push(d);
    },
  });
  const ws = sockets[0];
  ws.open();
  ws.receive([publish('tasks', 'boom'), publish('tasks', 'after')]);
  assert.deepEqual(seen, ['after']);
  assert.equal(reported.length, 1);
  const p = socket.call('tasks.list', {});
  socket.pause();
  assert.equal(ws.closed.code, 1000);
  assert.equal(socket.status().state, 'paused');
  await assert.rejects(p, (err) => err.code === CLIENT.PAUSED);
});

test('a close with 4001 (session revoked) pauses without reconnecting, fails what waits and says so; resume() connects again', async () => {
  let revoked = 0;
  const { socket, sockets, clock: c } = setup({ onRevoked: () => revoked++ });
  socket.subscribe('tasks', {});
  const ws = sockets[0];
  ws.open();
  const call = socket.call('tasks.list', {});
  ws.drop(CLOSE_REVOKED, 'credential revoked');
  assert.equal(revoked, 1);
  assert.equal(socket.status().state, 'paused');
  assert.deepEqual(socket.status().lastClose, { code: CLOSE_REVOKED, reason: 'credential revoked' });
  await assert.rejects(call, (err) => err.code === CLIENT.DISCONNECTED);
  c.tick(60_000);
  assert.equal(sockets.length, 1, 'no reconnect with a revoked session');
  await assert.rejects(socket.call('nodes.list'), (err) => err.code === CLIENT.PAUSED);

  // Signed in again: reconnects and subscribes again.
  socket.resume();
  assert.equal(sockets.length, 2);
  sockets[1].open();
  assert.deepEqual(sockets[1].last('subscribe').params, { channel: 'tasks' });
});

test('a revoked close that comes before the connection opened needs no probe', async () => {
  let probes = 0;
  let revoked = 0;
  const { socket, sockets } = setup({ probe: async () => probes++, onRevoked: () => revoked++ });
  socket.subscribe('nodes', {});
  sockets[0].drop(CLOSE_REVOKED);
  await flush();
  assert.equal(revoked, 1);
  assert.equal(probes, 0);
  assert.equal(socket.status().state, 'paused');
});
