// Unit tests of the dashboard's pure data helpers: task events applied to
// what is on screen, node events merged with REST answers, the env form
// field, hash queries and the log viewer's visible range.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { auditFilterFromQuery, auditMatches, EXPIRY_CHOICES, expiryFor, isToken, tokenState, usernames } from '../src/data/accounts.js';
import { mergeNodeEvents } from '../src/data/nodes.js';
import { followSync, syncSummary } from '../src/data/spiders.js';
import { chartData, ended, OUTCOMES } from '../src/data/stats.js';
import { applyTaskEvent, applyToPage, eventMatches, isEnded } from '../src/data/tasks.js';
import { parseEnv } from '../src/lib/env.js';
import { ROW, visibleRange } from '../src/lib/logview.js';
import { createMatcher, hashQuery, withQuery } from '../src/lib/router.js';

const NOW = '2026-01-01T00:00:10Z';
const pending = { id: 't1', spider_id: 's1', spider_name: 'sample', node_id: '', mode: 'any', status: 'pending', reason: 'waiting for node x', log_lines: 0, created: '2026-01-01T00:00:00Z' };

test('applyTaskEvent: status, node, reason, exit code, lines, provisional times', () => {
  const running = applyTaskEvent(pending, { task_id: 't1', node_id: 'n1', spider_id: 's1', status: 'running', log_lines: 0 }, NOW);
  assert.equal(running.status, 'running');
  assert.equal(running.node_id, 'n1');
  assert.equal(running.reason, '', 'a reason the event no longer has is cleared');
  assert.equal(running.started, NOW);
  assert.equal(running.finished, undefined);
  assert.equal(pending.status, 'pending', 'the input is not changed');

  const failed = applyTaskEvent({ ...running, started: '2026-01-01T00:00:01Z' }, { task_id: 't1', node_id: 'n1', spider_id: 's1', status: 'error', exit_code: 2, reason: 'exit code 2', log_lines: 63 }, NOW);
  assert.deepEqual(
    [failed.status, failed.exit_code, failed.reason, failed.log_lines, failed.started, failed.finished],
    ['error', 2, 'exit code 2', 63, '2026-01-01T00:00:01Z', NOW],
  );
  const cancelled = applyTaskEvent(failed, { task_id: 't1', node_id: '', spider_id: 's1', status: 'cancelled', log_lines: 0 }, NOW);
  assert.equal('exit_code' in cancelled, false);
  assert.equal(cancelled.node_id, 'n1', 'an event without a node keeps the known one');
  assert.equal(cancelled.log_lines, 63);
  assert.ok(isEnded('abnormal') && !isEnded('running'));
});

test('applyToPage patches a listed task and asks for a reload when the page may change', () => {
  const items = [pending, { ...pending, id: 't0', status: 'finished' }];
  const ev = { task_id: 't1', node_id: 'n1', spider_id: 's1', status: 'running', log_lines: 0 };
  const r = applyToPage(items, {}, ev);
  assert.notEqual(r.items, items);
  assert.equal(r.items[0].status, 'running');
  assert.equal(r.items[1], items[1]);
  assert.equal(r.reload, true, 'read again for the start time');

  const fresh = { task_id: 't9', node_id: '', spider_id: 's1', status: 'pending', log_lines: 0 };
  assert.deepEqual(applyToPage(items, {}, fresh), { items, reload: true }, 'a new task belongs on the first page');
  assert.deepEqual(applyToPage(items, { offset: 25 }, fresh), { items, reload: false }, 'not on later pages');
  assert.deepEqual(applyToPage(items, { spider_id: 's2' }, fresh), { items, reload: false }, 'not for another spider');
  assert.deepEqual(applyToPage(items, { status: 'running' }, fresh), { items, reload: false });

  assert.equal(eventMatches({ node_id: 'n1' }, ev), true);
  assert.equal(eventMatches({ node_id: 'n2' }, ev), false);
  assert.equal(eventMatches({ status: 'running', spider_id: 's1' }, ev), true);
});

