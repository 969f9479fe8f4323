// crawlhub dashboard: wires authentication, the router, the nav, the shared
// WebSocket and the pages together. Each page exports mount(view, params,
// ctx) and returns a function that stops whatever it started (timers,
// requests, subscriptions).

import { onUnauthorized } from './lib/api.js';
import { TOKEN_KEY, captureTokenFromURL, clearToken, getToken } from './lib/auth.js';
import { closeDialogs } from './lib/dialog.js';
import { h, replace } from './lib/dom.js';
import { createMatcher } from './lib/router.js';
import { startClock } from './lib/ui.js';
import { getSocket } from './lib/ws.js';
import * as login from './pages/login.js';
import * as node from './pages/node.js';
import * as nodes from './pages/nodes.js';
import * as notFound from './pages/not-found.js';
import * as schedule from './pages/schedule.js';
import * as schedules from './pages/schedules.js';
import * as spider from './pages/spider.js';
import * as spiders from './pages/spiders.js';
import * as task from './pages/task.js';
import * as tasks from './pages/tasks.js';

// Before anything calls the API: the token may arrive in the URL.
captureTokenFromURL();

/** The nav, in order; each section's routes are below. */
const SECTIONS = [
  { id: 'nodes', label: 'Nodes', href: '#/nodes' },
  { id: 'spiders', label: 'Spiders', href: '#/spiders' },
  { id: 'schedules', label: 'Schedules', href: '#/schedules' },
  { id: 'tasks', label: 'Tasks', href: '#/tasks' },
];

const HOME = '#/nodes';

const match = createMatcher([
  { path: '/nodes', section: 'nodes', page: nodes },
  { path: '/nodes/:id', section: 'nodes', page: node },
  { path: '/spiders', section: 'spiders', page: spiders },
  { path: '/spiders/:id', section: 'spiders', page: spider },
  { path: '/schedules', section: 'schedules', page: schedules },
  { path: '/schedules/:id', section: 'schedules', page: schedule },
  { path: '/tasks', section: 'tasks', page: tasks },
  { path: '/tasks/:id', section: 'tasks', page: task },
]);

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const signOut = document.getElementById('sign-out');

const ctx = {
  setTitle(title) {
    document.title = title ? `${title} · crawlhub` : 'crawlhub';
  },
};

let unmount = null;
let locked = false;

function show(mountPage) {
  closeDialogs();
  unmount?.();
  unmount = null;
  view.replaceChildren();
  unmount = mountPage() ?? null;
}

function route() {
  if (locked) return;
  const hash = location.hash;
  if (hash === '' || hash === '#' || hash === '#/') {
    location.replace(HOME); // no extra history entry; fires hashchange
    return;
  }
  const m = match(hash);
  const section = m?.route.section;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  show(() => (m ? m.route.page.mount(view, m.params, ctx) : notFound.mount(view, {}, ctx)));
  window.scrollTo(0, 0);
}

/** Show the token form instead of the page until a token is accepted. */
function lock(reason) {
  if (locked) return;
  locked = true;
  document.body.classList.add('is-locked');
  // No reconnecting with a token the server refuses; resumed on sign-in.
  getSocket().pause();
  show(() => login.mount(view, { reason, onSignedIn: unlock, setTitle: ctx.setTitle }));
}

function unlock() {
  if (!locked) return;
  locked = false;
  document.body.classList.remove('is-locked');
  getSocket().resume();
  route();
}

onUnauthorized(() => lock(getToken() ? 'rejected' : 'missing'));

replace(
  nav,
  SECTIONS.map((s) => h('a', { href: s.href, dataset: { section: s.id } }, s.label)),
);

signOut.addEventListener('click', () => {
  clearToken();
  lock('signed-out');
});

// Signing in in another tab signs in this one.
window.addEventListener('storage', (e) => {
  if (e.key === TOKEN_KEY && e.newValue && locked) unlock();
});

window.addEventListener('hashchange', route);
startClock();
route();
