// #/audit (admin) — who did what, newest first: runs and cancels, spider
// and schedule changes, users, tokens, sign-ins (failed ones too). Filters
// by action and by user, 50 a page; the filters live in the address
// (#/audit?action=task.cancel&user=…&page=2).

import { AUDIT_ACTIONS, AUDIT_PAGE_SIZE, auditFilterFromQuery, usernames, watchAudit } from '../data/accounts.js';
import { listUsers } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { hashQuery, withQuery } from '../lib/router.js';
import { emptyState, errorBox, freshness, loading, pageHeader, timeAgo } from '../lib/ui.js';

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Audit log');
  const state = auditFilterFromQuery(hashQuery(location.hash));

  const subtitle = h('span', null, '\u00a0');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const action = h('input', { id: 'filter-action', name: 'action', type: 'text', list: 'audit-actions', autocomplete: 'off', spellcheck: 'false', placeholder: 'All actions', value: state.action });
  const actions = h('datalist', { id: 'audit-actions' }, AUDIT_ACTIONS.map((a) => h('option', { value: a })));
  const user = h('select', { id: 'filter-user', name: 'user' }, h('option', { value: '' }, 'Everyone'));
  const clear = h('button', { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => setFilter({ action: '', user: '' }) }, 'Clear filters');
  const filters = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': 'Filter the audit log', onsubmit: (e) => { e.preventDefault(); if (action.value.trim() !== state.action) setFilter({ action: action.value.trim() }); } },
    h('label', { class: 'filter', for: 'filter-action' }, h('span', { class: 'filter-label' }, 'Action'), action, actions),
    h('label', { class: 'filter', for: 'filter-user' }, h('span', { class: 'filter-label' }, 'User'), user),
    clear,
  );
  const body = h('div', null, loading('Loading the audit log…'));
  const pager = h('div', { class: 'pager' });
  replace(view, pageHeader({ title: 'Audit log', subtitle, actions: status.el }), filters, banner, h('section', { class: 'card' }, body), pager);

  // A picked suggestion or a typed action applies on change (Enter or leaving the field).
  action.addEventListener('change', () => {
    if (action.value.trim() !== state.action) setFilter({ action: action.value.trim() });
  });
  user.addEventListener('change', () => setFilter({ user: user.value }));

  let names = new Map();
  let loaded = false;
  let last = null;
  let watcher = null;
  const ctrl = new AbortController();
  listUsers(ctrl.signal)
    .then((page) => {
      names = usernames(page?.items ?? []);
      const options = [...names];
      if (state.user && !names.has(state.user)) options.push([state.user, state.user]);
      replace(user, h('option', { value: '' }, 'Everyone'), options.map(([id, name]) => h('option', { value: id }, name)));
      user.value = state.user;
    })
    .catch(() => {});
  start();

  function start() {
    watcher?.stop();
    loaded = false;
    clear.hidden = !(state.action || state.user);
    watcher = watchAudit(state, {
      onData(page) {
        status.ok();
        replace(banner);
        const items = page?.items ?? [];
        const total = page?.total ?? items.length;
        if (!items.length && total > 0 && state.page > 1) {
          // Fewer entries than the page needs (retention removed some): the last page.
          setFilter({ page: Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE)) });
          return;
        }
        const json = JSON.stringify(page);
        if (json === last) return;
        last = json;
        loaded = true;
        render(items, total);
      },
      onError(err) {
        if (err.status === 401) return;
        status.failed();
        if (!loaded) replace(body, errorBox('Could not load the audit log', err));
        else replace(banner, errorBox('Could not refresh the audit log; showing the last known entries', err));
      },
    });
  }

  function setFilter(change) {
    Object.assign(state, { page: 1 }, change);
    action.value = state.action;
    user.value = state.user;
    history.replaceState(history.state, '', withQuery('#/audit', { action: state.action, user: state.user, page: state.page > 1 ? state.page : '' }));
    last = null;
    replace(body, loading('Loading the audit log…'));
    start();
  }

  function render(items, total) {
    const filtered = state.action || state.user;
    subtitle.textContent = `${total.toLocaleString()} ${total === 1 ? 'entry' : 'entries'}${filtered ? (total === 1 ? ' matches the filters' : ' match the filters') : ''}`;
    if (!items.length) {
      replace(body, emptyState(state.action || state.user ? 'No entries match these filters' : 'Nothing recorded yet', h('p', null, 'Sign-ins, runs, cancels and changes appear here as they happen.')));
      replace(pager);
      return;
    }
    replace(
      body,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table', id: 'audit-table' },
          h('thead', null, h('tr', null, ['When', 'Who', 'Action', 'Target', 'Detail', 'Address'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', null, items.map(entryRow)),
        ),
      ),
    );
    renderPager(items.length, total);
  }

  function entryRow(e) {
    return h(
      'tr',
      { dataset: { entryId: e.id, action: e.action } },
      h('td', { class: 'nowrap', title: dateTime(e.time) }, timeAgo(e.time)),
      h(
        'td',
        null,
        e.user_id
          ? h('a', { href: withQuery('#/audit', { user: e.user_id }), title: `Everything ${names.get(e.user_id) ?? 'this user'} did`, onclick: (ev) => { ev.preventDefault(); setFilter({ user: e.user_id }); } }, e.actor || names.get(e.user_id) || e.user_id)
          : e.actor || h('span', { class: 'muted' }, '–'),
      ),
      h(
        'td',
        null,
        h('a', { href: withQuery('#/audit', { action: e.action }), class: 'mono', title: `Every ${e.action}`, onclick: (ev) => { ev.preventDefault(); setFilter({ action: e.action }); } }, e.action),
      ),
      h('td', { class: 'mono small' }, e.target || ''),
      h('td', { class: 'audit-detail' }, e.detail || ''),
      h('td', { class: 'mono small muted' }, e.address || ''),
    );
  }

  function renderPager(count, total) {
    const pages = Math.max(1, Math.ceil(total / AUDIT_PAGE_SIZE));
    if (pages === 1 && state.page === 1) {
      replace(pager);
      return;
    }
    const first = (state.page - 1) * AUDIT_PAGE_SIZE;
    replace(
      pager,
      h('span', { class: 'muted' }, `${(first + 1).toLocaleString()}–${(first + count).toLocaleString()} of ${total.toLocaleString()}`),
      h(
        'div',
        { class: 'pager-buttons' },
        h('button', { class: 'btn btn-small', type: 'button', id: 'audit-newer', disabled: state.page <= 1, onclick: () => setFilter({ ...state, page: state.page - 1 }) }, '‹ Newer'),
        h('span', { class: 'muted small' }, `Page ${state.page} of ${pages}`),
        h('button', { class: 'btn btn-small', type: 'button', id: 'audit-older', disabled: state.page >= pages, onclick: () => setFilter({ ...state, page: state.page + 1 }) }, 'Older ›'),
      ),
    );
  }

  return () => {
    ctrl.abort();
    watcher?.stop();
  };
}
