// Unit tests of the Alerts page's pure helpers: deliveries merged as they are
// pushed, recipients parsed from what a person types, a status's look.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deliveryLook, mergeDelivery, parseRecipients, WEBHOOK_EVENTS } from '../src/data/webhooks.js';

test('mergeDelivery: a pushed outcome replaces its delivery, newest first, bounded', () => {
  const a = { id: 'a', created: '2026-01-01T00:00:01Z', status: 'retrying', attempts: 1, payload: { x: 1 } };
  const b = { id: 'b', created: '2026-01-01T00:00:02Z', status: 'delivered', attempts: 1 };
  let list = mergeDelivery([], a, 2);
  list = mergeDelivery(list, b, 2);
  assert.deepEqual(list.map((d) => d.id), ['b', 'a']);
  // The push leaves the body out: what the list had is kept.
  list = mergeDelivery(list, { id: 'a', created: a.created, status: 'delivered', attempts: 2 }, 2);
  assert.deepEqual([list[1].status, list[1].attempts, list[1].payload], ['delivered', 2, { x: 1 }]);
  const c = { id: 'c', created: '2026-01-01T00:00:03Z', status: 'pending', attempts: 0 };
  list = mergeDelivery(list, c, 2);
  assert.deepEqual(list.map((d) => d.id), ['c', 'b'], 'at most two, the oldest dropped');
  // Same time: the greater id first, as the server orders them.
  const tie = mergeDelivery([{ id: 'x1', created: c.created }], { id: 'x2', created: c.created }, 5);
  assert.deepEqual(tie.map((d) => d.id), ['x2', 'x1']);
});

test('parseRecipients: commas, semicolons, spaces and lines', () => {
  assert.deepEqual(parseRecipients(' ops@example.com, dev@example.com;\nme@example.com  '), ['ops@example.com', 'dev@example.com', 'me@example.com']);
  assert.deepEqual(parseRecipients(' , '), []);
});

test('deliveryLook and the events offered', () => {
  assert.deepEqual(deliveryLook('delivered'), ['badge-ok', 'Delivered']);
  assert.deepEqual(deliveryLook('failed'), ['badge-bad', 'Failed']);
  assert.deepEqual(deliveryLook('retrying'), ['badge-warn', 'Retrying']);
  assert.deepEqual(deliveryLook('pending'), ['badge-neutral', 'Pending']);
  assert.deepEqual(
    WEBHOOK_EVENTS.map(([e]) => e).sort(),
    ['node.offline', 'node.online', 'schedule.skipped', 'task.cancelled', 'task.failed', 'task.finished'],
  );
});
