// crawlhub dashboard: wires the session, the router, the nav, the shared
// WebSocket and the pages together. Each page exports mount(view, params,
// ctx) and returns a function that stops whatever it started (timers,
// requests, subscriptions).
//
// Signing in: GET /api/me at start says whether the session cookie is
// good; if not, the sign-in page is shown until a sign-in succeeds. The URL
// crawlhub prints (/?token=…) is taken out of the address bar first and
// posted to /api/auth/login, which turns it into a session. A 401 from any
// call, or the WebSocket closed with 4001 when /api/me then says 401, means
// the session ended: the sign-in page again, saying why. (A 4001 after which
// /api/me still answers is a role change: the pages are shown again for the
// new role.)

import { getMe, login, logout, onUnauthorized } from './lib/api.js';
import { watchBus } from './lib/busbanner.js';
import { closeDialogs } from './lib/dialog.js';
import { h, replace } from './lib/dom.js';
import { createMatcher } from './lib/router.js';
import { can, clearSession, forgetStoredToken, session, setSession, takeTokenFromURL } from './lib/session.js';
import { toast } from './lib/toast.js';
import { callout, loading, startClock } from './lib/ui.js';
import { getSocket, onRevoked } from './lib/ws.js';
import * as audit from './pages/audit.js';
import * as forbidden from './pages/forbidden.js';
import * as loginPage from './pages/login.js';
import * as node from './pages/node.js';
import * as nodes from './pages/nodes.js';
import * as notFound from './pages/not-found.js';
import * as overview from './pages/overview.js';
import * as schedule from './pages/schedule.js';
import * as schedules from './pages/schedules.js';
import * as spider from './pages/spider.js';
import * as spiders from './pages/spiders.js';
import * as task from './pages/task.js';
import * as tasks from './pages/tasks.js';
import * as tokens from './pages/tokens.js';
import * as users from './pages/users.js';
import * as webhooks from './pages/webhooks.js';
import { changePasswordDialog } from './pages/password.js';

// Before anything else: a token in the address bar leaves it at once, and
// one an older dashboard kept in storage goes too.
const linkToken = takeTokenFromURL();
forgetStoredToken();

/** The nav, in order; need is the role a section is offered to (default: everyone). */
const SECTIONS = [
  { id: 'overview', label: 'Overview', href: '#/overview' },
  { id: 'nodes', label: 'Nodes', href: '#/nodes' },
  { id: 'spiders', label: 'Spiders', href: '#/spiders' },
  { id: 'schedules', label: 'Schedules', href: '#/schedules' },
  { id: 'tasks', label: 'Tasks', href: '#/tasks' },
  { id: 'tokens', label: 'Tokens', href: '#/tokens' },
  { id: 'users', label: 'Users', href: '#/users', need: 'admin' },
  { id: 'webhooks', label: 'Alerts', href: '#/webhooks', need: 'admin' },
  { id: 'audit', label: 'Audit', href: '#/audit', need: 'admin' },
];

const HOME = '#/overview';

const match = createMatcher([
  { path: '/overview', section: 'overview', page: overview },
  { path: '/nodes', section: 'nodes', page: nodes },
  { path: '/nodes/:id', section: 'nodes', page: node },
  { path: '/spiders', section: 'spiders', page: spiders },
  { path: '/spiders/:id', section: 'spiders', page: spider },
  { path: '/schedules', section: 'schedules', page: schedules },
  { path: '/schedules/:id', section: 'schedules', page: schedule },
  { path: '/tasks', section: 'tasks', page: tasks },
  { path: '/tasks/:id', section: 'tasks', page: task },
  { path: '/tokens', section: 'tokens', page: tokens },
  { path: '/users', section: 'users', page: users, need: 'admin' },
  { path: '/webhooks', section: 'webhooks', page: webhooks, need: 'admin' },
  { path: '/audit', section: 'audit', page: audit, need: 'admin' },
]);

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const account = document.getElementById('account');
const signOutButton = document.getElementById('sign-out');

const ctx = {
  setTitle(title) {
    document.title = title ? `${title} · crawlhub` : 'crawlhub';
  },
};

/** starting (asking the server), signed-in, or signed-out (the sign-in page). */
let phase = 'starting';
let unmount = null;
/** Stops the cluster bus banner (lib/busbanner.js) while signed in. */
let unwatchBus = null;

// Other tabs of the dashboard say when they sign in or out (no secret
// travels: each tab asks the server who it is).
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('crawlhub.session') : null;

function show(mountPage) {
  closeDialogs();
  unmount?.();
  unmount = null;
  view.replaceChildren();
  unmount = mountPage() ?? null;
}

function route() {
  if (phase !== 'signed-in') return;
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
  show(() => {
    if (!m) return notFound.mount(view, {}, ctx);
    if (m.route.need && !can(m.route.need)) return forbidden.mount(view, { need: m.route.need }, ctx);
    return m.route.page.mount(view, m.params, ctx);
  });
  window.scrollTo(0, 0);
}

/** Signed in (from the sign-in page, the start, or another tab): show the pages this role may use. */
function signedIn(me) {
  const before = session();
  setSession(me);
  phase = 'signed-in';
  document.body.classList.remove('is-locked');
  renderTopbar();
  const socket = getSocket();
  if (before && (before.user.id !== me.user?.id || before.role !== me.role)) {
    // Someone else now (signed in in another tab), or a new role: an
    // open connection still acts as before. Close the pages, then reconnect.
    show(() => null);
    socket.pause();
  }
  socket.resume();
  unwatchBus ??= watchBus(socket, view);
  route();
}

