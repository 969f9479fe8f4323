// Hash routing: "#/nodes/65ab" matches the route "/nodes/:id" with
// params {id: "65ab"}. Hash URLs need no server support beyond serving
// index.html at the root, and survive reloads and bookmarks.

/**
 * @typedef {object} Route
 * @property {string} path pattern with ":name" segments, e.g. "/nodes/:id"
 * @property {string} [section] the nav item this route belongs to
 * @property {any} page what the app mounts for it
 */

/**
 * @param {Route[]} routes
 * @returns {(hash: string) => { route: Route, params: Record<string, string> } | null}
 */
export function createMatcher(routes) {
  const compiled = routes.map((route) => ({ route, ...compile(route.path) }));
  return (hash) => {
    const path = normalize(hash);
    for (const { route, re, names } of compiled) {
      const m = re.exec(path);
      if (!m) continue;
      const params = {};
      names.forEach((name, i) => {
        params[name] = safeDecode(m[i + 1]);
      });
      return { route, params };
    }
    return null;
  };
}

/** The path part of a location hash: "#/nodes/x?y" → "/nodes/x"; "" → "/". */
export function normalize(hash) {
  let path = hash.replace(/^#/, '').split('?')[0];
  if (!path.startsWith('/')) path = '/' + path;
  if (path.length > 1) path = path.replace(/\/+$/, '');
  return path;
}

/** The hash for a route path, with each parameter encoded: href('/nodes', id). */
export function href(base, ...segments) {
  return '#' + [base, ...segments.map(encodeURIComponent)].join('/');
}

function compile(pattern) {
  const names = [];
  const source = pattern
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(part.slice(1));
      return '([^/]+)';
    })
    .join('/');
  return { re: new RegExp(`^${source}$`), names };
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The query part of a location hash: "#/tasks?status=running" → URLSearchParams. */
export function hashQuery(hash) {
  const at = hash.indexOf('?');
  return new URLSearchParams(at < 0 ? '' : hash.slice(at + 1));
}

/**
 * A hash with a query, leaving out empty values:
 * withQuery('#/tasks', {status: 'running', node: ''}) → "#/tasks?status=running".
 */
export function withQuery(base, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `${base}?${s}` : base;
}
