// The WebSocket protocol as the dashboard speaks it: close and error codes,
// the channels whose publications are numbered, the socket URL and the
// parsing of a frame. lib/ws.js (the connection) builds on it.

/** Close code: the server dropped a client that did not keep up. */
export const CLOSE_TOO_SLOW = 4008;

/**
 * Close code: the credential the connection acts as stopped working (the
 * session was signed out or revoked, it expired, or its user was disabled
 * or deleted). Reconnecting cannot help: sign in again.
 */
export const CLOSE_REVOKED = 4001;

/**
 * Close code: the master is shutting down (draining). Not the client's
 * fault: reconnect at once, which the load balancer sends to another master.
 */
export const CLOSE_SERVICE_RESTART = 1012;

/** JSON-RPC error codes from the server (docs/websocket-api.md). */
export const RPC = {
  PARSE: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  NOT_FOUND: -32001,
  NODE_OFFLINE: -32002,
  TIMEOUT: -32003,
  UNAUTHORIZED: -32004,
  TOO_MANY_SUBSCRIPTIONS: -32005,
  CONFLICT: -32006,
  NODE_ERROR: -32007,
  UNAVAILABLE: -32008,
  ALREADY_SUBSCRIBED: -32009,
  STORE_UNAVAILABLE: -32011, // the store did not answer in time: retry shortly
};

/** Codes of failures on this side (not sent by the server). */
export const CLIENT = {
  TIMEOUT: 1, // no answer in time
  DISCONNECTED: 2, // the connection dropped while the call was in flight
  PAUSED: 3, // signed out, or the server no longer accepts the session
};

/** A failed call: the server's JSON-RPC error, or one of CLIENT. */
export class RpcError extends Error {
  /** @param {number} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = 'RpcError';
    this.code = code;
  }
}

/** Subscribe errors worth retrying on the same connection. */
export const RETRYABLE = new Set([RPC.INTERNAL, RPC.TIMEOUT, RPC.UNAVAILABLE, RPC.STORE_UNAVAILABLE]);

/**
 * Numbered channels: gap-free, resumable with since, ending with {end}.
 * Each publication carries its entries under one field.
 */
const SEQUENCES = [
  { re: /^task:[^:]+:log$/, field: 'lines' },
  { re: /^task:[^:]+:items$/, field: 'items' },
];

/** The field of a numbered channel's entries ("lines", "items"), or "". */
export function sequenceField(channel) {
  return SEQUENCES.find((s) => s.re.test(channel))?.field ?? '';
}

/**
 * The /ws URL next to the page: http → ws, https → wss. It carries no
 * credential: the upgrade is same-origin, so the browser sends the session
 * cookie with it.
 * @param {string} base the page's URL (document.baseURI)
 */
export function wsURL(base) {
  const u = new URL('ws', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.hash = '';
  u.search = '';
  return u.href;
}

/**
 * The messages of one frame: a single object or a coalesced array. Anything
 * else is an empty list (a malformed frame is skipped, not fatal).
 * @param {string} text
 * @returns {any[]}
 */
export function parseFrame(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return [];
  }
  const list = Array.isArray(v) ? v : [v];
  return list.filter((m) => m !== null && typeof m === 'object' && !Array.isArray(m));
}

/**
 * @typedef {object} SocketOptions
 * @property {() => string} url where to connect, asked at every attempt
 * @property {any} WebSocket the WebSocket constructor
 * @property {() => Promise<unknown>} [probe] asked after a connection failed before opening;
 *   rejecting with {status: 401} pauses the socket
 * @property {() => void} [onRevoked] the server closed the connection with
 *   CLOSE_REVOKED; the socket is paused until resume()
 * @property {{ setTimeout: typeof setTimeout, clearTimeout: typeof clearTimeout }} [timers]
 * @property {() => number} [now]
 * @property {() => number} [random]
 * @property {(err: any) => void} [report] where listener exceptions go
 * @property {number} [callTimeout] ms, default 15 s
 * @property {number} [minDelay] first reconnect delay in ms, default 500
 * @property {number} [maxDelay] longest reconnect delay in ms, default 15 s
 * @property {number} [stableAfter] a connection open this long resets the backoff, default 10 s
 */

/**
 * @typedef {object} Status
 * @property {'idle'|'connecting'|'open'|'waiting'|'paused'} state
 *   idle: not needed yet; waiting: a reconnect is scheduled at retryAt
 * @property {number} retryAt epoch ms of the next attempt while waiting, else 0
 * @property {{ code: number, reason: string } | null} lastClose
 * @property {number} attempt reconnects since the last stable connection
 */

/**
 * @typedef {object} Listener
 * @property {(data: any) => void} [onData] a notification's data; for a log,
 *   {from, lines} with only new lines, then {end: true, status, total}; for
 *   items, {from, items} likewise
 * @property {(err: RpcError) => void} [onError] the subscription was refused; it is dropped
 * @property {(info: { resumed: boolean }) => void} [onSubscribed] the server confirmed;
 *   resumed is true after a reconnect (notifications may have been missed on
 *   plain channels: reload what they describe)
 */