test('mergeNodeEvents: an event newer than the REST read wins, an older one does not', () => {
  const nodes = [{ id: 'a', status: 'online' }, { id: 'b', status: 'online' }];
  const heard = new Map([
    ['a', { status: 'offline', at: 2000 }],
    ['b', { status: 'offline', at: 500 }],
  ]);
  assert.deepEqual(mergeNodeEvents(nodes, 1000, heard).map((n) => n.status), ['offline', 'online']);
  assert.equal(mergeNodeEvents(nodes, 1000, new Map())[0], nodes[0]);
});

test('parseEnv turns KEY=VALUE lines into an object and names the first bad line', () => {
  assert.deepEqual(parseEnv(''), { env: {}, count: 0, error: null });
  assert.deepEqual(parseEnv('# comment\n\nA=1\nexport B = two words \nC="quoted = yes"\nD=\r\nE=x=y'), {
    env: { A: '1', B: 'two words', C: 'quoted = yes', D: '', E: 'x=y' },
    count: 5,
    error: null,
  });
  assert.match(parseEnv('A=1\njust text').error, /^Line 2: "just text" has no "="/);
  assert.match(parseEnv('1A=x').error, /^Line 1: "1A" is not a valid variable name/);
  assert.match(parseEnv('A=1\nA=2').error, /^Line 2: A is already set on line 1/);
});

test('hash queries: read, written without empty values, ignored by the router', () => {
  assert.equal(hashQuery('#/tasks?status=running&spider=abc').get('status'), 'running');
  assert.equal(hashQuery('#/tasks').get('status'), null);
  assert.equal(withQuery('#/tasks', { status: 'running', spider: '', node: null, page: 2 }), '#/tasks?status=running&page=2');
  assert.equal(withQuery('#/tasks', { status: '' }), '#/tasks');
  const tasks = { path: '/tasks' };
  const task = { path: '/tasks/:id' };
  const match = createMatcher([tasks, task]);
  assert.equal(match('#/tasks?status=error').route, tasks);
  assert.deepEqual(match('#/tasks/6b083ebe7f1d6590cb2b06d6').params, { id: '6b083ebe7f1d6590cb2b06d6' });
});

test('visibleRange draws the rows in view plus a margin, whatever the log length', () => {
  assert.deepEqual(visibleRange(0, 400, 0), [0, 0]);
  assert.deepEqual(visibleRange(0, 400, 10), [0, 10]);
  const [first, last] = visibleRange(100_000 * ROW, 400, 250_000);
  assert.ok(first <= 100_000 && last >= 100_000 + 400 / ROW, `${first}..${last}`);
  assert.ok(last - first <= 400 / ROW + 62, `${last - first} rows drawn`);
  assert.deepEqual(visibleRange(250_000 * ROW, 400, 250_000).at(1), 250_000);
});

test('syncSummary: every node, failures, silence', () => {
  const ok = (id, downloaded) => [id, { spider_id: 's', md5: 'm', node_id: id, node_name: `name-${id}`, downloaded }];
  assert.deepEqual(syncSummary('sample', ['a', 'b'], new Map([ok('a', true), ok('b', true)])), {
    kind: 'ok',
    text: 'sample is on all 2 nodes',
    detail: 'Downloaded now.',
  });
  assert.equal(syncSummary('sample', ['a'], new Map([ok('a', false)])).detail, 'Every node already had this version.');
  assert.equal(syncSummary('sample', ['a'], new Map([ok('a', false)])).text, 'sample is on its node');
  const failed = syncSummary('sample', ['a', 'b'], new Map([ok('a', true), ['b', { spider_id: 's', node_id: 'b', node_name: 'box', downloaded: false, error: 'disk full' }]]));
  assert.equal(failed.kind, 'error');
  assert.equal(failed.text, 'sample failed on 1 of 2 nodes');
  assert.equal(failed.detail, 'box: disk full');
  const silent = syncSummary('sample', ['a', 'bbbbbbbbbbbb'], new Map([ok('a', true)]));
  assert.equal(silent.kind, 'info');
  assert.equal(silent.text, 'sample confirmed on 1 of 2 nodes');
  assert.match(silent.detail, /No answer yet from bbbbbbbb;/);
});