/** Show the sign-in page instead of any page, saying why, until someone signs in. */
function showSignIn(reason) {
  if (phase === 'signed-out') return;
  phase = 'signed-out';
  clearSession();
  unwatchBus?.();
  unwatchBus = null;
  document.body.classList.add('is-locked');
  // No reconnecting with a session the server refuses; resumed on sign-in.
  getSocket().pause();
  renderTopbar();
  show(() =>
    loginPage.mount(view, {
      reason,
      setTitle: ctx.setTitle,
      onSignedIn(me) {
        signedIn(me);
        tabs?.postMessage('signed-in');
      },
    }),
  );
}

function renderTopbar() {
  const s = session();
  replace(
    nav,
    s ? SECTIONS.filter((sec) => !sec.need || can(sec.need)).map((sec) => h('a', { href: sec.href, dataset: { section: sec.id } }, sec.label)) : null,
  );
  replace(
    account,
    s
      ? [
          h(
            'button',
            {
              class: 'account-name',
              id: 'account-name',
              type: 'button',
              title: s.kind === 'session' ? 'Change your password' : `Signed in with ${s.kind}; change your password`,
              onclick: changePasswordDialog,
            },
            s.user.username,
          ),
          h('span', { class: `badge role-badge role-${s.role}`, id: 'account-role', dataset: { role: s.role } }, s.role),
        ]
      : null,
  );
}

async function signOut() {
  signOutButton.disabled = true;
  getSocket().pause();
  try {
    await logout();
  } catch (err) {
    if (err.status !== 401) {
      // The session may still be good on the server: do not pretend otherwise.
      getSocket().resume();
      toast('Could not sign out', { kind: 'error', detail: err.message });
      return;
    }
  } finally {
    signOutButton.disabled = false;
  }
  showSignIn('signed-out');
  tabs?.postMessage('signed-out');
}

/** Who is signed in at start: the link's token, else the session cookie, else nobody. */
async function start() {
  phase = 'starting';
  document.body.classList.add('is-locked');
  show(() => {
    replace(view, h('section', { class: 'card' }, loading('Signing in…')));
  });
  if (linkToken) {
    try {
      signedIn(await login({ token: linkToken }));
      tabs?.postMessage('signed-in');
      return;
    } catch (err) {
      if (err.status !== 401) return startFailed(err);
    }
    // Refused (an old link, a revoked token): a session this browser
    // already has still counts.
    try {
      const me = await getMe(undefined, { signIn: true });
      signedIn(me);
      toast('The sign-in link was not accepted', { kind: 'error', detail: `You are still signed in as ${me.user.username}.` });
    } catch {
      showSignIn('link-rejected');
    }
    return;
  }
  try {
    signedIn(await getMe(undefined, { signIn: true }));
  } catch (err) {
    if (err.status === 401) showSignIn('missing');
    else startFailed(err);
  }
}

function startFailed(err) {
  ctx.setTitle('Cannot reach crawlhub');
  replace(
    view,
    h(
      'div',
      { class: 'login' },
      h(
        'div',
        { class: 'login-card card' },
        callout('error', err.status === 429 ? 'Too many sign-in attempts' : 'Could not reach crawlhub', err.status === 429 ? `Try again in ${err.retryAfter || 30} s.` : err.message),
        h('div', { class: 'form-actions' }, h('button', { class: 'btn btn-primary', type: 'button', id: 'start-retry', onclick: start }, 'Try again')),
      ),
    ),
  );
}

onUnauthorized(() => showSignIn('expired'));
onRevoked(async () => {
  if (phase !== 'signed-in') return;
  // 4001 also closes the connections of a user whose role was lowered: their
  // session still works, at the new role. Ask before sending them away.
  let me;
  try {
    me = await getMe(undefined, { signIn: true });
  } catch (err) {
    if (err.status === 401) showSignIn('revoked');
    else getSocket().resume(); // the server is away: the socket's own retries tell
    return;
  }
  if (phase !== 'signed-in') return;
  const before = session();
  if (before?.user.id === me.user?.id && before?.role === me.role) {
    setSession(me);
    getSocket().resume();
    return;
  }
  if (before?.user.id === me.user?.id) {
    toast(`You are now ${me.role === 'admin' ? 'an' : 'a'} ${me.role}`, { kind: 'info', detail: 'An admin changed your role: the dashboard shows what it may do.' });
  }
  signedIn(me);
});
signOutButton.addEventListener('click', signOut);

tabs?.addEventListener('message', async (e) => {
  if (e.data === 'signed-out') {
    showSignIn('signed-out');
    return;
  }
  if (e.data !== 'signed-in' || phase === 'starting') return;
  // The other tab's sign-in replaced the cookie: this tab's CSRF token
  // belongs to the old session. Ask who is signed in now.
  try {
    const me = await getMe(undefined, { signIn: true });
    const before = session();
    if (phase !== 'signed-in' || before?.user.id !== me.user?.id || before?.role !== me.role) signedIn(me);
    else setSession(me);
  } catch {
    // The next call says what is wrong.
  }
});

window.addEventListener('hashchange', route);
startClock();
start();
