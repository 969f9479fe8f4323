// Where the pages get schedule data from. Lists and records come from the
// REST API; the WebSocket channel "schedules" announces every change
// (created, updated, deleted) with the schedule as the API shows it, and
// every fire and skip, which are applied to what is on screen at once. A
// fire moves the next fire time, which the event does not carry: the
// records are read again a moment later. The "tasks" channel keeps the
// status of each schedule's last task current. A reconnect reloads, and a
// slow 30 s refresh is the fallback.

import { getSchedule, listSchedules, previewCron } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

/** The fallback refresh (changes arrive live). */
export const SCHEDULES_REFRESH_MS = 30_000;

/** How long after a fire or skip the records are read again (the next fire time moved). */
export const AFTER_FIRE_MS = 800;

/** How long the cron preview waits after the last keystroke before asking the server. */
export const PREVIEW_DELAY_MS = 300;

/**
 * @typedef {object} Schedule as GET /api/schedules shows it
 * @property {string} id
 * @property {string} name
 * @property {string} spider_id
 * @property {string} spider_name
 * @property {string} cron
 * @property {string} timezone "" means UTC
 * @property {'any'|'all'|'nodes'} mode
 * @property {string[]} [node_ids]
 * @property {string} [params]
 * @property {Record<string, string>} [env]
 * @property {number} [timeout_seconds]
 * @property {'skip'|'allow'|'queue'} overlap
 * @property {'skip'|'once'} misfire
 * @property {boolean} enabled
 * @property {string} created
 * @property {string} updated
 * @property {string} [last_fire]
 * @property {string} [last_task_id]
 * @property {string} [last_task_status]
 * @property {string} [last_skip]
 * @property {string} [last_skip_reason]
 * @property {string} [next_fire] none while disabled
 * @property {string[]} [next_fires] the next five (one schedule only)
 */

/**
 * @typedef {object} ScheduleEvent a notification of the "schedules" channel
 * @property {'created'|'updated'|'deleted'|'fired'|'skipped'} event
 * @property {string} schedule_id
 * @property {string} [name]
 * @property {Schedule} [schedule] created and updated
 * @property {string} [at] the fire time (fired, skipped)
 * @property {string[]} [task_ids] fired
 * @property {string} [reason] skipped
 */

