// Unit tests of the dashboard's DOM-free modules.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ago, bytes, duration, percent, platform } from '../src/lib/format.js';
import { createMatcher, href, normalize } from '../src/lib/router.js';
import { LEGACY_TOKEN_KEY, allows, can, clearSession, csrfToken, forgetStoredToken, retryAfterSeconds, rolesUpTo, setSession, takeTokenFromURL, tokenFromInput } from '../src/lib/session.js';

test('ago', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  for (const [when, want] of [
    ['2025-06-01T11:59:48Z', '12 s ago'],
    ['2025-06-01T11:59:59.500Z', 'just now'],
    ['2025-06-01T12:00:05Z', 'just now'],
    ['2025-06-01T11:57:00Z', '3 min ago'],
    ['2025-06-01T09:00:00Z', '3 h ago'],
    ['2025-05-29T12:00:00Z', '3 d ago'],
    ['0001-01-01T00:00:00Z', 'never'],
    ['', 'never'],
    [null, 'never'],
    ['garbage', 'never'],
    [now - 42_000, '42 s ago'],
  ]) {
    assert.equal(ago(when, now), want, String(when));
  }
});

test('bytes', () => {
  for (const [n, want] of [
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 KiB'],
    [16 * 1024 ** 3, '16.0 GiB'],
    [250 * 1024 ** 3, '250 GiB'],
    [-1, '–'],
    [undefined, '–'],
  ]) {
    assert.equal(bytes(n), want, String(n));
  }
});

test('duration', () => {
  for (const [s, want] of [
    [0, '0 s'],
    [59, '59 s'],
    [60, '1 min'],
    [3600, '1 h'],
    [3 * 3600 + 12 * 60, '3 h 12 min'],
    [86400, '1 d'],
    [3 * 86400 + 4 * 3600 + 59, '3 d 4 h'],
    [undefined, '–'],
  ]) {
    assert.equal(duration(s), want, String(s));
  }
});

test('percent and platform', () => {
  assert.equal(percent(1, 3), 33);
  assert.equal(percent(5, 0), 0);
  assert.equal(percent(7, 5), 100);
  assert.equal(platform('linux', 'amd64'), 'linux/amd64');
  assert.equal(platform('', 'arm64'), 'arm64');
  assert.equal(platform('', ''), '–');
});

test('router matches hash paths and decodes parameters', () => {
  const nodes = { path: '/nodes' };
  const node = { path: '/nodes/:id' };
  const match = createMatcher([nodes, node]);
  assert.equal(match('#/nodes').route, nodes);
  assert.equal(match('#/nodes/').route, nodes);
  assert.deepEqual(match('#/nodes/a%2Fb'), { route: node, params: { id: 'a/b' } });
  assert.deepEqual(match('#/nodes/65ab?tab=x').params, { id: '65ab' });
  assert.equal(match('#/nodes/x/y'), null);
  assert.equal(match('#/spiders'), null);
  assert.equal(normalize(''), '/');
  assert.equal(href('/nodes', 'a/b'), '#/nodes/a%2Fb');
});

test('tokenFromInput accepts the token or the whole login URL', () => {
  assert.equal(tokenFromInput('  abc123 \n'), 'abc123');
  assert.equal(tokenFromInput('http://127.0.0.1:8080/?token=abc123'), 'abc123');
  assert.equal(tokenFromInput('http://127.0.0.1:8080/?x=1&token=a%2Bb#/nodes'), 'a+b');
});

test('takeTokenFromURL removes the token from the address without a history entry and keeps the rest', () => {
  const calls = [];
  const history = { state: { x: 1 }, replaceState: (...args) => calls.push(args) };
  assert.equal(takeTokenFromURL({ href: 'http://127.0.0.1:8080/?token=s3cret&x=1#/tasks/abc?tab=data' }, history), 's3cret');
  assert.deepEqual(calls, [[{ x: 1 }, '', '/?x=1#/tasks/abc?tab=data']]);
  calls.length = 0;
  assert.equal(takeTokenFromURL({ href: 'http://127.0.0.1:8080/crawlhub/?token=#/nodes' }, history), '', 'an empty token');
  assert.deepEqual(calls, [[{ x: 1 }, '', '/crawlhub/#/nodes']], 'an empty ?token= is removed too');
  calls.length = 0;
  assert.equal(takeTokenFromURL({ href: 'http://127.0.0.1:8080/#/nodes' }, history), '');
  assert.deepEqual(calls, [], 'nothing to remove: the address is left alone');
});

test('roles: each allows its own and the lower ones; tokens get at most their owner’s', () => {
  assert.ok(allows('admin', 'operator'));
  assert.ok(allows('operator', 'operator'));
  assert.ok(allows('viewer', 'viewer'));
  assert.ok(!allows('viewer', 'operator'));
  assert.ok(!allows('operator', 'admin'));
  assert.ok(!allows('', 'viewer'));
  assert.ok(!allows('root', 'viewer'), 'an unknown role allows nothing');
  assert.deepEqual(rolesUpTo('operator'), ['viewer', 'operator']);
  assert.deepEqual(rolesUpTo('admin'), ['viewer', 'operator', 'admin']);
  assert.deepEqual(rolesUpTo('nobody'), []);
});

test('the session: what the pages may offer and the CSRF token, in memory only', () => {
  clearSession();
  assert.equal(can('viewer'), false, 'nobody signed in may do nothing');
  assert.equal(csrfToken(), '');
  setSession({ user: { id: 'u1', username: 'ann', role: 'operator' }, role: 'operator', csrf: 'c1' });
  assert.equal(can('operator'), true);
  assert.equal(can('admin'), false);
  assert.equal(csrfToken(), 'c1');
  clearSession();
  assert.equal(csrfToken(), '');
});

test('retryAfterSeconds reads seconds or an HTTP date', () => {
  const now = Date.parse('2026-12-03T10:00:00Z');
  assert.equal(retryAfterSeconds('12', now), 12);
  assert.equal(retryAfterSeconds('0', now), 1, 'at least a second');
  assert.equal(retryAfterSeconds('Thu, 03 Dec 2026 10:00:30 GMT', now), 30);
  assert.equal(retryAfterSeconds(null, now), 0);
  assert.equal(retryAfterSeconds('soon', now), 0);
});

test('forgetStoredToken removes the token older dashboards kept, and survives storage that throws', () => {
  const kept = new Map([[LEGACY_TOKEN_KEY, 'old-secret'], ['other', 'x']]);
  forgetStoredToken({ removeItem: (k) => kept.delete(k) });
  assert.deepEqual([...kept.keys()], ['other']);
  forgetStoredToken({
    removeItem() {
      throw new Error('SecurityError');
    },
  });
  forgetStoredToken(undefined);
});
