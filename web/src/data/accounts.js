// Where the pages get users, API tokens and the audit log from. Each is
// read from REST at once, again after every change made here (refresh()),
// and every 30 s, so another admin's change shows up without a reload. The
// first page of the audit log also follows the admin-only channel "audit":
// an entry that matches the filter reads the page again a moment later
// (several entries share one read). The pure helpers below (expiry choices, a
// token's state, the audit filter in the address) are DOM-free and tested
// under Node.

import { listAudit, listTokens, listUsers } from '../lib/api.js';
import { poll } from '../lib/poll.js';
import { getSocket } from '../lib/ws.js';

/** How often the lists are read again when nothing was changed here. */
export const ACCOUNTS_REFRESH_MS = 30_000;

/** Audit entries on a page. */
export const AUDIT_PAGE_SIZE = 50;

/** How long after an entry on the channel the first page is read again. */
export const AFTER_ENTRY_MS = 500;

/**
 * @typedef {{ stop: () => void, refresh: () => void }} Watcher
 * @typedef {{ onData: (data: any) => void, onError: (err: any) => void }} Handlers
 */

/** Every user (admin): onData({items, total}). @param {Handlers} handlers @returns {Watcher} */
export function watchUsers(handlers) {
  return poll(listUsers, { interval: ACCOUNTS_REFRESH_MS, ...handlers });
}

/**
 * Tokens: your own, or for an admin everyone's (user_id filters):
 * onData({items, total}), sessions and tickets left out.
 * @param {{ user_id?: string }} filter
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchTokens(filter, { onData, onError }) {
  return poll((signal) => listTokens(filter, signal), {
    interval: ACCOUNTS_REFRESH_MS,
    onData(page) {
      const items = (page?.items ?? []).filter(isToken);
      onData({ items, total: items.length });
    },
    onError,
  });
}

/** A named API token (the list may one day hold other kinds of credential). */
export function isToken(cred) {
  return !cred.kind || cred.kind === 'token';
}

/**
 * A page of the audit log (admin), newest first: onData({items, total}).
 * @param {AuditFilter} filter
 * @param {Handlers} handlers
 * @returns {Watcher}
 */
export function watchAudit(filter, handlers) {
  const query = { action: filter.action, user_id: filter.user, limit: AUDIT_PAGE_SIZE, offset: (filter.page - 1) * AUDIT_PAGE_SIZE };
  const poller = poll((signal) => listAudit(query, signal), { interval: ACCOUNTS_REFRESH_MS, ...handlers });
  let soon = 0;
  // Only the first page follows: new entries there are what a person
  // watches for; on an older page they would shift the rows being read.
  const sub =
    filter.page === 1
      ? getSocket().subscribe('audit', {
          onData(entry) {
            if (!auditMatches(entry, filter)) return;
            clearTimeout(soon);
            soon = setTimeout(poller.refresh, AFTER_ENTRY_MS);
          },
          onSubscribed({ resumed }) {
            if (resumed) poller.refresh();
          },
          onError() {
            // Refused (an older server): the 30 s refresh still runs.
          },
        })
      : null;
  return {
    stop() {
      clearTimeout(soon);
      sub?.unsubscribe();
      poller.stop();
    },
    refresh: poller.refresh,
  };
}

/**
 * Whether an entry from the audit channel belongs to the filtered list.
 * @param {{ action?: string, user_id?: string }} entry
 * @param {AuditFilter} filter
 */
export function auditMatches(entry, filter) {
  return Boolean(entry) && (!filter.action || entry.action === filter.action) && (!filter.user || entry.user_id === filter.user);
}

/**
 * @typedef {object} AuditFilter
 * @property {string} action e.g. "task.cancel"; "" for all
 * @property {string} user a user id; "" for everyone
 * @property {number} page from 1
 */

/**
 * The audit filter kept in the address (#/audit?action=&user=&page=).
 * @param {URLSearchParams} q
 * @returns {AuditFilter}
 */
export function auditFilterFromQuery(q) {
  return {
    action: (q.get('action') ?? '').trim(),
    user: (q.get('user') ?? '').trim(),
    page: Math.max(1, Number.parseInt(q.get('page') ?? '1', 10) || 1),
  };
}

/**
 * The actions the audit log records, for the filter's suggestions (the
 * server may add others; any text may be typed).
 */
export const AUDIT_ACTIONS = [
  'auth.login',
  'auth.login_failed',
  'auth.logout',
  'task.run',
  'task.cancel',
  'task.restart',
  'spider.create',
  'spider.update',
  'spider.delete',
  'spider.deploy',
  'schedule.create',
  'schedule.update',
  'schedule.delete',
  'schedule.run',
  'user.create',
  'user.update',
  'user.delete',
  'token.create',
  'token.revoke',
  'webhook.create',
  'webhook.update',
  'webhook.delete',
  'webhook.test',
];

/** The expiry choices of a new token: [value, label, days] (0 days: never). */
export const EXPIRY_CHOICES = [
  ['30d', '30 days', 30],
  ['90d', '90 days', 90],
  ['365d', '1 year', 365],
  ['7d', '7 days', 7],
  ['never', 'Never', 0],
];

/**
 * The expires field of POST /api/tokens for a choice: an RFC 3339 time, or
 * "" for a token that does not expire (the field is then left out).
 * @param {string} choice one of EXPIRY_CHOICES' values
 * @param {number} [now] epoch ms
 */
export function expiryFor(choice, now = Date.now()) {
  const days = EXPIRY_CHOICES.find(([v]) => v === choice)?.[2] ?? 0;
  return days > 0 ? new Date(now + days * 86_400_000).toISOString() : '';
}

/**
 * Whether a token still works by its expiry: "active", "expired" or, in the
 * last 7 days, "expiring".
 * @param {{ expires?: string }} cred
 * @param {number} [now] epoch ms
 */
export function tokenState(cred, now = Date.now()) {
  const at = Date.parse(cred.expires ?? '');
  if (!Number.isFinite(at)) return 'active';
  if (at <= now) return 'expired';
  return at - now < 7 * 86_400_000 ? 'expiring' : 'active';
}

/**
 * Users by id, for naming a token's owner or an audit entry's user.
 * @param {{ id: string, username: string }[]} users
 * @returns {Map<string, string>}
 */
export function usernames(users) {
  return new Map(users.map((u) => [u.id, u.username]));
}
