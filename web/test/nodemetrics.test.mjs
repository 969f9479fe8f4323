// Unit tests of a node's history as the dashboard keeps it: server points
// loaded, live points folded in by slot, old ones dropped.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { History, RANGES, toPoint } from '../src/data/nodemetrics.js';

const T0 = Date.parse('2026-12-01T10:00:00Z') / 1000;
const pt = (at, cpu, extra = {}) => ({ at: new Date(at * 1000).toISOString(), cpu, mem_used: 1, mem_total: 4, disk_used: 0, disk_total: 0, net_rx: 0, net_tx: 0, load1: 0, ...extra });

test('toPoint: RFC 3339 to Unix seconds, missing figures as 0', () => {
  assert.deepEqual(toPoint({ at: '2026-12-01T10:00:00Z', cpu: 5 }), { at: T0, cpu: 5, mem_used: 0, mem_total: 0, disk_used: 0, disk_total: 0, net_rx: 0, net_tx: 0, load1: 0 });
});

test('1 h: a live point in a new slot is a new point; in a slot that has one it is ignored, as the store ignores it', () => {
  const h = new History(RANGES['1h'].step, RANGES['1h'].span);
  h.load([pt(T0, 10), pt(T0 + 10, 20)]);
  assert.equal(h.add(pt(T0 + 10, 30), T0 + 15), false);
  assert.deepEqual(h.points.map((p) => [p.at - T0, p.cpu]), [[0, 10], [10, 20]]);
  assert.equal(h.add(pt(T0 + 23, 40), T0 + 25), true); // cut to its slot's start, as the server does
  assert.deepEqual(h.points.map((p) => [p.at - T0, p.cpu]), [[0, 10], [10, 20], [20, 40]]);
  assert.equal(h.add(pt(T0, 99), T0 + 25), false, 'a point older than the newest shown is ignored');
  // An hour on, the first points fall out.
  h.add(pt(T0 + 3605, 50), T0 + 3605);
  assert.deepEqual(h.points.map((p) => p.at - T0), [10, 20, 3600]);
  assert.equal(h.add(pt(T0 + 3609, 60), T0 + 3609), false);
});

test('24 h: live points average into the open minute; the next minute starts a point', () => {
  const h = new History(RANGES['24h'].step, RANGES['24h'].span);
  h.load([pt(T0, 10)]);
  h.add(pt(T0 + 60, 20), T0 + 61);
  h.add(pt(T0 + 70, 40, { mem_used: 3 }), T0 + 71);
  assert.deepEqual(h.points.map((p) => [p.at - T0, p.cpu, p.mem_used]), [[0, 10, 1], [60, 30, 2]]);
  h.add(pt(T0 + 125, 70), T0 + 126);
  assert.deepEqual(h.points.map((p) => [p.at - T0, p.cpu]), [[0, 10], [60, 30], [120, 70]]);
  // Reloading from the server drops the running average for its figures.
  h.load([pt(T0, 10), pt(T0 + 60, 33)]);
  assert.deepEqual(h.points.map((p) => p.cpu), [10, 33]);
});
