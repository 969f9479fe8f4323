// Where the pages get node data from. A node's status (online/offline) is
// live: the WebSocket channel "nodes" says the moment a node comes or goes.
// The other fields (last seen, version, address…) come from the REST API,
// loaded at once, again a moment after every status change, after every
// reconnect of the WebSocket (events may have been missed), and every 30 s
// as a fallback. System info stays a REST call asked of the node every 10 s.
// The pages just receive onData/onError calls and stop the watcher when
// they unmount.

import { getNode, getSysinfo, listNodes } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

/** The fallback refresh of node records (status changes arrive live). */
export const NODES_REFRESH_MS = 30_000;

/** How long after a status change the records are read again (the store catches up within a second). */
export const AFTER_EVENT_MS = 2_000;

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
 * Status changes heard on the channel, newer than a REST answer, win over
 * it: the answer may have been read before the change.
 *
 * @param {Node[]} items as the REST API gave them
 * @param {number} readAt when that REST request started (epoch ms)
 * @param {Map<string, { status: string, at: number }>} heard node id → latest event
 * @returns {Node[]}
 */
export function mergeNodeEvents(items, readAt, heard) {
  return items.map((n) => {
    const ev = heard.get(n.id);
    return ev && ev.at > readAt && ev.status !== n.status ? { ...n, status: ev.status } : n;
  });
}

/**
 * Shared by both watchers: a REST load (list or one node) kept current by the
 * nodes channel. knows(data, id) says whether a result holds that node;
 * relevant(id) whether its events matter at all.
 */
function watchLive(load, { onData, onError, merge, knows, relevant = () => true }) {
  /** @type {Map<string, { status: string, at: number }>} */
  const heard = new Map();
  let last = null; // { data, readAt }
  let soon = 0;

  const poller = poll(
    async (signal) => {
      const readAt = Date.now();
      return { data: await load(signal), readAt };
    },
    {
      interval: NODES_REFRESH_MS,
      onData(result) {
        last = result;
        emit();
      },
      onError,
    },
  );

  function emit() {
    if (last) onData(merge(last.data, last.readAt, heard));
  }

  function refreshSoon(ms) {
    clearTimeout(soon);
    soon = setTimeout(() => poller.refresh(), ms);
  }

  const sub = getSocket().subscribe('nodes', {
    onData(ev) {
      // Load points ({event: 'metrics'}) share the channel; status changes
      // carry no event field.
      if (!ev || ev.event || typeof ev.node_id !== 'string' || !relevant(ev.node_id)) return;
      heard.set(ev.node_id, { status: ev.status, at: Date.now() });
      if (last && knows(last.data, ev.node_id)) emit();
      // Read the records again for what the event does not carry (last
      // seen, a new node's details).
      refreshSoon(last && knows(last.data, ev.node_id) ? AFTER_EVENT_MS : 300);
    },
    onSubscribed({ resumed }) {
      if (resumed) poller.refresh();
    },
    onError(err) {
      // The channel was refused (should not happen): polling carries on.
      console.warn('nodes channel refused:', err.message);
    },
  });

  return {
    stop() {
      clearTimeout(soon);
      poller.stop();
      sub.unsubscribe();
    },
    refresh: poller.refresh,
  };
}

/**
 * Watch all nodes. onData receives {items: Node[], total: number}, items
 * sorted by name so rows do not jump around when a status changes.
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchNodes({ onData, onError }) {
  return watchLive(listNodes, {
    onData,
    onError,
    merge(page, readAt, heard) {
      const items = mergeNodeEvents([...(page?.items ?? [])], readAt, heard).sort(byName);
      return { items, total: page?.total ?? items.length };
    },
    knows: (page, id) => (page?.items ?? []).some((n) => n.id === id),
  });
}

/**
 * Watch one node's stored record. onData receives a Node.
 * @param {string} id
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchNode(id, { onData, onError }) {
  return watchLive((signal) => getNode(id, signal), {
    onData,
    onError,
    merge: (node, readAt, heard) => mergeNodeEvents([node], readAt, heard)[0],
    knows: (node, nodeID) => node?.id === nodeID,
    relevant: (nodeID) => nodeID === id,
  });
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

/** Every node, once, sorted by name (for pickers and filters). */
export async function loadNodes(signal) {
  const page = await listNodes(signal);
  return [...(page?.items ?? [])].sort(byName);
}

export function byName(a, b) {
  return (a.name || '').localeCompare(b.name || '', undefined, { numeric: true }) ||
    (a.id || '').localeCompare(b.id || '');
}
