// Unit tests of the schedule helpers: schedules and tasks events applied
// to what is on screen, the cron preview's debouncing, and the time
// formatting the schedule pages use.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyFire, applyScheduleEvent, applyTaskStatus, byName, cronPreview } from '../src/data/schedules.js';
import { cronWords, until, zonedDateTime } from '../src/lib/format.js';

const A = '65ab00000000000000000001';
const B = '65ab00000000000000000002';
const C = '65ab00000000000000000003';
const nightly = { id: A, name: 'nightly', spider_id: 's1', spider_name: 'sample', cron: '0 3 * * *', timezone: 'Europe/Paris', enabled: true, next_fire: '2026-01-02T02:00:00Z' };
const often = { id: B, name: 'often', spider_id: 's1', spider_name: 'sample', cron: '@every 2s', timezone: '', enabled: true, last_fire: '2026-01-01T00:00:00Z', last_task_id: 't1', last_task_status: 'finished' };

test('created and updated events put the schedule in name order, without its next five', () => {
  const items = [nightly, often];
  const made = { id: C, name: 'hourly', cron: '@hourly', enabled: true, next_fires: ['a', 'b', 'c', 'd', 'e'], next_fire: 'a' };
  const r = applyScheduleEvent(items, { event: 'created', schedule_id: C, schedule: made });
  assert.deepEqual(r.items.map((s) => s.name), ['hourly', 'nightly', 'often']);
  assert.equal('next_fires' in r.items[0], false);
  assert.equal(r.reload, false);
  assert.equal(items.length, 2, 'the input is not changed');

  const renamed = applyScheduleEvent(items, { event: 'updated', schedule_id: B, schedule: { ...often, name: 'a-often', enabled: false } });
  assert.deepEqual(renamed.items.map((s) => [s.name, s.enabled]), [['a-often', false], ['nightly', true]]);

  assert.deepEqual(applyScheduleEvent(items, { event: 'updated', schedule_id: A }), { items, reload: true }, 'no record in the event: read it');
  assert.deepEqual(applyScheduleEvent(items, { event: 'created', schedule_id: A, schedule: nightly }).items.length, 2, 'a repeated created event adds nothing');
});

test('a deleted event removes the schedule; an unknown one changes nothing', () => {
  const items = [nightly, often];
  assert.deepEqual(applyScheduleEvent(items, { event: 'deleted', schedule_id: A }).items, [often]);
  assert.equal(applyScheduleEvent(items, { event: 'deleted', schedule_id: C }).items, items);
  assert.equal(applyScheduleEvent(items, { event: 'mystery', schedule_id: A }).items, items);
  assert.equal(applyScheduleEvent(items, null).items, items);
});

test('a fire sets the last fire and a pending last task, and asks to read the next fire time', () => {
  const items = [nightly, often];
  const r = applyScheduleEvent(items, { event: 'fired', schedule_id: B, at: '2026-01-01T00:00:02Z', task_ids: ['t2'] });
  assert.equal(r.reload, true);
  assert.deepEqual([r.items[1].last_fire, r.items[1].last_task_id, r.items[1].last_task_status], ['2026-01-01T00:00:02Z', 't2', 'pending']);
  assert.equal(r.items[0], nightly, 'other rows are kept as they are');

  const again = applyFire(r.items[1], { event: 'fired', schedule_id: B, at: '2026-01-01T00:00:02Z', task_ids: ['t2'] });
  assert.equal(again.last_task_status, 'pending');
  const running = applyTaskStatus(r.items, { task_id: 't2', status: 'running' });
  const repeated = applyFire(running[1], { event: 'fired', schedule_id: B, at: '2026-01-01T00:00:02Z', task_ids: ['t2'] });
  assert.equal(repeated.last_task_status, 'running', 'a repeated fire event does not undo a status heard since');

  const skipped = applyScheduleEvent(items, { event: 'skipped', schedule_id: A, at: '2026-01-01T02:00:00Z', reason: 'its task t1 is still running' });
  assert.deepEqual([skipped.items[0].last_skip, skipped.items[0].last_skip_reason, skipped.reload], ['2026-01-01T02:00:00Z', 'its task t1 is still running', true]);
  assert.equal(skipped.items[0].last_fire, undefined, 'a skip is not a fire');

  assert.deepEqual(applyScheduleEvent(items, { event: 'fired', schedule_id: C, at: 'x', task_ids: ['t9'] }), { items, reload: true }, 'a schedule not listed yet: read the list');
});

test('a tasks event changes the status of the schedules whose last task it is', () => {
  const items = [nightly, often];
  const r = applyTaskStatus(items, { task_id: 't1', status: 'error' });
  assert.equal(r[1].last_task_status, 'error');
  assert.equal(r[0], nightly);
  assert.equal(applyTaskStatus(items, { task_id: 't9', status: 'error' }), items, 'not a last task: same array');
  assert.equal(applyTaskStatus(items, { task_id: 't1', status: 'finished' }), items, 'no change: same array');
});

