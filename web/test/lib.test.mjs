// Unit tests of the dashboard's DOM-free modules.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenFromInput } from '../src/lib/auth.js';
import { ago, bytes, duration, percent, platform } from '../src/lib/format.js';
import { createMatcher, href, normalize } from '../src/lib/router.js';

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