/** The order the server lists schedules in: by name, then id. */
export function byName(a, b) {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * A schedule as a fire or skip event says it is now. Pure: returns a new
 * object (or the same one for other events).
 * @param {Schedule} s
 * @param {ScheduleEvent} ev
 * @returns {Schedule}
 */
export function applyFire(s, ev) {
  if (ev.event === 'fired') {
    const taskID = ev.task_ids?.[0];
    const next = { ...s, last_fire: ev.at || s.last_fire };
    if (taskID && taskID !== s.last_task_id) {
      next.last_task_id = taskID;
      next.last_task_status = 'pending';
    }
    return next;
  }
  if (ev.event === 'skipped') return { ...s, last_skip: ev.at || s.last_skip, last_skip_reason: ev.reason ?? '' };
  return s;
}

/**
 * Apply a schedules event to the list. Returns the new items (the same
 * array when nothing changed) and whether the list should be read again
 * (for what the event does not carry, such as the next fire time).
 * @param {Schedule[]} items sorted by byName
 * @param {ScheduleEvent} ev
 * @returns {{ items: Schedule[], reload: boolean }}
 */
export function applyScheduleEvent(items, ev) {
  if (!ev || typeof ev.schedule_id !== 'string') return { items, reload: false };
  const i = items.findIndex((s) => s.id === ev.schedule_id);
  switch (ev.event) {
    case 'created':
    case 'updated': {
      if (!ev.schedule || typeof ev.schedule !== 'object') return { items, reload: true };
      // The list shows next_fire, not the next five.
      const { next_fires: _five, ...s } = ev.schedule;
      const next = i < 0 ? [...items, s] : items.map((x, j) => (j === i ? { ...x, ...s } : x));
      return { items: next.sort(byName), reload: false };
    }
    case 'deleted':
      return { items: i < 0 ? items : items.filter((s) => s.id !== ev.schedule_id), reload: false };
    case 'fired':
    case 'skipped':
      if (i < 0) return { items, reload: true };
      return { items: items.map((s, j) => (j === i ? applyFire(s, ev) : s)), reload: true };
    default:
      return { items, reload: false };
  }
}

/**
 * Apply a tasks event to schedules whose last task it is. Returns the same
 * array when no schedule's last task is that task.
 * @param {Schedule[]} items
 * @param {{ task_id: string, status: string }} ev
 * @returns {Schedule[]}
 */
export function applyTaskStatus(items, ev) {
  if (!ev || typeof ev.task_id !== 'string' || !items.some((s) => s.last_task_id === ev.task_id && s.last_task_status !== ev.status)) return items;
  return items.map((s) => (s.last_task_id === ev.task_id ? { ...s, last_task_status: ev.status } : s));
}

/** A debounced call: runs ms after the last request. */
function later(fn, ms) {
  let timer = 0;
  return {
    request() {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    },
    cancel() {
      clearTimeout(timer);
    },
  };
}

/**
 * Shared by both watchers: a REST load kept current by the schedules and
 * tasks channels. apply(data, ev) and applyTask(data, ev) return the data
 * as an event says it is, and whether to read it again.
 */
function watchLive(load, { onData, onError, apply, applyTask, onEvent = () => {} }) {
  let data = null;
  const soon = later(() => poller.refresh(), AFTER_FIRE_MS);
  const poller = poll(load, {
    interval: SCHEDULES_REFRESH_MS,
    onData(d) {
      data = d;
      onData(data);
    },
    onError,
  });
  const show = (next, reload) => {
    if (next !== data) {
      data = next;
      onData(data);
    }
    if (reload) soon.request();
  };
  const resumed = ({ resumed }) => {
    if (resumed) poller.refresh();
  };
  const socket = getSocket();
  const subs = [
    socket.subscribe('schedules', {
      onData(ev) {
        if (!ev || typeof ev.schedule_id !== 'string') return;
        onEvent(ev);
        if (!data) return soon.request();
        const r = apply(data, ev);
        show(r.data, r.reload);
      },
      onSubscribed: resumed,
      onError(err) {
        console.warn('schedules channel refused:', err.message);
      },
    }),
    socket.subscribe('tasks', {
      onData(ev) {
        if (data && ev && typeof ev.task_id === 'string') show(applyTask(data, ev), false);
      },
    }),
  ];
  return {
    stop() {
      soon.cancel();
      poller.stop();
      for (const s of subs) s.unsubscribe();
    },
    refresh: poller.refresh,
  };
}

/**
 * Watch every schedule. onData receives {items, total}, sorted by name.
 * @param {{ onData: (page: { items: Schedule[], total: number }) => void, onError: (err: any) => void }} handlers
 */
export function watchSchedules({ onData, onError }) {
  return watchLive(
    async (signal) => {
      const page = await listSchedules(signal);
      const items = [...(page?.items ?? [])].sort(byName);
      return { items, total: items.length };
    },
    {
      onData,
      onError,
      apply(page, ev) {
        const r = applyScheduleEvent(page.items, ev);
        return { data: r.items === page.items ? page : { items: r.items, total: r.items.length }, reload: r.reload };
      },
      applyTask(page, ev) {
        const items = applyTaskStatus(page.items, ev);
        return items === page.items ? page : { ...page, items };
      },
    },
  );
}

/**
 * Watch one schedule. onData receives it (with its next five fire times) at
 * once and on every change; onDeleted is called when it is deleted;
 * onEvent receives each of its events (fires, skips) as they come.
 * @param {string} id
 * @param {{ onData: (s: Schedule) => void, onError: (err: any) => void, onDeleted?: () => void, onEvent?: (ev: ScheduleEvent) => void }} handlers
 */
export function watchSchedule(id, { onData, onError, onDeleted = () => {}, onEvent = () => {} }) {
  return watchLive((signal) => getSchedule(id, signal), {
    onData,
    onError,
    onEvent(ev) {
      if (ev.schedule_id !== id) return;
      if (ev.event === 'deleted') onDeleted();
      onEvent(ev);
    },
    apply(s, ev) {
      if (ev.schedule_id !== id || ev.event === 'deleted') return { data: s, reload: false };
      const [next] = applyScheduleEvent([s], ev).items;
      return { data: next ?? s, reload: ev.event === 'fired' || ev.event === 'skipped' };
    },
    applyTask: (s, ev) => applyTaskStatus([s], ev)[0],
  });
}

/**
 * @typedef {object} PreviewState
 * @property {'empty'|'checking'|'ok'|'error'} state
 * @property {string[]} [fires] the next five fire times (ok)
 * @property {string} [message] what is wrong (error)
 */

/**
 * The live preview of a cron expression: set(cron, timezone) as the person
 * types; onState hears "checking" at once, then, PREVIEW_DELAY_MS after the
 * last change, the server's answer for the latest input only (an answer to
 * older input is dropped).
 * @param {{ onState: (s: PreviewState) => void, load?: typeof previewCron, delay?: number, timers?: { setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout } }} opts
 */
export function cronPreview({ onState, load = previewCron, delay = PREVIEW_DELAY_MS, timers = globalThis }) {
  let timer = 0;
  let ctrl = null;
  let seq = 0;
  let stopped = false;
  return {
    /** @param {string} cron @param {string} timezone */
    set(cron, timezone) {
      timers.clearTimeout(timer);
      ctrl?.abort();
      const mine = ++seq;
      cron = cron.trim();
      if (!cron) {
        onState({ state: 'empty' });
        return;
      }
      onState({ state: 'checking' });
      timer = timers.setTimeout(async () => {
        ctrl = new AbortController();
        try {
          const res = await load(cron, timezone.trim(), ctrl.signal);
          if (mine === seq && !stopped) onState({ state: 'ok', fires: res?.next_fires ?? [] });
        } catch (err) {
          if (mine !== seq || stopped || err?.name === 'AbortError') return;
          onState({ state: 'error', message: err?.message || String(err), status: err?.status });
        }
      }, delay);
    },
    stop() {
      stopped = true;
      timers.clearTimeout(timer);
      ctrl?.abort();
    },
  };
}
