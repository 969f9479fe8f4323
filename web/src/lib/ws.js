// The WebSocket client: one shared connection to /ws for the whole dashboard
// (JSON-RPC 2.0, see docs/websocket-api.md).
//
//   const socket = getSocket();
//   const result = await socket.call('tasks.list', { filter: { limit: 10 } });
//   const sub = socket.subscribe('tasks', { onData(ev) { … } });
//   sub.unsubscribe();
//
// - Connects on first use, to /ws next to the page (ws: or wss: as the
//   page; the session cookie authenticates it), and stays connected while
//   anything is subscribed or waiting.
// - A frame holds one message or, when the server coalesces, an array of
//   them; both are accepted.
// - When the connection drops (network, server restart, or 4008 "too slow")
//   it reconnects with exponential backoff and jitter (a master that drains
//   closes with 1012: then at once, within minDelay), and subscribes again
//   to every channel. A task's log or items resume with since = the last
//   line (item) received + 1, and those already delivered are dropped, so a
//   viewer never shows a gap or a duplicate. One that has ended is not
//   subscribed again. lib/wschannels.js keeps the channels.
// - Calls in flight when the connection drops fail (they may or may not have
//   happened: the caller decides whether to repeat them); calls made while
//   disconnected wait for the connection, up to their timeout.
// - The browser hides why an upgrade failed, so a connection that fails
//   before opening asks the REST API (probe); a 401 there shows the sign-in
//   page (the REST client's onUnauthorized) and the socket pauses until
//   resume() is called after signing in. A close with 4001 (the session was
//   revoked, expired or its user disabled) pauses it too and says so
//   (onRevoked).
//
// createSocket takes its WebSocket constructor, timers and probe as options,
// so the logic runs under Node's test runner with fakes.

import { getMe } from './api.js';
import { createChannels } from './wschannels.js';
import { CLIENT, CLOSE_REVOKED, CLOSE_SERVICE_RESTART, RPC, RpcError, parseFrame, wsURL } from './wsproto.js';

export { CLIENT, CLOSE_REVOKED, CLOSE_SERVICE_RESTART, CLOSE_TOO_SLOW, RPC, RpcError, parseFrame, sequenceField, wsURL } from './wsproto.js';

/**
 * @param {SocketOptions} options
 */
