// Where the overview gets its numbers: GET /api/stats for the last 24 hours
// by hour and the last 30 days by day, read again a moment after any event
// on the "tasks" channel (several events share one read), on a reconnect,
// and every minute as the fallback (the windows move with the clock).

import { getStats } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';
import { AFTER_EVENT_MS, debounce } from './tasks.js';

/** The fallback refresh. */
export const STATS_REFRESH_MS = 60_000;

/**
 * @typedef {object} TaskStats the body of GET /api/stats
 * @property {string} from
 * @property {string} to
 * @property {'hour'|'day'} bucket
 * @property {{ start: string, counts: Record<string, number> }[]} buckets
 * @property {Record<string, number>} totals
 * @property {number} success_rate finished / ended, 0 when none ended
 * @property {number} running now
 * @property {number} pending now
 * @property {number} items
 * @property {{ spider_id: string, spider_name: string, counts: Record<string, number>, failed: number, avg_seconds: number, p95_seconds: number, items: number }[]} spiders failing most first
 */

/** The final statuses, in stacking order (bottom first), with their chart colours (palette keys). */
export const OUTCOMES = [
  { status: 'finished', label: 'Finished', color: 'ok' },
  { status: 'error', label: 'Error', color: 'bad' },
  { status: 'abnormal', label: 'Abnormal', color: 'warn' },
  { status: 'cancelled', label: 'Cancelled', color: 'neutral' },
];

/** Sum of a counts map. */
export const ended = (counts) => Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

/**
 * uPlot data of a window: [bucket starts (Unix s), then one series per
 * outcome in OUTCOMES order].
 * @param {TaskStats} stats
 */
export function chartData(stats) {
  const buckets = stats?.buckets ?? [];
  return [
    buckets.map((b) => Date.parse(b.start) / 1000),
    ...OUTCOMES.map((o) => buckets.map((b) => b.counts?.[o.status] ?? 0)),
  ];
}

/**
 * Watch the overview. onData receives { day, month }: the last 24 hours by
 * hour and the last 30 days by day.
 * @param {{ onData: (s: { day: TaskStats, month: TaskStats }) => void, onError: (err: any) => void }} handlers
 */
export function watchStats({ onData, onError }) {
  const poller = poll(
    async (signal) => {
      const [day, month] = await Promise.all([getStats({ bucket: 'hour' }, signal), getStats({ bucket: 'day' }, signal)]);
      return { day, month };
    },
    { interval: STATS_REFRESH_MS, onData, onError },
  );
  const later = debounce(() => poller.refresh(), AFTER_EVENT_MS);
  const sub = getSocket().subscribe('tasks', {
    onData(ev) {
      if (ev && typeof ev.task_id === 'string') later.request();
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
