// The token form, shown instead of any page while the server answers 401.

import { request } from '../lib/api.js';
import { saveToken, tokenFromInput } from '../lib/auth.js';
import { h, replace } from '../lib/dom.js';
import { callout } from '../lib/ui.js';

const REASONS = {
  missing: null,
  rejected: [
    'The saved token was not accepted',
    'crawlhub makes a new token each time it starts unless one is configured. Paste the current one.',
  ],
  'signed-out': ['Signed out', 'The token was removed from this browser.'],
};

/**
 * @param {HTMLElement} view
 * @param {{ reason: 'missing'|'rejected'|'signed-out', onSignedIn: () => void, setTitle: (t: string) => void }} options
 */
export function mount(view, { reason, onSignedIn, setTitle }) {
  setTitle('Sign in');
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'Token or the full login URL',
    'aria-describedby': 'token-help',
  });
  const button = h('button', { class: 'btn btn-primary', type: 'submit' }, 'Sign in');
  const note = REASONS[reason];
  const message = h('div', { class: 'form-message' }, note ? callout('info', ...note) : null);
  let ctrl = null;

  const form = h(
    'form',
    { class: 'login-card card', id: 'token-form', novalidate: true, onsubmit: submit },
    h('h1', null, 'Sign in to crawlhub'),
    h(
      'p',
      { id: 'token-help', class: 'muted' },
      'Paste the access token crawlhub printed when it started: the part after ',
      h('code', null, '?token='),
      ' in the URL it shows, such as ',
      h('code', null, 'http://127.0.0.1:8080/?token=…'),
      '. Opening that URL signs you in too.',
    ),
    message,
    h('label', { for: 'token' }, 'Access token'),
    input,
    h('div', { class: 'form-actions' }, button),
  );
  replace(view, h('div', { class: 'login' }, form));
  input.focus();

  async function submit(e) {
    e.preventDefault();
    const token = tokenFromInput(input.value);
    if (!token) {
      replace(message, callout('error', 'Paste a token first'));
      input.focus();
      return;
    }
    ctrl?.abort();
    ctrl = new AbortController();
    button.disabled = true;
    button.textContent = 'Checking…';
    try {
      // Any authenticated call will do; the node list is cheap.
      await request('nodes', { token, signal: ctrl.signal });
      saveToken(token);
      onSignedIn();
    } catch (err) {
      if (err.name === 'AbortError') return;
      replace(
        message,
        err.status === 401
          ? callout('error', 'This token was not accepted', 'Check that you copied all of it, from the latest start of crawlhub.')
          : callout('error', 'Could not check the token', err.message),
      );
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  }

  return () => ctrl?.abort();
}