export function createSocket(options) {
  const {
    url,
    WebSocket: WS,
    probe,
    onRevoked = () => {},
    timers = { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) },
    now = Date.now,
    random = Math.random,
    report = (err) => (typeof reportError === 'function' ? reportError(err) : console.error(err)),
    callTimeout = 15_000,
    minDelay = 500,
    maxDelay = 15_000,
    stableAfter = 10_000,
  } = options;

  /** @type {any} */
  let ws = null;
  let opened = false;
  /** @type {Status['state']} */
  let state = 'idle';
  let attempt = 0;
  let retryAt = 0;
  let retryTimer = null;
  let stableTimer = null;
  /** @type {Status['lastClose']} */
  let lastClose = null;
  let nextID = 1;

  /**
   * Requests waiting for their answer (sent) or for the connection (not sent).
   * @type {Map<number, { frame: string, sent: boolean, internal: boolean, onReply: (err: RpcError|null, result?: any) => void, fail: (err: RpcError) => void, timer: any }>}
   */
  const pending = new Map();

  const channels = createChannels({
    request,
    safely,
    timers,
    minDelay,
    isOpen: () => state === 'open',
    ensure,
  });

  const statusListeners = new Set();

  function status() {
    return { state, retryAt: state === 'waiting' ? retryAt : 0, lastClose, attempt };
  }

  function emit() {
    const s = status();
    for (const fn of statusListeners) safely(fn, s);
  }

  function safely(fn, ...args) {
    if (!fn) return;
    try {
      fn(...args);
    } catch (err) {
      report(err);
    }
  }

  function wanted() {
    return channels.size > 0 || pending.size > 0;
  }

  function setState(s) {
    if (state === s) return;
    state = s;
    emit();
  }

  // --- connection ----------------------------------------------------------

  function ensure() {
    if (state === 'idle' && wanted()) connect();
  }

  function connect() {
    timers.clearTimeout(retryTimer);
    retryTimer = null;
    opened = false;
    let sock;
    try {
      sock = new WS(url());
    } catch (err) {
      // A malformed URL: nothing to wait for, but do not spin.
      report(err);
      ws = null;
      schedule();
      return;
    }
    ws = sock;
    setState('connecting');
    sock.onopen = () => {
      if (sock !== ws) return;
      opened = true;
      timers.clearTimeout(stableTimer);
      stableTimer = timers.setTimeout(() => {
        attempt = 0;
      }, stableAfter);
      state = 'open';
      channels.opened();
      for (const [id, p] of pending) {
        if (!p.sent) {
          p.sent = true;
          send(p.frame, id);
        }
      }
      emit();
    };
    sock.onmessage = (ev) => {
      if (sock !== ws) return;
      for (const msg of parseFrame(typeof ev.data === 'string' ? ev.data : String(ev.data))) dispatch(msg);
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      closed(ev?.code ?? 1006, ev?.reason ?? '');
    };
    sock.onerror = () => {}; // a close event follows
  }

  function closed(code, reason) {
    const wasOpen = opened;
    ws = null;
    opened = false;
    timers.clearTimeout(stableTimer);
    lastClose = { code, reason };
    channels.lost();
    for (const [id, p] of pending) {
      if (!p.sent) continue;
      pending.delete(id);
      timers.clearTimeout(p.timer);
      if (!p.internal) {
        p.fail(new RpcError(CLIENT.DISCONNECTED, 'The connection to the server dropped before it answered; it may or may not have been done.'));
      }
    }
    if (state === 'paused') return;
    if (code === CLOSE_REVOKED) {
      // Retrying with a credential the server has dropped cannot work.
      pauseWith('revoked');
      safely(onRevoked);
      return;
    }
    if (code === CLOSE_SERVICE_RESTART) {
      // The master is draining: reconnect now, with no backoff, spread
      // over minDelay so that its every tab does not arrive at once.
      attempt = 0;
      schedule(Math.round(minDelay * random()));
      return;
    }
    if (!wasOpen && probe) {
      // Why did the upgrade fail? The REST API tells (a 401 shows the token form).
      setState('waiting');
      retryAt = 0;
      Promise.resolve()
        .then(probe)
        .then(
          () => state === 'waiting' && !retryTimer && schedule(),
          (err) => {
            if (state !== 'waiting' || retryTimer) return;
            if (err && err.status === 401) pauseWith('unauthorized');
            else schedule();
          },
        );
      return;
    }
    schedule();
  }

  /** @param {number} [after] the delay, instead of the backoff's */
  function schedule(after) {
    if (!wanted()) {
      attempt = 0;
      setState('idle');
      return;
    }
    const base = Math.min(maxDelay, minDelay * 2 ** Math.min(attempt, 16));
    const delay = after ?? Math.round(base * (0.8 + 0.4 * random()));
    attempt++;
    retryAt = now() + delay;
    timers.clearTimeout(retryTimer);
    retryTimer = timers.setTimeout(() => {
      retryTimer = null;
      if (state !== 'waiting') return;
      if (!wanted()) {
        attempt = 0;
        setState('idle');
        return;
      }
      connect();
    }, delay);
    state = 'waiting';
    emit();
  }

  function pauseWith(why) {
    timers.clearTimeout(retryTimer);
    retryTimer = null;
    timers.clearTimeout(stableTimer);
    const sock = ws;
    ws = null;
    opened = false;
    channels.lost();
    for (const [id, p] of pending) {
      pending.delete(id);
      timers.clearTimeout(p.timer);
      if (!p.internal) p.fail(new RpcError(CLIENT.PAUSED, PAUSED_TEXT[why] ?? PAUSED_TEXT['signed-out']));
    }
    state = 'paused';
    if (sock) {
      try {
        sock.close(1000, why);
      } catch {
        // already closing
      }
    }
    emit();
  }

  // --- messages ------------------------------------------------------------

  function send(frame, id) {
    try {
      ws.send(frame);
    } catch (err) {
      // The socket is closing: its close event will fail or retry this.
      report(err);
      const p = pending.get(id);
      if (p) p.sent = true;
    }
  }

  /**
   * Send a request; onReply runs synchronously when the answer is read.
   * @returns {number} the request id
   */
  function request(method, params, { internal, onReply, fail = () => {}, timeout = 0 }) {
    const id = nextID++;
    const frame = JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    const p = { frame, sent: false, internal, onReply, fail, timer: null };
    pending.set(id, p);
    if (timeout > 0) {
      p.timer = timers.setTimeout(() => {
        if (pending.get(id) !== p) return;
        pending.delete(id);
        p.fail(new RpcError(CLIENT.TIMEOUT, `The server did not answer ${method} within ${Math.round(timeout / 1000)} s.`));
      }, timeout);
    }
    if (state === 'open' && ws) {
      p.sent = true;
      send(frame, id);
    } else ensure();
    return id;
  }

  function dispatch(msg) {
    if (msg.method === 'publish' && msg.params && typeof msg.params.channel === 'string') {
      channels.publish(msg.params.channel, msg.params.data);
      return;
    }
    if (msg.id === undefined || msg.id === null || !('result' in msg || 'error' in msg)) return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    timers.clearTimeout(p.timer);
    if (msg.error) {
      const e = msg.error;
      p.onReply(new RpcError(typeof e.code === 'number' ? e.code : RPC.INTERNAL, String(e.message ?? 'The server reported an error.')));
    } else p.onReply(null, msg.result);
  }

  // --- API -----------------------------------------------------------------

  return {
    /**
     * Call a method; resolves to its result, rejects with RpcError.
     * @param {string} method
     * @param {object} [params]
     * @param {{ timeout?: number }} [opts]
     */
    call(method, params, { timeout = callTimeout } = {}) {
      if (state === 'paused') {
        return Promise.reject(new RpcError(CLIENT.PAUSED, 'Not connected: sign in first.'));
      }
      return new Promise((resolve, reject) => {
        request(method, params, {
          internal: false,
          timeout,
          onReply: (err, result) => (err ? reject(err) : resolve(result)),
          fail: reject,
        });
      });
    },

    /**
     * Follow a channel. For a task's log ("task:<id>:log") or items
     * ("task:<id>:items") since is the first line or item wanted (default
     * 0); one listener per such channel.
     * @param {string} channel
     * @param {Listener & { since?: number }} listener
     * @returns {{ unsubscribe: () => void, readonly next: number }}
     */
    subscribe(channel, listener) {
      return channels.subscribe(channel, listener);
    },

    /** The connection's state now. @returns {Status} */
    status,

    /** Be told of every state change; returns a function that stops it. */
    onStatus(fn) {
      statusListeners.add(fn);
      return () => statusListeners.delete(fn);
    },

    /** Reconnect now instead of at the scheduled time. */
    retryNow() {
      if (state === 'waiting' && retryTimer) {
        attempt = 0;
        connect();
      }
    },

    /** Disconnect and stay so until resume() (signed out, or the session refused). */
    pause() {
      if (state !== 'paused') pauseWith('signed-out');
    },

    /** Allow connecting again after pause(); connects if anything waits. */
    resume() {
      if (state !== 'paused') return;
      attempt = 0;
      state = 'idle';
      emit();
      ensure();
    },
  };
}

/** Why calls fail while paused, by the reason it paused. */
const PAUSED_TEXT = {
  unauthorized: 'Not connected: the server no longer accepts this sign-in.',
  revoked: 'Not connected: the session was ended. Sign in again.',
  'signed-out': 'Not connected: signed out.',
};

/** @typedef {ReturnType<typeof createSocket>} Socket */

/** @type {Socket | null} */
let shared = null;

let revoked = () => {};

/**
 * Set the function called when the server closes the dashboard's
 * connection because its session stopped working (CLOSE_REVOKED). The app
 * uses it to show the sign-in page.
 */
export function onRevoked(fn) {
  revoked = fn;
}

/**
 * The dashboard's one connection, created on first use (it connects only
 * when something calls or subscribes).
 * @returns {Socket}
 */
export function getSocket() {
  if (shared) return shared;
  shared = createSocket({
    url: () => wsURL(document.baseURI),
    WebSocket: window.WebSocket,
    // The cheapest authenticated call: a 401 shows the sign-in page by itself.
    probe: () => getMe(),
    onRevoked: () => revoked(),
  });
  window.addEventListener('online', () => shared.retryNow());
  return shared;
}
