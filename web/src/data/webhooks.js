// Where the Alerts page gets webhooks and their deliveries from. The list is
// read from REST at once, after every change made here (refresh()) and every
// 30 s; the admin-only channel "webhooks" pushes each delivery's outcome as
// it is attempted, on whichever master sent it. The pure helpers below are
// DOM-free and tested under Node.

import { listWebhooks } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

/** How often the list is read again when nothing was changed here. */
export const WEBHOOKS_REFRESH_MS = 30_000;

/** The events a webhook may subscribe to, with what each means to a person. */
export const WEBHOOK_EVENTS = [
  ['task.failed', 'A task failed', 'ended in error, or abnormal (its node died)'],
  ['task.finished', 'A task finished', 'exit code 0'],
  ['task.cancelled', 'A task was cancelled', ''],
  ['node.offline', 'A node went offline', 'missed its heartbeats, or stopped'],
  ['node.online', 'A node came online', ''],
  ['schedule.skipped', 'A schedule skipped a fire', 'its last task was still running'],
];

/** Every webhook (admin): onData({items, total}). @returns {{ stop: () => void, refresh: () => void }} */
export function watchWebhooks(handlers) {
  return poll(listWebhooks, { interval: WEBHOOKS_REFRESH_MS, ...handlers });
}

/**
 * Follow the deliveries as they are attempted: onDelivery(delivery) for
 * each outcome (its body left out); onResumed after a reconnect, when some
 * may have been missed.
 * @param {{ onDelivery: (d: any) => void, onResumed?: () => void }} handlers
 * @returns {{ stop: () => void }}
 */
export function followDeliveries({ onDelivery, onResumed }) {
  const sub = getSocket().subscribe('webhooks', {
    onData(d) {
      if (d && d.id) onDelivery(d);
    },
    onSubscribed({ resumed }) {
      if (resumed) onResumed?.();
    },
    onError() {
      // Refused (an older server): the list is still read every 30 s.
    },
  });
  return { stop: () => sub.unsubscribe() };
}

/**
 * Merge a delivery into a list that is newest first (by created, then id),
 * replacing the one with its id; at most `most` are kept.
 * @param {any[]} list
 * @param {any} d
 * @param {number} most
 */
export function mergeDelivery(list, d, most) {
  const out = list.filter((x) => x.id !== d.id);
  const old = list.find((x) => x.id === d.id);
  out.push(old ? { ...old, ...d } : d);
  out.sort((a, b) => (a.created === b.created ? (a.id < b.id ? 1 : -1) : a.created < b.created ? 1 : -1));
  return out.slice(0, most);
}

/**
 * Parse the recipients typed in a field: commas, semicolons, spaces or
 * new lines between them.
 * @param {string} text
 */
export function parseRecipients(text) {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}

/** What a delivery's status looks like: [badge class, label]. */
export function deliveryLook(status) {
  switch (status) {
    case 'delivered':
      return ['badge-ok', 'Delivered'];
    case 'failed':
      return ['badge-bad', 'Failed'];
    case 'retrying':
      return ['badge-warn', 'Retrying'];
    default:
      return ['badge-neutral', 'Pending'];
  }
}
