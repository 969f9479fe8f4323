// The REST client: every call to /api goes through request(), which sends
// the session cookie (same origin) and, on state-changing calls, the
// session's CSRF token, decodes JSON and turns failures into ApiError with
// the server's own message. One place, so the pages never deal with HTTP.

import { csrfToken, retryAfterSeconds } from './session.js';

/** How long a call may take before the dashboard gives up on it. */
const TIMEOUT_MS = 15_000;

/** A failed API call. status is 0 when the server could not be reached. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, or 0 for network errors and timeouts
   * @param {string} code stable error code from the server, e.g. "node_offline"
   * @param {string} message a sentence a person can act on
   * @param {number} [retryAfter] seconds to wait before trying again (429), else 0
   */
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

let unauthorized = () => {};

/**
 * Set the function called whenever the server answers 401 (the session
 * ended: signed out elsewhere, expired, revoked, the account disabled),
 * before the ApiError is thrown. The app uses it to show the sign-in page.
 */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * Call the API. `path` is relative to the API root, e.g. "nodes/abc".
 * Resolves to the decoded JSON body; rejects with ApiError, or with the
 * caller's AbortError when `signal` aborts.
 *
 * A FormData body is sent as multipart/form-data (uploads), anything else
 * as JSON.
 *
 * @param {string} path
 * @param {{ method?: string, body?: any, signal?: AbortSignal, timeoutMs?: number, signIn?: boolean }} [options]
 *   signIn: a 401 is the answer to this call (wrong password, unknown
 *   token), not a sign that the session ended.
 */
