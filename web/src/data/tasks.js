// Where the pages get task data from. Lists and records come from the REST
// API; the WebSocket channel "tasks" announces every state change, which is
// applied to what is on screen at once, then the records are read again a
// moment later for what an event does not carry (start and end times). A
// reconnect reloads (events may have been missed), and a slow 30 s refresh
// is the fallback. Logs come from the channel "task:<id>:log" (followLog).

import { getTask, listTasks } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

export const TASK_STATUSES = ['pending', 'running', 'finished', 'error', 'cancelled', 'abnormal'];

const ENDED = new Set(['finished', 'error', 'cancelled', 'abnormal']);

/** Whether a status is final. */
export const isEnded = (status) => ENDED.has(status);

/** The fallback refresh (changes arrive live). */
export const TASKS_REFRESH_MS = 30_000;

/** How long after events the records are read again; several events share one read. */
export const AFTER_EVENT_MS = 800;

/**
 * @typedef {object} Task
 * @property {string} id
 * @property {string} spider_id
 * @property {string} spider_name
 * @property {string} node_id "" until a node claims a task of mode "any"
 * @property {'any'|'all'|'nodes'} mode
 * @property {string} status
 * @property {string} command
 * @property {string} [params]
 * @property {Record<string, string>} [env]
 * @property {number} [timeout_seconds]
 * @property {number} [exit_code]
 * @property {string} [reason]
 * @property {number} log_lines
 * @property {{ error: number, warning: number }} [log_levels] lines counted as errors and warnings (live while it runs)
 * @property {Record<string, any>} [scrapy_stats] the stats Scrapy printed at its end
 * @property {number} [item_count] items saved (live while it runs)
 * @property {{ new: number, ignored: number, overwritten: number }} [item_stats] what deduplication made of them
 * @property {string} created
 * @property {string} [started]
 * @property {string} [finished]
 */

/**
 * @typedef {object} TaskEvent a notification of the "tasks" channel
 * @property {string} task_id
 * @property {string} node_id
 * @property {string} spider_id
 * @property {string} status
 * @property {number} [exit_code]
 * @property {string} [reason]
 * @property {number} log_lines
 * @property {number} [item_count]
 * @property {{ error: number, warning: number }} [log_levels] the log's error and warning lines so far
 */

/**
 * A task as an event says it is now. Pure: returns a new object. Events
 * carry no times: a task that starts or ends is stamped with `now` until the
 * record, read again a moment later, gives the server's times.
 * @param {Task} task
 * @param {TaskEvent} ev
 * @param {string} [now] RFC 3339
 * @returns {Task}
 */
export function applyTaskEvent(task, ev, now = new Date().toISOString()) {
  const t = { ...task, status: ev.status, reason: ev.reason ?? '' };
  if (ev.node_id) t.node_id = ev.node_id;
  if (ev.exit_code === undefined || ev.exit_code === null) delete t.exit_code;
  else t.exit_code = ev.exit_code;
  if (Number.isFinite(ev.log_lines) && ev.log_lines > 0) t.log_lines = ev.log_lines;
  if (Number.isFinite(ev.item_count) && ev.item_count > (t.item_count ?? 0)) t.item_count = ev.item_count;
  const lv = ev.log_levels;
  if (lv && lv.error + lv.warning >= (t.log_levels?.error ?? 0) + (t.log_levels?.warning ?? 0)) t.log_levels = { error: lv.error, warning: lv.warning };
  if (ev.status === 'running' && !t.started) t.started = now;
  if (isEnded(ev.status) && !t.finished) t.finished = now;
  return t;
}

/**
 * Whether an event's task may belong in a list with this filter (it may not
 * be there yet: a new task).
 * @param {{ status?: string, spider_id?: string, node_id?: string }} filter
 * @param {TaskEvent} ev
 */
export function eventMatches(filter, ev) {
  if (filter.spider_id && ev.spider_id !== filter.spider_id) return false;
  if (filter.node_id && ev.node_id !== filter.node_id) return false;
  if (filter.status && ev.status !== filter.status) return false;
  return true;
}

