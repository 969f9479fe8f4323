// Spider sync outcomes: after a deploy, each node says on the "spiders"
// channel whether it got the archive (downloaded, or already had it) or
// why not.

import { getSocket } from '../lib/ws.js';

/**
 * @typedef {object} SyncEvent
 * @property {string} spider_id
 * @property {string} md5
 * @property {boolean} downloaded
 * @property {string} [error]
 * @property {string} node_id
 * @property {string} [node_name]
 */

/**
 * Follow the sync outcomes of one spider. `ready` settles once the
 * subscription is confirmed (or refused, or after readyMs), so that a
 * deploy sent after it cannot be missed; `wait(nodeIDs, ms)` resolves with
 * the outcomes of those nodes, once all have answered or after ms.
 * @param {string} spiderID
 * @param {{ socket?: ReturnType<typeof getSocket>, readyMs?: number }} [opts]
 */
export function followSync(spiderID, { socket = getSocket(), readyMs = 3000 } = {}) {
  /** @type {Map<string, SyncEvent>} */
  const got = new Map();
  let onEvent = () => {};
  let markReady;
  const ready = new Promise((resolve) => {
    markReady = resolve;
  });
  const readyTimer = setTimeout(() => markReady(), readyMs);
  const sub = socket.subscribe('spiders', {
    onSubscribed() {
      markReady();
    },
    onError() {
      markReady(); // refused: the deploy still goes, its outcomes unknown
    },
    onData(ev) {
      if (!ev || ev.spider_id !== spiderID || typeof ev.node_id !== 'string') return;
      got.set(ev.node_id, ev);
      onEvent();
    },
  });
  return {
    ready,
    /**
     * @param {string[]} nodeIDs
     * @param {number} ms
     * @returns {Promise<Map<string, SyncEvent>>}
     */
    wait(nodeIDs, ms) {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          onEvent = () => {};
          resolve(new Map(nodeIDs.filter((id) => got.has(id)).map((id) => [id, got.get(id)])));
        };
        const timer = setTimeout(done, ms);
        onEvent = () => {
          if (nodeIDs.every((id) => got.has(id))) done();
        };
        onEvent();
      });
    },
    stop() {
      clearTimeout(readyTimer);
      sub.unsubscribe();
    },
  };
}

/**
 * What a person is told about a deploy to nodeIDs given the outcomes.
 * @param {string} name the spider's name
 * @param {string[]} nodeIDs where it was sent
 * @param {Map<string, SyncEvent>} outcomes
 * @returns {{ kind: 'ok' | 'info' | 'error', text: string, detail: string }}
 */
export function syncSummary(name, nodeIDs, outcomes) {
  const n = nodeIDs.length;
  const nodes = (k) => `${k} ${k === 1 ? 'node' : 'nodes'}`;
  const label = (id) => outcomes.get(id)?.node_name || id.slice(0, 8);
  const failed = nodeIDs.filter((id) => outcomes.get(id)?.error);
  const silent = nodeIDs.filter((id) => !outcomes.has(id));
  const fetched = nodeIDs.filter((id) => outcomes.get(id) && !outcomes.get(id).error && outcomes.get(id).downloaded).length;
  if (failed.length) {
    return {
      kind: 'error',
      text: `${name} failed on ${failed.length} of ${nodes(n)}`,
      detail: failed.map((id) => `${label(id)}: ${outcomes.get(id).error}`).join('; '),
    };
  }
  if (silent.length) {
    return {
      kind: 'info',
      text: `${name} confirmed on ${n - silent.length} of ${nodes(n)}`,
      detail: `No answer yet from ${silent.map(label).join(', ')}; a node also fetches the archive before it runs the spider.`,
    };
  }
  return {
    kind: 'ok',
    text: `${name} is on ${n === 1 ? 'its node' : `all ${nodes(n)}`}`,
    detail: fetched === n ? 'Downloaded now.' : fetched === 0 ? 'Every node already had this version.' : `${nodes(fetched)} downloaded it; the others already had it.`,
  };
}
