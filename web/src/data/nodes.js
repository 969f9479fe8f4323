// Where the pages get node data from. Today every watcher polls the REST API;
// when the WebSocket API arrives (channel "nodes", call "node.sysinfo") only
// this module changes: the pages just receive onData/onError calls and stop
// the watcher when they unmount.

import { getNode, getSysinfo, listNodes } from '../lib/api.js';
import { poll } from '../lib/poll.js';

/** How often node lists and node details are refreshed. */
export const NODES_REFRESH_MS = 5_000;

/**
 * Each sysinfo call is a round trip to the node itself (and it runs the
 * executables' --version), so it is refreshed less often than the store-backed
 * node data.
 */
export const SYSINFO_REFRESH_MS = 10_000;

/**
 * @typedef {object} Node
 * @property {string} id
 * @property {string} name
 * @property {string} hostname
 * @property {string} ip
 * @property {string} mac
 * @property {string} os
 * @property {string} arch
 * @property {string} version
 * @property {boolean} is_master
 * @property {'online'|'offline'} status
 * @property {string} last_seen RFC 3339
 * @property {string} created RFC 3339
 */

/**
 * @typedef {{ stop: () => void, refresh: () => void }} Watcher
 * @typedef {{ onData: (data: any) => void, onError: (err: any) => void }} Handlers
 */

/**
 * Watch all nodes. onData receives {items: Node[], total: number}, items
 * sorted by name so rows do not jump around when a status changes.
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchNodes({ onData, onError }) {
  return poll(listNodes, {
    interval: NODES_REFRESH_MS,
    onData: (page) => {
      const items = [...(page?.items ?? [])].sort(byName);
      onData({ items, total: page?.total ?? items.length });
    },
    onError,
  });
}

/**
 * Watch one node's stored record. onData receives a Node.
 * @param {string} id
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchNode(id, handlers) {
  return poll((signal) => getNode(id, signal), { interval: NODES_REFRESH_MS, ...handlers });
}

/**
 * Watch a node's live system information (wire.SysInfo), asked of the node.
 * @param {string} id
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchSysinfo(id, handlers) {
  return poll((signal) => getSysinfo(id, signal), { interval: SYSINFO_REFRESH_MS, ...handlers });
}

function byName(a, b) {
  return (a.name || '').localeCompare(b.name || '', undefined, { numeric: true }) ||
    (a.id || '').localeCompare(b.id || '');
}
