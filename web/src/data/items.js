// Where the pages get items from. A task's items arrive on the channel
// "task:<id>:items" with the same contract as its log (lib/ws.js): every
// item from `since` on, once and in order, across reconnects, then the end.
// A spider's items (its current ones, newest first, across its tasks) are
// pages of the REST API.

import { listSpiderItems } from '../lib/api.js';
import { getSocket } from '../lib/ws.js';

/**
 * Follow a task's items from number `since` (default 0): onItems({from,
 * items}) with new items only, in order, then onEnd({status, total}) once.
 * @param {string} id
 * @param {{ since?: number, onItems: (batch: { from: number, items: any[] }) => void, onEnd: (end: { status: string, total: number }) => void, onError: (err: any) => void, socket?: ReturnType<typeof getSocket> }} handlers
 */
export function followItems(id, { since = 0, onItems, onEnd, onError, socket = getSocket() }) {
  const sub = socket.subscribe(`task:${id}:items`, {
    since,
    onData(data) {
      if (data.end) onEnd({ status: data.status, total: data.total });
      else onItems(data);
    },
    onError,
  });
  return { stop: () => sub.unsubscribe() };
}

/** Items per page of a spider's Data tab. */
export const SPIDER_PAGE = 100;

/**
 * Load page `page` (from 0) of a spider's current items, newest first.
 * @param {string} spiderID
 * @param {number} page
 * @param {AbortSignal} [signal]
 * @returns {Promise<{ items: { task_id: string, n: number, data: any, saved?: string }[], total: number }>}
 */
export async function loadSpiderItems(spiderID, page, signal) {
  const res = await listSpiderItems(spiderID, { limit: SPIDER_PAGE, offset: page * SPIDER_PAGE }, signal);
  return { items: res?.items ?? [], total: res?.total ?? 0 };
}

/**
 * What a page of a list shows: "101–200 of 1,234", and whether there are
 * pages before and after.
 * @param {number} page from 0
 * @param {number} shown rows on this page
 * @param {number} total
 * @param {number} [size]
 */
export function pageInfo(page, shown, total, size = SPIDER_PAGE) {
  const first = page * size;
  const text = shown ? `${(first + 1).toLocaleString()}–${(first + shown).toLocaleString()} of ${total.toLocaleString()}` : total ? `none here of ${total.toLocaleString()}` : 'none';
  return { text, prev: page > 0, next: first + shown < total };
}

/**
 * Parse the dedup keys typed in the spider form: names separated by commas
 * or spaces, duplicates removed, order kept. Returns {keys} or {error}.
 * @param {string} text
 * @param {string[]} reserved keys an item may not have
 */
export function parseDedupKeys(text, reserved = RESERVED_KEYS) {
  const keys = [];
  for (const k of text.split(/[\s,]+/)) {
    if (!k) continue;
    if (reserved.includes(k)) return { error: `"${k}" is a reserved name (items may not have the keys ${reserved.join(', ')}).` };
    if (!keys.includes(k)) keys.push(k);
  }
  return { keys };
}

/** The keys an item may not have (store.ReservedItemKeys). */
export const RESERVED_KEYS = ['_id', '_task_id', '_n', '_key', '_outcome', '_current'];
