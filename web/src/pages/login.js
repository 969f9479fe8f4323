// The sign-in page, shown instead of any page while nobody is signed in:
// a username and a password, or (folded away) an access token or the URL
// crawlhub printed at start. Either becomes a session: an HttpOnly cookie
// the dashboard cannot read, so no secret is kept in the browser's storage.

import { login } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { tokenFromInput } from '../lib/session.js';
import { callout } from '../lib/ui.js';

/** Why the page is shown: its note above the form. */
const REASONS = {
  missing: null,
  'signed-out': ['info', 'Signed out', 'Your session in this browser has ended.'],
  expired: ['warning', 'Please sign in again', 'The server no longer accepts your session: it expired, you signed out in another tab, or an administrator changed your account.'],
  revoked: ['warning', 'Your session was ended', 'It was signed out or revoked, or your account was disabled. Sign in again to continue.'],
  'link-rejected': ['error', 'The sign-in link was not accepted', 'Its token may be from an earlier start of crawlhub, or revoked. Sign in with your username and password, or paste the current token below.'],
};

/**
 * @param {HTMLElement} view
 * @param {{ reason: keyof REASONS, onSignedIn: (me: any) => void, setTitle: (t: string) => void }} options
 */
export function mount(view, { reason, onSignedIn, setTitle }) {
  setTitle('Sign in');
  const note = REASONS[reason];
  const message = h('div', { class: 'form-message', id: 'login-message' }, note ? callout(...note) : null);

  const username = h('input', { id: 'username', name: 'username', type: 'text', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true });
  const password = h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in');
  const passwordForm = h(
    'form',
    { id: 'login-form', novalidate: true, onsubmit: (e) => send(e, passwordCredentials, submit) },
    h('div', { class: 'field' }, h('label', { for: 'username' }, 'Username'), username),
    h('div', { class: 'field' }, h('label', { for: 'password' }, 'Password'), password),
    h('div', { class: 'form-actions' }, submit),
  );

  const token = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'Token or the full URL',
    'aria-describedby': 'token-help',
  });
  const tokenSubmit = h('button', { class: 'btn', type: 'submit' }, 'Sign in with the token');
  const tokenForm = h(
    'form',
    { id: 'token-form', novalidate: true, onsubmit: (e) => send(e, tokenCredentials, tokenSubmit) },
    h(
      'p',
      { id: 'token-help', class: 'muted small' },
      'The URL crawlhub printed when it started signs in as ',
      h('code', null, 'admin'),
      ' when opened. You can also paste it here, or an API token.',
    ),
    h('label', { for: 'token', class: 'visually-hidden' }, 'Access token'),
    token,
    h('div', { class: 'form-actions' }, tokenSubmit),
  );
  const tokenPart = h('details', { class: 'login-token', open: reason === 'link-rejected' }, h('summary', null, 'Sign in with an access token'), tokenForm);

  replace(
    view,
    h(
      'div',
      { class: 'login' },
      h('div', { class: 'login-card card' }, h('h1', null, 'Sign in to crawlhub'), message, passwordForm, tokenPart),
    ),
  );
  (reason === 'link-rejected' ? token : username).focus();

  let ctrl = null;
  let waitTimer = 0;
  let waitUntil = 0;

  function passwordCredentials() {
    if (!username.value.trim()) return [username, 'Enter your username.'];
    if (!password.value) return [password, 'Enter your password.'];
    return { username: username.value.trim(), password: password.value };
  }

  function tokenCredentials() {
    const t = tokenFromInput(token.value);
    if (!t) return [token, 'Paste a token or the URL crawlhub printed first.'];
    return { token: t };
  }

  async function send(e, credentials, button) {
    e.preventDefault();
    if (Date.now() < waitUntil) return;
    const body = credentials();
    if (Array.isArray(body)) {
      const [input, text] = body;
      replace(message, callout('error', text));
      input.focus();
      return;
    }
    ctrl?.abort();
    ctrl = new AbortController();
    const label = button.textContent;
    setBusy(true);
    button.textContent = 'Signing in…';
    try {
      const me = await login(body, ctrl.signal);
      onSignedIn(me);
      return;
    } catch (err) {
      if (err.name === 'AbortError') return;
      if (err.status === 401) {
        replace(
          message,
          'token' in body
            ? callout('error', 'This token was not accepted', 'Check that you copied all of it, from the latest start of crawlhub, and that it was not revoked.')
            : callout('error', 'Wrong username or password', 'Check both and try again. Ask an administrator if you forgot your password.'),
        );
        ('token' in body ? token : password).select();
      } else if (err.status === 429) {
        throttled(err.retryAfter || 30);
      } else {
        replace(message, callout('error', 'Could not sign in', err.message));
      }
    } finally {
      button.textContent = label;
      if (Date.now() >= waitUntil) setBusy(false);
    }
  }

  function setBusy(busy) {
    submit.disabled = busy;
    tokenSubmit.disabled = busy;
  }

  /** Too many attempts: say how long to wait, counting down, and keep the buttons off until then. */
  function throttled(seconds) {
    waitUntil = Date.now() + seconds * 1000;
    const text = h('p', { class: 'callout-message', id: 'login-wait' });
    replace(message, callout('error', 'Too many sign-in attempts', null, text));
    setBusy(true);
    clearInterval(waitTimer);
    const tick = () => {
      const left = Math.ceil((waitUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(waitTimer);
        text.textContent = 'You can try again now.';
        setBusy(false);
        return;
      }
      text.textContent = `Try again in ${left} s.`;
    };
    tick();
    waitTimer = setInterval(tick, 1000);
  }

  return () => {
    ctrl?.abort();
    clearInterval(waitTimer);
  };
}
