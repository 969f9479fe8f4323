// #/tokens — API tokens, for scripts and the CLI (Authorization: Bearer …).
// Everyone manages their own: create one (a name, a role up to their own,
// an expiry), see when each was last used, revoke it. The secret is shown
// once, right after it is made, with a copy button: the server keeps only
// a hash. An admin sees everyone's, with the owner, and may filter by user
// (#/tokens?user=<id>).

import { EXPIRY_CHOICES, expiryFor, tokenState, usernames, watchTokens } from '../data/accounts.js';
import { createToken, listUsers, revokeToken } from '../lib/api.js';
import { confirmDialog, field, fieldError, openDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { hashQuery, withQuery } from '../lib/router.js';
import { can, rolesUpTo, session } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { callout, emptyState, errorBox, freshness, loading, pageHeader, timeAgo } from '../lib/ui.js';
import { roleBadge, roleSelect } from './users.js';

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('API tokens');
  const admin = can('admin');
  const me = session();
  let owner = admin ? (hashQuery(location.hash).get('user') ?? '') : '';

  const subtitle = h('span', null, '\u00a0');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, loading('Loading tokens…'));
  const newButton = h('button', { class: 'btn btn-primary', type: 'button', id: 'new-token', onclick: () => createDialog() }, '+ New token');
  const ownerSelect = h('select', { id: 'filter-owner', name: 'owner' }, h('option', { value: '' }, 'Everyone'));
  const filters = admin
    ? h('div', { class: 'filters', role: 'search', 'aria-label': 'Filter tokens' }, h('label', { class: 'filter', for: 'filter-owner' }, h('span', { class: 'filter-label' }, 'Owner'), ownerSelect))
    : null;
  replace(
    view,
    pageHeader({ title: 'API tokens', subtitle, actions: [status.el, newButton] }),
    h(
      'p',
      { class: 'muted page-intro' },
      'A token lets a script or the CLI use the API as ',
      admin ? 'its owner' : 'you',
      ': send it as ',
      h('code', null, 'Authorization: Bearer <token>'),
      '. Its role can be lower than ',
      admin ? 'its owner’s' : 'yours',
      '. Revoke one you no longer need: it stops working at once.',
    ),
    filters,
    banner,
    h('section', { class: 'card' }, body),
  );

  /** @type {Map<string, string>} */
  let names = new Map();
  let shown = null;
  let highlight = '';
  let lastItems = null;
  let watcher = null;
  const ctrl = new AbortController();

  if (admin) {
    listUsers(ctrl.signal)
      .then((page) => {
        const users = page?.items ?? [];
        names = usernames(users);
        if (owner && !names.has(owner)) names.set(owner, owner);
        replace(ownerSelect, h('option', { value: '' }, 'Everyone'), [...names].map(([id, name]) => h('option', { value: id }, name)));
        ownerSelect.value = owner;
        if (lastItems) render(lastItems, true);
      })
      .catch(() => {});
    ownerSelect.addEventListener('change', () => {
      owner = ownerSelect.value;
      history.replaceState(history.state, '', withQuery('#/tokens', { user: owner }));
      shown = null;
      replace(body, loading('Loading tokens…'));
      start();
    });
  }

  start();

  function start() {
    watcher?.stop();
    watcher = watchTokens(owner ? { user_id: owner } : {}, {
      onData({ items }) {
        status.ok();
        replace(banner);
        render(items);
      },
      onError(err) {
        if (err.status === 401) return;
        status.failed();
        if (shown === null) replace(body, errorBox('Could not load the tokens', err));
        else replace(banner, errorBox('Could not refresh the tokens; showing the last known list', err));
      },
    });
  }

  function render(items, force = false) {
    lastItems = items;
    subtitle.textContent = items.length === 1 ? '1 token' : `${items.length} tokens`;
    const json = JSON.stringify(items) + highlight;
    if (json === shown && !force) return;
    shown = json;
    replace(body, items.length ? tokenTable(items) : noTokens());
    if (highlight) {
      body.querySelector(`tr[data-token-id="${CSS.escape(highlight)}"]`)?.classList.add('is-new');
      highlight = '';
    }
  }

  function noTokens() {
    return emptyState(
      owner ? 'No tokens of this user' : 'No tokens yet',
      h('p', null, 'Make one for each script, so each can be revoked on its own.'),
      h('button', { class: 'btn btn-primary', type: 'button', onclick: () => createDialog() }, 'Create a token'),
    );
  }

  function tokenTable(items) {
    const heads = ['Name', admin ? 'Owner' : null, 'Role', 'Created', 'Last used', 'Expires'].filter(Boolean);
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', id: 'tokens-table' },
        h(
          'thead',
          null,
          h('tr', null, heads.map((t) => h('th', { scope: 'col' }, t)), h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions'))),
        ),
        h('tbody', null, items.map(tokenRow)),
      ),
    );
  }

  function tokenRow(c) {
    const state = tokenState(c);
    const mine = c.user_id === me?.user.id;
    return h(
      'tr',
      { dataset: { tokenId: c.id, tokenName: c.name ?? '', state } },
      h('td', null, h('strong', null, c.name || '(unnamed)')),
      admin ? h('td', { dataset: { field: 'owner' } }, names.get(c.user_id) ?? c.user_id, mine ? h('span', { class: 'muted small' }, ' (you)') : null) : null,
      h('td', null, roleBadge(c.role)),
      h('td', { class: 'nowrap' }, timeAgo(c.created)),
      h('td', { class: 'nowrap', dataset: { field: 'last-used' } }, c.last_used ? timeAgo(c.last_used) : h('span', { class: 'muted' }, 'never')),
      h('td', { class: 'nowrap', dataset: { field: 'expires' } }, expires(c, state)),
      h(
        'td',
        { class: 'actions' },
        h('button', { class: 'btn btn-small btn-danger-outline', type: 'button', dataset: { action: 'revoke' }, onclick: () => revoke(c) }, 'Revoke'),
      ),
    );
  }

  function createDialog() {
    const name = h('input', { id: 'token-name', name: 'name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. nightly-report' });
    const role = roleSelect('token-role', me?.role ?? 'viewer', rolesUpTo(me?.role ?? 'viewer'));
    const expiry = h('select', { id: 'token-expiry', name: 'expiry' }, EXPIRY_CHOICES.map(([value, label]) => h('option', { value }, label)));
    const d = openDialog({
      id: 'token-dialog',
      title: 'New API token',
      description: 'It acts as you, with the role you choose here (never more than yours).',
      body: [
        field('Name', name, 'Say what uses it, so you know what breaks if you revoke it.'),
        h('div', { class: 'form-row' }, field('Role', role.el, role.help), field('Expires', expiry, 'It stops working then.')),
      ],
      submitLabel: 'Create token',
      errorTitle: 'The token was not created',
      onSubmit() {
        if (!name.value.trim()) throw fieldError(name, 'Give the token a name.');
        const req = { name: name.value.trim(), role: role.input.value };
        const at = expiryFor(expiry.value);
        if (at) req.expires = at;
        return createToken(req);
      },
    });
    d.done.then((res) => {
      if (!res) return;
      showSecret(res.token, res.credential);
      highlight = res.credential?.id ?? '';
      watcher.refresh();
    });
  }

  async function revoke(c) {
    const whose = admin && c.user_id !== me?.user.id ? ` of ${names.get(c.user_id) ?? 'another user'}` : '';
    const ok = await confirmDialog({
      id: 'revoke-dialog',
      title: `Revoke ${c.name || 'this token'}${whose}?`,
      message: 'Whatever uses it gets “401 Unauthorized” from now on, and its open WebSocket connections are closed. This cannot be undone: make a new token if it is needed again.',
      confirmLabel: 'Revoke token',
      danger: true,
      onConfirm: () => revokeToken(c.id),
    });
    if (!ok) return;
    toast(`Revoked ${c.name || 'the token'}`);
    watcher.refresh();
  }

  return () => {
    ctrl.abort();
    watcher?.stop();
  };
}