/**
 * Apply an event to a page of tasks. Returns the new items (the same array
 * when the event changes nothing on the page) and whether the page should
 * be read again (a new task for this page, or one that left the filter).
 * @param {Task[]} items
 * @param {{ status?: string, spider_id?: string, node_id?: string, offset?: number }} filter
 * @param {TaskEvent} ev
 * @returns {{ items: Task[], reload: boolean }}
 */
export function applyToPage(items, filter, ev) {
  const i = items.findIndex((t) => t.id === ev.task_id);
  if (i < 0) return { items, reload: !filter.offset && eventMatches(filter, ev) };
  const next = items.slice();
  next[i] = applyTaskEvent(items[i], ev);
  return { items: next, reload: true };
}

/** A debounced call: runs ms after the last request, but at least every 3 × ms. */
export function debounce(fn, ms) {
  let timer = 0;
  let first = 0;
  const run = () => {
    timer = 0;
    first = 0;
    fn();
  };
  return {
    request() {
      const now = Date.now();
      if (!first) first = now;
      clearTimeout(timer);
      timer = setTimeout(run, now - first > 3 * ms ? 0 : ms);
    },
    cancel() {
      clearTimeout(timer);
      timer = 0;
      first = 0;
    },
  };
}

/**
 * Watch a page of tasks. onData receives {items, total}, newest first.
 * @param {{ status?: string, spider_id?: string, node_id?: string, limit?: number, offset?: number }} filter
 * @param {{ onData: (page: { items: Task[], total: number }) => void, onError: (err: any) => void }} handlers
 */
export function watchTasks(filter, { onData, onError }) {
  let page = null;
  const later = debounce(() => poller.refresh(), AFTER_EVENT_MS);
  const poller = poll((signal) => listTasks(filter, signal), {
    interval: TASKS_REFRESH_MS,
    onData(p) {
      page = { items: p?.items ?? [], total: p?.total ?? 0 };
      onData(page);
    },
    onError,
  });
  const sub = getSocket().subscribe('tasks', {
    onData(ev) {
      if (!ev || typeof ev.task_id !== 'string') return;
      if (!page) return later.request();
      const { items, reload } = applyToPage(page.items, filter, ev);
      if (items !== page.items) {
        page = { ...page, items };
        onData(page);
      }
      if (reload) later.request();
    },
    onSubscribed({ resumed }) {
      if (resumed) poller.refresh();
    },
  });
  return {
    stop() {
      later.cancel();
      poller.stop();
      sub.unsubscribe();
    },
    refresh: poller.refresh,
  };
}

/**
 * Watch one task. onData receives a Task at once and on every change.
 * @param {string} id
 * @param {{ onData: (task: Task) => void, onError: (err: any) => void }} handlers
 */
export function watchTask(id, { onData, onError }) {
  let task = null;
  const later = debounce(() => poller.refresh(), AFTER_EVENT_MS);
  const poller = poll((signal) => getTask(id, signal), {
    interval: TASKS_REFRESH_MS,
    onData(t) {
      // A status heard live is never undone by an older read.
      if (task && isEnded(task.status) && !isEnded(t.status)) {
        later.request();
        return;
      }
      task = t;
      onData(task);
    },
    onError,
  });
  const sub = getSocket().subscribe('tasks', {
    onData(ev) {
      if (!ev || ev.task_id !== id) return;
      if (task) {
        task = applyTaskEvent(task, ev);
        onData(task);
      }
      later.request();
    },
    onSubscribed({ resumed }) {
      if (resumed) poller.refresh();
    },
  });
  return {
    stop() {
      later.cancel();
      poller.stop();
      sub.unsubscribe();
    },
    refresh: poller.refresh,
  };
}

/**
 * Follow a task's log from line `since` (default 0): onLines({from, lines})
 * with new lines only, in order, then onEnd({status, total}) once. Survives
 * reconnects without a gap or a duplicate (see lib/ws.js).
 * @param {string} id
 * @param {{ since?: number, onLines: (batch: { from: number, lines: string[] }) => void, onEnd: (end: { status: string, total: number }) => void, onError: (err: any) => void }} handlers
 */
export function followLog(id, { since = 0, onLines, onEnd, onError }) {
  const sub = getSocket().subscribe(`task:${id}:log`, {
    since,
    onData(data) {
      if (data.end) onEnd({ status: data.status, total: data.total });
      else onLines(data);
    },
    onError,
  });
  return { stop: () => sub.unsubscribe() };
}
