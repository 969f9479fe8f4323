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
 * A FormData body is sent as multipart/form-data (uploads), anything else
 * as JSON.
 *
 * @param {string} path
 * @param {{ method?: string, body?: any, signal?: AbortSignal, token?: string, timeoutMs?: number }} [options]
 *   token overrides the stored token (used to check a pasted one).
 */
export async function request(path, { method = 'GET', body, signal, token = getToken(), timeoutMs = TIMEOUT_MS } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
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
export const listTasks = (filter = {}, signal) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filter)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return request(qs ? `tasks?${qs}` : 'tasks', { signal });
};

/** GET /api/tasks/:id → Task */
export const getTask = (taskID, signal) => request(`tasks/${id(taskID)}`, { signal });

/** POST /api/tasks/:id/cancel {reason} → Task (the outcome arrives on the tasks channel) */
export const cancelTask = (taskID, reason = '') => request(`tasks/${id(taskID)}/cancel`, { method: 'POST', body: { reason } });

/** POST /api/tasks/:id/restart → the new Task */
export const restartTask = (taskID) => request(`tasks/${id(taskID)}/restart`, { method: 'POST' });

/** GET /api/tasks/:id/log?from=&limit= → {task_id, from, lines, total} */
export const getTaskLog = (taskID, from = 0, limit = 10_000, signal) =>
  request(`tasks/${id(taskID)}/log?from=${from}&limit=${limit}`, { signal });

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
 * /api/spiders/:id/items/export?format=, with the token as ?token= (the
 * server accepts it on every API request). A link, not a fetch, so the
 * browser streams the file to disk whatever its size.
 * @param {'tasks'|'spiders'} kind
 * @param {string} ownerID
 * @param {string} format one of EXPORT_FORMATS
 * @param {string} [token]
 */
export function exportURL(kind, ownerID, format, token = getToken()) {
  const q = new URLSearchParams({ format });
  if (token) q.set('token', token);
  return apiURL(`${kind}/${id(ownerID)}/items/export?${q}`);
}
