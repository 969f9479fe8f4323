// Unit tests of the log search's pure parts: what a query highlights, and
// how a task event's log levels reach a task.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyTaskEvent } from '../src/data/tasks.js';
import { highlighter } from '../src/lib/logsearch-ui.js';

test('a plain query highlights every occurrence, ignoring case', () => {
  const hl = highlighter('error', false);
  assert.deepEqual(hl('ERROR: GET /error/1'), [[0, 5], [12, 17]]);
  assert.deepEqual(hl('nothing here'), []);
  assert.equal(highlighter('', false), null);
});

test('a regular expression highlights its matches; (?i) ignores case; one JavaScript cannot read highlights nothing', () => {
  assert.deepEqual(highlighter('fail\\w+', true)('a failure, failed'), [[2, 9], [11, 17]]);
  assert.deepEqual(highlighter('(?i)warn', true)('WARN and warn'), [[0, 4], [9, 13]]);
  assert.deepEqual(highlighter('x*', true)('abc'), []);
  assert.equal(highlighter('(?P<name>x)', true), null);
});

test('log levels from a task event replace smaller counts, never larger ones', () => {
  const t = { id: 't', status: 'running', log_lines: 0, log_levels: { error: 2, warning: 1 } };
  assert.deepEqual(applyTaskEvent(t, { task_id: 't', status: 'running', log_levels: { error: 3, warning: 1 } }).log_levels, { error: 3, warning: 1 });
  assert.deepEqual(applyTaskEvent(t, { task_id: 't', status: 'running', log_levels: { error: 0, warning: 0 } }).log_levels, { error: 2, warning: 1 });
  assert.deepEqual(applyTaskEvent(t, { task_id: 't', status: 'running' }).log_levels, { error: 2, warning: 1 });
});