test('followSync: ready once subscribed, waits for the named nodes of its spider only', async () => {
  let listener;
  let unsubscribed = false;
  const socket = {
    subscribe(channel, l) {
      assert.equal(channel, 'spiders');
      listener = l;
      return { unsubscribe: () => (unsubscribed = true) };
    },
  };
  const f = followSync('s1', { socket, readyMs: 10_000 });
  let ready = false;
  f.ready.then(() => (ready = true));
  await Promise.resolve();
  assert.equal(ready, false);
  listener.onSubscribed({ resumed: false });
  await f.ready;
  const waiting = f.wait(['n1', 'n2'], 10_000);
  listener.onData({ spider_id: 's1', node_id: 'n1', downloaded: true });
  listener.onData({ spider_id: 'other', node_id: 'n2', downloaded: true });
  listener.onData({ spider_id: 's1', node_id: 'n2', downloaded: false });
  const got = await waiting;
  assert.deepEqual([...got.keys()], ['n1', 'n2']);
  assert.equal(got.get('n2').downloaded, false);
  const partial = await f.wait(['n1', 'n3'], 20);
  assert.deepEqual([...partial.keys()], ['n1'], 'after the wait, who answered');
  f.stop();
  assert.ok(unsubscribed);
});

test('accounts: token expiry choices, a token’s state, the audit filter in the address', () => {
  const now = Date.parse('2026-12-03T10:00:00Z');
  assert.equal(expiryFor('30d', now), '2027-01-02T10:00:00.000Z');
  assert.equal(expiryFor('never', now), '', 'no expiry: the field is left out');
  assert.equal(expiryFor('bogus', now), '');
  assert.ok(EXPIRY_CHOICES.every(([v]) => v === 'never' || Date.parse(expiryFor(v, now)) > now));

  assert.equal(tokenState({}, now), 'active');
  assert.equal(tokenState({ expires: '2026-12-03T09:59:59Z' }, now), 'expired');
  assert.equal(tokenState({ expires: '2026-12-03T10:00:00Z' }, now), 'expired', 'at its expiry it no longer works');
  assert.equal(tokenState({ expires: '2026-12-05T10:00:00Z' }, now), 'expiring');
  assert.equal(tokenState({ expires: '2027-12-05T10:00:00Z' }, now), 'active');

  assert.ok(isToken({ kind: 'token' }) && isToken({}) && !isToken({ kind: 'session' }));
  assert.deepEqual([...usernames([{ id: 'u1', username: 'ann' }])], [['u1', 'ann']]);

  assert.deepEqual(auditFilterFromQuery(hashQuery('#/audit?action=task.cancel&user=u1&page=3')), { action: 'task.cancel', user: 'u1', page: 3 });
  assert.deepEqual(auditFilterFromQuery(hashQuery('#/audit?page=-2')), { action: '', user: '', page: 1 });
  assert.equal(withQuery('#/audit', { action: 'task.run', user: '', page: '' }), '#/audit?action=task.run');

  const entry = { action: 'task.cancel', user_id: 'u1' };
  assert.ok(auditMatches(entry, { action: '', user: '', page: 1 }));
  assert.ok(auditMatches(entry, { action: 'task.cancel', user: 'u1', page: 1 }));
  assert.ok(!auditMatches(entry, { action: 'task.run', user: '', page: 1 }));
  assert.ok(!auditMatches(entry, { action: '', user: 'u2', page: 1 }));
  assert.ok(!auditMatches(null, { action: '', user: '', page: 1 }));
});

test('the overview charts one series per outcome, zeros where a bucket has none', () => {
  const stats = {
    buckets: [
      { start: '2026-12-01T00:00:00Z', counts: { finished: 2, error: 1 } },
      { start: '2026-12-01T01:00:00Z', counts: {} },
      { start: '2026-12-01T02:00:00Z', counts: { cancelled: 4, abnormal: 1 } },
    ],
  };
  assert.deepEqual(OUTCOMES.map((o) => o.status), ['finished', 'error', 'abnormal', 'cancelled']);
  assert.deepEqual(chartData(stats), [
    [1796083200, 1796086800, 1796090400],
    [2, 0, 0],
    [1, 0, 0],
    [0, 0, 1],
    [0, 0, 4],
  ]);
  assert.deepEqual(chartData(null), [[], [], [], [], []]);
  assert.equal(ended({ finished: 2, error: 1 }), 3);
  assert.equal(ended(undefined), 0);
});