test('byName orders as the server lists: by name, then id', () => {
  const list = [{ id: '2', name: 'b' }, { id: '3', name: 'a' }, { id: '1', name: 'b' }].sort(byName);
  assert.deepEqual(list.map((s) => s.id), ['3', '1', '2']);
});

/** Timers that run only when told to. */
function fakeTimers() {
  let next = 1;
  const pending = new Map();
  return {
    setTimeout(fn, ms) {
      pending.set(next, { fn, ms });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    count: () => pending.size,
    runAll() {
      const fns = [...pending.values()];
      pending.clear();
      for (const { fn } of fns) fn();
    },
  };
}

const settle = () => new Promise((r) => setImmediate(r));

test('cronPreview asks the server once typing pauses, for the latest input only', async () => {
  const timers = fakeTimers();
  const asked = [];
  const states = [];
  const p = cronPreview({
    timers,
    delay: 300,
    onState: (s) => states.push(s),
    load: async (cron, tz) => {
      asked.push([cron, tz]);
      if (cron === '61 * * * *') throw Object.assign(new Error('cron "61 * * * *": end of range (61) above maximum (59): 61'), { status: 400 });
      return { next_fires: ['2026-01-01T00:00:00Z', '2026-01-01T00:00:02Z'] };
    },
  });
  p.set('@every', 'UTC');
  p.set('@every 2', 'UTC');
  p.set(' @every 2s ', ' Europe/Paris ');
  assert.equal(timers.count(), 1, 'one request pending, however many keystrokes');
  assert.deepEqual(states.map((s) => s.state), ['checking', 'checking', 'checking']);
  timers.runAll();
  await settle();
  assert.deepEqual(asked, [['@every 2s', 'Europe/Paris']], 'trimmed, and only the last input');
  assert.deepEqual(states.at(-1), { state: 'ok', fires: ['2026-01-01T00:00:00Z', '2026-01-01T00:00:02Z'] });

  p.set('61 * * * *', 'UTC');
  timers.runAll();
  await settle();
  assert.equal(states.at(-1).state, 'error');
  assert.equal(states.at(-1).status, 400);
  assert.match(states.at(-1).message, /above maximum/);

  p.set('', 'UTC');
  assert.deepEqual(states.at(-1), { state: 'empty' });
  assert.equal(timers.count(), 0, 'nothing to ask about an empty expression');
  p.stop();
});

test('cronPreview drops an answer to input that has changed since', async () => {
  const timers = fakeTimers();
  const states = [];
  let answer;
  const p = cronPreview({
    timers,
    onState: (s) => states.push(s),
    load: () => new Promise((resolve) => (answer = resolve)),
  });
  p.set('@hourly', '');
  timers.runAll();
  p.set('@daily', ''); // typed while the first answer is on its way
  answer({ next_fires: ['stale'] });
  await settle();
  assert.equal(states.at(-1).state, 'checking', 'the stale answer is not shown');
  timers.runAll();
  answer({ next_fires: ['fresh'] });
  await settle();
  assert.deepEqual(states.at(-1), { state: 'ok', fires: ['fresh'] });
  p.stop();
});

test('zonedDateTime shows a time on the clocks of a zone; until counts down', () => {
  const t = '2026-07-01T01:02:03Z';
  assert.match(zonedDateTime(t, 'UTC'), /01:02:03/);
  assert.match(zonedDateTime(t, ''), /01:02:03/, '"" is UTC, as for a schedule');
  assert.match(zonedDateTime(t, 'Europe/Paris'), /03:02:03/, 'summer time: UTC+2');
  assert.match(zonedDateTime(t, 'Asia/Kolkata'), /06:32:03/);
  assert.match(zonedDateTime(t, 'Not/AZone'), /01:02:03.*unknown zone Not\/AZone/);
  assert.equal(zonedDateTime('0001-01-01T00:00:00Z', 'UTC'), 'never');

  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(until('2026-01-01T00:00:12Z', now), 'in 12 s');
  assert.equal(until('2026-01-01T00:00:00.400Z', now), 'in 1 s', 'a fraction of a second is still to come');
  assert.equal(until('2026-01-01T00:03:10Z', now), 'in 3 min');
  assert.equal(until('2026-01-01T05:00:00Z', now), 'in 5 h');
  assert.equal(until('2026-01-05T00:00:00Z', now), 'in 4 d');
  assert.equal(until('2025-12-31T23:59:59Z', now), 'now');
  assert.equal(until('', now), '–');
});

test('cronWords names the descriptors and leaves field expressions alone', () => {
  assert.equal(cronWords('@every 2s'), '');
  assert.equal(cronWords(' @hourly '), 'once an hour');
  assert.equal(cronWords('@midnight'), 'once a day');
  assert.equal(cronWords('0 3 * * *'), '');
  assert.equal(cronWords(undefined), '');
});