function expires(c, state) {
  if (!c.expires) return h('span', { class: 'muted' }, 'never');
  if (state === 'expired') return h('span', { class: 'badge badge-bad', title: dateTime(c.expires) }, 'Expired');
  return h('span', { class: state === 'expiring' ? 'expiring' : null, title: dateTime(c.expires) }, dateTime(c.expires));
}

/**
 * The new token's secret, once: a warning, the secret in a read-only field
 * and a copy button. Closing the dialog removes it from the page.
 */
function showSecret(secret, cred) {
  const input = h('input', { id: 'token-secret', type: 'text', readonly: true, value: secret, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'token-secret-help', onfocus: (e) => e.currentTarget.select() });
  const copied = h('span', { class: 'muted small', 'aria-live': 'polite', id: 'copy-state' });
  const copy = h('button', { class: 'btn', type: 'button', id: 'copy-token', onclick: () => copyText() }, 'Copy');
  openDialog({
    id: 'token-secret-dialog',
    title: `Token ${cred?.name ?? ''} created`,
    body: [
      callout('warning', 'Copy it now: it is shown only this once', 'crawlhub keeps only a hash of it. If it is lost, revoke it and make a new one.'),
      h('div', { class: 'field' }, h('label', { for: 'token-secret' }, 'Token'), h('div', { class: 'copy-row' }, input, copy), h('div', { class: 'help', id: 'token-secret-help' }, 'Send it as ', h('code', null, 'Authorization: Bearer <token>'), '. ', copied)),
    ],
    cancelLabel: 'Done',
  });
  input.focus();

  async function copyText() {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      // No clipboard API (a page served over plain HTTP from another host):
      // the older way still works while the field is selected.
      input.select();
      if (!document.execCommand('copy')) {
        copied.textContent = 'Could not copy: select the token and copy it yourself.';
        return;
      }
    }
    copied.textContent = 'Copied.';
  }
}