export async function request(path, { method = 'GET', body, signal, timeoutMs = TIMEOUT_MS, signIn = false } = {}) {
  const headers = { Accept: 'application/json' };
  // The server wants it on every cookie-authenticated change; a cross-site
  // page can make the browser send the cookie but cannot read this.
  if (!SAFE_METHODS.has(method) && csrfToken()) headers['X-CSRF-Token'] = csrfToken();
  const multipart = typeof FormData !== 'undefined' && body instanceof FormData;
  if (body !== undefined && !multipart) headers['Content-Type'] = 'application/json';

  const timeout = AbortSignal.timeout(timeoutMs);
  let res;
  try {
    res = await fetch(apiURL(path), {
      method,
      headers,
      body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch (err) {
    if (signal?.aborted) throw signal.reason ?? err;
    if (timeout.aborted) {
      throw new ApiError(0, 'timeout', `The server did not answer within ${Math.round(timeoutMs / 1000)} s.`);
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
    res.status === 429 ? retryAfterSeconds(res.headers.get('Retry-After')) : 0,
  );
  if (res.status === 401 && !signIn) unauthorized(err);
  throw err;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

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

/** path?k=v… with the filter's non-empty values. */
function withQuery(path, filter) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return qs ? `${path}?${qs}` : path;
}

/** GET /api/stats?from=&to=&bucket=hour|day → TaskStats (see data/stats.js) */
export const getStats = (query = {}, signal) => request(withQuery('stats', query), { signal });

/** GET /api/nodes → {items: Node[], total: number} */
export const listNodes = (signal) => request('nodes', { signal });

/** GET /api/nodes/:id → Node */
export const getNode = (nodeID, signal) => request(`nodes/${id(nodeID)}`, { signal });

/** GET /api/nodes/:id/sysinfo → SysInfo (wire.SysInfo) */
export const getSysinfo = (nodeID, signal) => request(`nodes/${id(nodeID)}/sysinfo`, { signal });

/** GET /api/nodes/:id/metrics?range= → {node_id, range, step, from, to, points: NodePoint[]} */
export const getNodeMetrics = (nodeID, range, signal) =>
  request(withQuery(`nodes/${id(nodeID)}/metrics`, { range }), { signal });

/** GET /api/spiders → {items: Spider[], total} (ordered by name) */
export const listSpiders = (signal) => request('spiders', { signal });

/**
 * POST /api/spiders, multipart: name, command, env (JSON object), file (zip)
 * → Spider. Uploads may be large: they get minutes, not seconds.
 * @param {FormData} form
 */
export const createSpider = (form, signal) => request('spiders', { method: 'POST', body: form, signal, timeoutMs: 10 * 60_000 });

/** DELETE /api/spiders/:id → nothing */
export const deleteSpider = (spiderID) => request(`spiders/${id(spiderID)}`, { method: 'DELETE' });

/** POST /api/spiders/:id/deploy → {spider_id, md5, nodes: [node ids]} */
export const deploySpider = (spiderID) => request(`spiders/${id(spiderID)}/deploy`, { method: 'POST' });

/**
 * POST /api/tasks → {items: Task[], total}
 * @param {{ spider_id?: string, spider?: string, mode?: 'any'|'all'|'nodes', node_ids?: string[], params?: string, env?: Record<string, string>, timeout?: number, queue?: boolean }} run
 */
export const runTasks = (run) => request('tasks', { method: 'POST', body: run });

/**
 * GET /api/tasks?status=&spider_id=&node_id=&schedule_id=&limit=&offset= → {items: Task[], total} (newest first)
 * @param {{ status?: string, spider_id?: string, node_id?: string, schedule_id?: string, limit?: number, offset?: number }} filter
 */
export const listTasks = (filter = {}, signal) => request(withQuery('tasks', filter), { signal });

/** GET /api/tasks/:id → Task */
export const getTask = (taskID, signal) => request(`tasks/${id(taskID)}`, { signal });

/** POST /api/tasks/:id/cancel {reason} → Task (the outcome arrives on the tasks channel) */
export const cancelTask = (taskID, reason = '') => request(`tasks/${id(taskID)}/cancel`, { method: 'POST', body: { reason } });

/** POST /api/tasks/:id/restart → the new Task */
export const restartTask = (taskID) => request(`tasks/${id(taskID)}/restart`, { method: 'POST' });

/** GET /api/tasks/:id/log?from=&limit= → {task_id, from, lines, total} */
export const getTaskLog = (taskID, from = 0, limit = 10_000, signal) =>
  request(`tasks/${id(taskID)}/log?from=${from}&limit=${limit}`, { signal });

/**
 * GET /api/tasks/:id/log/search → {task_id, matches: [{line, text, cut?}], count, next, total}
 * @param {string} taskID
 * @param {{ q?: string, regex?: boolean, case?: boolean, level?: string, from?: number, limit?: number }} query
 */
export const searchTaskLog = (taskID, query, signal) => request(withQuery(`tasks/${id(taskID)}/log/search`, query), { signal });

/** GET /api/schedules → {items: Schedule[], total} (ordered by name; with next_fire, last_task_status) */
export const listSchedules = (signal) => request('schedules', { signal });

/** GET /api/schedules/:id → Schedule, with next_fires (the next five) */
export const getSchedule = (scheduleID, signal) => request(`schedules/${id(scheduleID)}`, { signal });

/**
 * POST /api/schedules → Schedule
 * @param {{ name: string, spider_id?: string, spider?: string, cron: string, timezone?: string, mode?: 'any'|'all'|'nodes', node_ids?: string[], params?: string, env?: Record<string, string>, timeout?: number, overlap?: 'skip'|'allow'|'queue', misfire?: 'skip'|'once', enabled?: boolean }} schedule
 */
export const createSchedule = (schedule) => request('schedules', { method: 'POST', body: schedule });

/** PUT /api/schedules/:id with the fields to change (the others stay) → Schedule */
export const updateSchedule = (scheduleID, change) => request(`schedules/${id(scheduleID)}`, { method: 'PUT', body: change });

/** DELETE /api/schedules/:id → nothing (its past tasks stay) */
export const deleteSchedule = (scheduleID) => request(`schedules/${id(scheduleID)}`, { method: 'DELETE' });

/** POST /api/schedules/:id/run → {items: Task[], total}: fires now, whatever the cron and the switch say */
export const runSchedule = (scheduleID) => request(`schedules/${id(scheduleID)}/run`, { method: 'POST' });

/**
 * GET /api/schedules/preview?cron=&timezone= → {next_fires: string[]} (five),
 * or an ApiError (400) whose message says what is wrong with the expression.
 */
export const previewCron = (cron, timezone, signal) =>
  request(`schedules/preview?${new URLSearchParams({ cron, timezone })}`, { signal });

/** GET /api/spiders/:id → Spider (with dedup_keys and dedup) */
export const getSpider = (spiderID, signal) => request(`spiders/${id(spiderID)}`, { signal });

/**
 * PUT /api/spiders/:id, multipart with the fields to change (name, command,
 * env as a JSON object, dedup_keys as a JSON array, dedup, file) → Spider
 * @param {FormData} form
 */
export const updateSpider = (spiderID, form) => request(`spiders/${id(spiderID)}`, { method: 'PUT', body: form, timeoutMs: 10 * 60_000 });

/** GET /api/tasks/:id/items?from=&limit= → {task_id, from, items, total} (items numbered from 0) */
export const getTaskItems = (taskID, from = 0, limit = 1000, signal) =>
  request(`tasks/${id(taskID)}/items?from=${from}&limit=${limit}`, { signal });

/** GET /api/spiders/:id/items?limit=&offset= → {items: [{task_id, n, data, …}], total}: current items, newest first */
export const listSpiderItems = (spiderID, { limit = 100, offset = 0 } = {}, signal) =>
  request(`spiders/${id(spiderID)}/items?limit=${limit}&offset=${offset}`, { signal });

/** The export formats of GET …/items/export?format=. */
export const EXPORT_FORMATS = ['csv', 'json', 'ndjson'];

/**
 * The URL of an export: GET /api/tasks/:id/items/export?format= or
 * /api/spiders/:id/items/export?format=. A link, not a fetch, so the
 * browser streams the file to disk whatever its size; the session cookie
 * goes with it (same origin), so no secret is put in the address.
 * @param {'tasks'|'spiders'} kind
 * @param {string} ownerID
 * @param {string} format one of EXPORT_FORMATS
 */
export function exportURL(kind, ownerID, format) {
  return apiURL(`${kind}/${id(ownerID)}/items/export?${new URLSearchParams({ format })}`);
}

// --- who is signed in: sessions, users, tokens, the audit log ---------------

/**
 * POST /api/auth/login with {username, password} or {token} → {user, role,
 * csrf}; sets the session cookie. A 401 (wrong credentials) and a 429 (too
 * many attempts; ApiError.retryAfter) are for the sign-in form to show.
 * @param {{ username: string, password: string } | { token: string }} credentials
 */
export const login = (credentials, signal) => request('auth/login', { method: 'POST', body: credentials, signal, signIn: true });

/** POST /api/auth/logout → nothing; the session is deleted and the cookie cleared. */
export const logout = () => request('auth/logout', { method: 'POST', signIn: true });

/**
 * GET /api/me → {user, role, kind, token_name?, csrf?}. signIn: a 401 here
 * means "not signed in yet", for the caller to handle.
 */
export const getMe = (signal, { signIn = false } = {}) => request('me', { signal, signIn });

/** GET /api/users (admin) → {items: User[], total} (ordered by username) */
export const listUsers = (signal) => request('users', { signal });

/**
 * POST /api/users (admin) → User
 * @param {{ username: string, password: string, role: string }} user
 */
export const createUser = (user) => request('users', { method: 'POST', body: user });

/**
 * PUT /api/users/:id (admin) with any of {role, password, disabled} → User.
 * 409 when it would leave no enabled admin.
 */
export const updateUser = (userID, change) => request(`users/${id(userID)}`, { method: 'PUT', body: change });

/**
 * PUT /api/me/password → the user: your own new password, with the current
 * one. Your other dashboard sessions end; this one and your tokens do not.
 */
export const changeOwnPassword = (current, password) => request('me/password', { method: 'PUT', body: { current, password } });

/** DELETE /api/users/:id (admin) → nothing; the user's tokens and sessions go too. */
export const deleteUser = (userID) => request(`users/${id(userID)}`, { method: 'DELETE' });

/**
 * GET /api/tokens[?user_id=] → {items: Credential[], total}: your own
 * tokens, or an admin's view of everyone's (user_id filters).
 */
export const listTokens = (filter = {}, signal) => request(withQuery('tokens', filter), { signal });

/**
 * POST /api/tokens {name, role?, expires?} → {token, credential}: the secret
 * is in this answer only.
 * @param {{ name: string, role?: string, expires?: string }} token
 */
export const createToken = (token) => request('tokens', { method: 'POST', body: token });

/** DELETE /api/tokens/:id → nothing; it stops working at once, open WebSockets included. */
export const revokeToken = (tokenID) => request(`tokens/${id(tokenID)}`, { method: 'DELETE' });

/**
 * GET /api/audit (admin) ?action=&user_id=&target=&limit=&offset= →
 * {items: AuditEntry[], total} (newest first)
 * @param {{ action?: string, user_id?: string, target?: string, limit?: number, offset?: number }} filter
 */
export const listAudit = (filter = {}, signal) => request(withQuery('audit', filter), { signal });

/** GET /api/webhooks (admin) → {items: Webhook[], total}; secrets are never listed (has_secret says whether there is one). */
export const listWebhooks = (signal) => request('webhooks', { signal });

/**
 * POST /api/webhooks (admin) → the webhook, with its secret this once.
 * @param {{ name: string, kind?: 'webhook'|'email', url?: string, recipients?: string[], events: string[], spider_ids?: string[], secret?: string, format?: 'json'|'slack', enabled?: boolean }} webhook
 */
export const createWebhook = (webhook) => request('webhooks', { method: 'POST', body: webhook });

/** PUT /api/webhooks/:id (admin): the fields given change, the others stay → the webhook (no secret). */
export const updateWebhook = (webhookID, change) => request(`webhooks/${id(webhookID)}`, { method: 'PUT', body: change });

/** DELETE /api/webhooks/:id (admin): the webhook and its deliveries. */
export const deleteWebhook = (webhookID) => request(`webhooks/${id(webhookID)}`, { method: 'DELETE' });

/** POST /api/webhooks/:id/test (admin) → the test delivery, attempted before the answer (its status says how it went). */
export const testWebhook = (webhookID) => request(`webhooks/${id(webhookID)}/test`, { method: 'POST', timeoutMs: 60_000 });

/** GET /api/webhooks/:id/deliveries?limit= (admin) → {items: Delivery[], total}, newest first. */
export const listDeliveries = (webhookID, limit = 20, signal) => request(withQuery(`webhooks/${id(webhookID)}/deliveries`, { limit }), { signal });
