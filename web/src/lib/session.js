// Who is signed in. The session itself is the HttpOnly cookie
// crawlhub_session, which no script can read: what the dashboard keeps is
// the answer of GET /api/me (or of the sign-in), in memory only — the user,
// their role and the session's CSRF token, which every state-changing
// request sends back as X-CSRF-Token. Nothing about the session is ever
// written to localStorage or sessionStorage, and a token that arrives in
// the address bar (the URL crawlhub prints at start) is taken out of it at
// once and used only to sign in.

/** The roles, lowest first (auth.Rank on the server). */
export const ROLES = ['viewer', 'operator', 'admin'];

/** What each role may do, as the role pickers say it. */
export const ROLE_TEXT = {
  viewer: 'Reads everything: nodes, spiders, tasks, logs, results, schedules',
  operator: 'Also runs, cancels and restarts tasks; uploads, deploys and deletes spiders; manages schedules',
  admin: 'Also manages users, everyone’s tokens and reads the audit log',
};

/** A role's rank, -1 for an unknown one. */
export function rank(role) {
  return ROLES.indexOf(role);
}

/** Whether role may do what needs the role need (auth.Allows). */
export function allows(role, need) {
  const r = rank(role);
  return r >= 0 && r >= rank(need);
}

/** The roles a person with role may give a token: theirs and below. */
export function rolesUpTo(role) {
  const r = rank(role);
  return r < 0 ? [] : ROLES.slice(0, r + 1);
}

/**
 * @typedef {object} Session
 * @property {{ id: string, username: string, role: string, disabled?: boolean }} user
 * @property {string} role the effective role (a token's may be lower than its owner's)
 * @property {string} kind "session", or "token"/"start-token" when a script's credential was used
 * @property {string} csrf the session's anti-forgery token ("" for other kinds)
 */

/** @type {Session | null} */
let current = null;

/** The signed-in session, or null. */
export function session() {
  return current;
}

/**
 * Remember who is signed in, from GET /api/me or POST /api/auth/login
 * ({user, role, csrf, kind?}; a sign-in is always a session).
 */
export function setSession(me) {
  current = me
    ? { user: me.user ?? { id: '', username: '', role: me.role }, role: me.role ?? me.user?.role ?? '', kind: me.kind ?? 'session', csrf: me.csrf ?? '' }
    : null;
}

/** Forget the session (signed out, or the server no longer accepts it). */
export function clearSession() {
  setSession(null);
}

/** The CSRF token to send with POST, PUT, PATCH and DELETE, or "". */
export function csrfToken() {
  return current?.csrf ?? '';
}

/**
 * Whether the signed-in person may do what needs role need ("operator" to
 * run or change things, "admin" for users, everyone's tokens and the audit
 * log). The server decides anyway; the pages use this to leave out what it
 * would refuse.
 */
export function can(need) {
  return current !== null && allows(current.role, need);
}

/**
 * Take a ?token= query parameter out of the address bar without adding a
 * history entry, and return it ("" when there was none). It runs before
 * anything else, so the token never stays in the address bar, the history
 * or a bookmark, whatever the sign-in with it then says.
 */
export function takeTokenFromURL(location = window.location, history = window.history) {
  const url = new URL(location.href);
  if (!url.searchParams.has('token')) return '';
  const token = url.searchParams.get('token').trim();
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return token;
}

/** Where dashboards before sign-in sessions kept the token. */
export const LEGACY_TOKEN_KEY = 'crawlhub.token';

/**
 * Remove the token an older dashboard left in localStorage: the session
 * cookie replaces it, and a long-lived secret should not stay readable by
 * every script of the page.
 */
export function forgetStoredToken(storage = globalThis.localStorage) {
  try {
    storage?.removeItem(LEGACY_TOKEN_KEY);
  } catch {
    // Storage unavailable: nothing could have been kept there either.
  }
}

/**
 * What a person pasted into the token field: the token itself or the whole
 * URL crawlhub printed. Returns the token.
 */
export function tokenFromInput(text) {
  const value = text.trim();
  const match = /[?&]token=([^&#\s]+)/.exec(value);
  if (!match) return value;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return match[1];
  }
}

/**
 * Seconds to wait from a Retry-After header (seconds or an HTTP date), at
 * least 1; 0 when there is none or it cannot be read.
 * @param {string | null} header
 * @param {number} [now] epoch ms
 */
export function retryAfterSeconds(header, now = Date.now()) {
  if (!header) return 0;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Math.max(1, Number(text));
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return 0;
  return Math.max(1, Math.ceil((at - now) / 1000));
}
