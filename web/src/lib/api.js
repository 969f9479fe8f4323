// The REST client: every call to /api goes through request(), which adds the
// bearer token, decodes JSON and turns failures into ApiError with the
// server's own message. One place, so the pages never deal with HTTP.

import { getToken } from './auth.js';

/** How long a call may take before the dashboard gives up on it. */
const TIMEOUT_MS = 15_000;

/** A failed API call. status is 0 when the server could not be reached. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 for network errors and timeouts
   * @param {string} code stable error code from the server, e.g. "node_offline"
   * @param {string} message a sentence a person can act on
   */
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/**
 * Set the function called whenever the server answers 401, before the
 * ApiError is thrown. The app uses it to show the token form.
 */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * Call the API. `path` is relative to the API root, e.g. "nodes/abc".
 * Resolves to the decoded JSON body; rejects with ApiError, or with the
 * caller's AbortError when `signal` aborts.
 *
 * @param {string} path
 * @param {{ method?: string, body?: any, signal?: AbortSignal, token?: string }} [options]
 *   token overrides the stored token (used to check a pasted one).
 */
export async function request(path, { method = 'GET', body, signal, token = getToken() } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  let res;
  try {
    res = await fetch(apiURL(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      cache: 'no-store',
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    if (timeout.aborted) {
      throw new ApiError(0, 'timeout', `The server did not answer within ${TIMEOUT_MS / 1000} s.`);
    }
    throw new ApiError(0, 'network', 'Cannot reach the crawlhub server. Check that it is running.');
  }

  const data = await decode(res);
  if (res.ok) return data;

  const err = new ApiError(
    res.status,
    (data && data.code) || `http_${res.status}`,
    (data && typeof data.message === 'string' && data.message) ||
      `The server answered ${res.status} ${res.statusText}`.trim() + '.',
  );
  if (res.status === 401) unauthorized(err);
  throw err;
}

/** Absolute URL of an API path, relative to where the dashboard is served. */
export function apiURL(path) {
  return new URL(`api/${path}`, document.baseURI).href;
}

async function decode(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    if (res.ok) throw new ApiError(res.status, 'bad_response', 'The server sent a response that is not JSON.');
    return null; // An error page from a proxy: fall back to the status line.
  }
}

const id = (s) => encodeURIComponent(s);

/** GET /api/nodes → {items: Node[], total: number} */
export const listNodes = (signal) => request('nodes', { signal });

/** GET /api/nodes/:id → Node */
export const getNode = (nodeID, signal) => request(`nodes/${id(nodeID)}`, { signal });

/** GET /api/nodes/:id/sysinfo → SysInfo (wire.SysInfo) */
export const getSysinfo = (nodeID, signal) => request(`nodes/${id(nodeID)}/sysinfo`, { signal });
