// A node's load over time: the history the masters keep (REST), grown live
// by the points each heartbeat pushes on the "nodes" channel
// ({event: "metrics", node_id, point}). The 1 h range is 10 s points, one
// per slot: a new slot is a new point, and a second heartbeat in the same
// slot is ignored, as the store ignores it (the first point of a slot
// stands). The 24 h and 7 d ranges are 1 min and
// 10 min averages that the masters write when a slot closes; live points
// fold into the open slot as a running average meanwhile, and the history
// is read again every few minutes to pick up the masters' figures.

import { getNodeMetrics } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

/** The ranges a history is shown in: span and step in seconds (the server's). */
export const RANGES = {
  '1h': { span: 3600, step: 10, label: '1 h' },
  '24h': { span: 86_400, step: 60, label: '24 h' },
  '7d': { span: 604_800, step: 600, label: '7 d' },
};

/** How often a history is read again (live points arrive in between). */
export const METRICS_REFRESH_MS = 5 * 60_000;

/**
 * @typedef {object} NodePoint
 * @property {string|number} at RFC 3339 from the server; Unix seconds once held here
 * @property {number} cpu
 * @property {number} mem_used
 * @property {number} mem_total
 * @property {number} disk_used
 * @property {number} disk_total
 * @property {number} net_rx
 * @property {number} net_tx
 * @property {number} load1
 */

const FIGURES = ['cpu', 'mem_used', 'mem_total', 'disk_used', 'disk_total', 'net_rx', 'net_tx', 'load1'];

/** A server point with at in Unix seconds. */
export function toPoint(p) {
  const at = typeof p.at === 'number' ? p.at : Math.floor(Date.parse(p.at) / 1000);
  const out = { at };
  for (const f of FIGURES) out[f] = Number(p[f]) || 0;
  return out;
}

/**
 * A history being kept current: points oldest first, in slots of step
 * seconds, at most span seconds old.
 */
export class History {
  constructor(step, span) {
    this.step = step;
    this.span = span;
    /** @type {ReturnType<typeof toPoint>[]} */
    this.points = [];
    this.liveSlot = -1; // the open slot live points are averaged into
    this.liveN = 0;
  }

  /** Replace the points with the server's. */
  load(points) {
    this.points = points.map(toPoint);
    this.liveSlot = -1;
    this.liveN = 0;
  }

  /** Fold a live point in; returns whether anything changed. */
  add(raw, now = Date.now() / 1000) {
    const p = toPoint(raw);
    const slot = p.at - (p.at % this.step);
    p.at = slot;
    const last = this.points[this.points.length - 1];
    if (last && slot < last.at) return false; // older than what is shown
    if (this.step > 10 && last && last.at === slot) {
      if (this.liveSlot === slot) {
        // A running mean of the live points of the open slot.
        this.liveN++;
        for (const f of FIGURES) last[f] += (p[f] - last[f]) / this.liveN;
      } else {
        this.points[this.points.length - 1] = p;
        this.liveSlot = slot;
        this.liveN = 1;
      }
    } else if (last && last.at === slot) {
      return false;
    } else {
      this.points.push(p);
      this.liveSlot = slot;
      this.liveN = 1;
    }
    const oldest = now - this.span;
    while (this.points.length && this.points[0].at < oldest) this.points.shift();
    return true;
  }
}

/**
 * Watch one node's history over range ('1h', '24h' or '7d'). onData
 * receives the History whenever it changes.
 * @param {string} id
 * @param {keyof typeof RANGES} range
 * @param {{ onData: (h: History) => void, onError: (err: any) => void }} handlers
 */
export function watchNodeMetrics(id, range, { onData, onError }) {
  const { step, span } = RANGES[range];
  const history = new History(step, span);
  let loaded = false;
  const early = []; // live points heard before the first load
  const poller = poll((signal) => getNodeMetrics(id, range, signal), {
    interval: METRICS_REFRESH_MS,
    onData(body) {
      history.load(body?.points ?? []);
      loaded = true;
      for (const p of early.splice(0)) history.add(p);
      onData(history);
    },
    onError,
  });
  const sub = subscribeMetrics((nodeID, point) => {
    if (nodeID !== id) return;
    if (!loaded) early.push(point);
    else if (history.add(point)) onData(history);
  }, () => poller.refresh());
  return {
    stop() {
      poller.stop();
      sub.unsubscribe();
    },
    refresh: poller.refresh,
  };
}

/**
 * Watch the last hour of several nodes, for the node list's sparklines.
 * track(ids) says which nodes; onData(id, history) is called when one
 * changes.
 * @param {{ onData: (id: string, h: History) => void }} handlers
 */
export function watchNodeLoads({ onData }) {
  const { step, span } = RANGES['1h'];
  /** @type {Map<string, { history: History, loaded: boolean, abort: AbortController }>} */
  const nodes = new Map();

  async function load(id, entry) {
    try {
      const body = await getNodeMetrics(id, '1h', entry.abort.signal);
      const live = entry.history.points; // heard while loading
      entry.history.load(body?.points ?? []);
      for (const p of live) entry.history.add(p);
      entry.loaded = true;
      onData(id, entry.history);
    } catch (err) {
      // A sparkline is a nicety: the row says the rest, and live points
      // still draw one.
      if (err?.name !== 'AbortError') console.warn('node history not loaded:', err?.message);
    }
  }

  const sub = subscribeMetrics(
    (nodeID, point) => {
      const entry = nodes.get(nodeID);
      if (entry && entry.history.add(point) && entry.loaded) onData(nodeID, entry.history);
    },
    () => {
      for (const [id, entry] of nodes) load(id, entry);
    },
  );

  return {
    /** @param {string[]} ids */
    track(ids) {
      const want = new Set(ids);
      for (const [id, entry] of nodes) {
        if (!want.has(id)) {
          entry.abort.abort();
          nodes.delete(id);
        }
      }
      for (const id of want) {
        if (nodes.has(id)) continue;
        const entry = { history: new History(step, span), loaded: false, abort: new AbortController() };
        nodes.set(id, entry);
        load(id, entry);
      }
    },
    /** The history of a tracked node, if loaded. */
    get(id) {
      const entry = nodes.get(id);
      return entry?.loaded ? entry.history : null;
    },
    stop() {
      sub.unsubscribe();
      for (const entry of nodes.values()) entry.abort.abort();
      nodes.clear();
    },
  };
}

/** The nodes channel's load points; onResumed after a reconnect (points may have been missed). */
function subscribeMetrics(onPoint, onResumed) {
  return getSocket().subscribe('nodes', {
    onData(ev) {
      if (ev?.event !== 'metrics' || typeof ev.node_id !== 'string' || !ev.point) return;
      onPoint(ev.node_id, ev.point);
    },
    onSubscribed({ resumed }) {
      if (resumed) onResumed();
    },
    onError(err) {
      console.warn('nodes channel refused:', err.message);
    },
  });
}
