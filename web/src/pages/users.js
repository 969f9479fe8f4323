// #/users (admin) — who may sign in, and with which role: create a user,
// change a role, set a new password, disable or enable, delete (asks
// first). The server keeps at least one enabled admin and says so (409)
// when a change would leave none; the message is shown where it was made.

import { watchUsers } from '../data/accounts.js';
import { createUser, deleteUser, updateUser } from '../lib/api.js';
import { confirmDialog, field, fieldError, openDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { ROLES, ROLE_TEXT, session } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { emptyState, errorBox, freshness, loading, pageHeader, timeAgo } from '../lib/ui.js';

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Users');
  const subtitle = h('span', null, '\u00a0');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, loading('Loading users…'));
  const newButton = h('button', { class: 'btn btn-primary', type: 'button', id: 'new-user', onclick: () => createDialog() }, '+ New user');
  replace(view, pageHeader({ title: 'Users', subtitle, actions: [status.el, newButton] }), banner, h('section', { class: 'card' }, body));

  let shown = null;
  let highlight = '';
  const me = session()?.user.id ?? '';
  const watcher = watchUsers({
    onData(page) {
      status.ok();
      replace(banner);
      const items = page?.items ?? [];
      subtitle.textContent = items.length === 1 ? '1 user' : `${items.length} users`;
      const json = JSON.stringify(items) + highlight;
      if (json === shown) return;
      shown = json;
      replace(body, items.length ? userTable(items) : emptyState('No users', h('p', null, 'Create one to let a colleague sign in.')));
      if (highlight) {
        body.querySelector(`tr[data-user-id="${CSS.escape(highlight)}"]`)?.classList.add('is-new');
        highlight = '';
      }
    },
    onError(err) {
      if (err.status === 401) return;
      status.failed();
      if (shown === null) replace(body, errorBox('Could not load the users', err));
      else replace(banner, errorBox('Could not refresh the users; showing the last known list', err));
    },
  });

  function userTable(users) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', id: 'users-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Username', 'Role', 'Status', 'Created'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
          ),
        ),
        h('tbody', null, users.map(userRow)),
      ),
    );
  }

  function userRow(u) {
    const self = u.id === me;
    return h(
      'tr',
      { dataset: { userId: u.id, username: u.username, role: u.role, disabled: String(!!u.disabled) } },
      h('td', null, h('strong', null, u.username), self ? h('span', { class: 'muted small' }, ' (you)') : null),
      h('td', { dataset: { field: 'role' } }, roleBadge(u.role)),
      h(
        'td',
        { dataset: { field: 'status' } },
        u.disabled
          ? h('span', { class: 'badge badge-bad', title: 'Cannot sign in; their tokens do not work' }, 'Disabled')
          : h('span', { class: 'badge badge-ok' }, 'Active'),
      ),
      h('td', { class: 'nowrap' }, timeAgo(u.created)),
      h(
        'td',
        { class: 'actions' },
        h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'role' }, onclick: () => roleDialog(u) }, 'Role'),
        h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'password' }, onclick: () => passwordDialog(u) }, 'Set password'),
        u.disabled
          ? h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'enable' }, onclick: (e) => enable(u, e.currentTarget) }, 'Enable')
          : h('button', { class: 'btn btn-small btn-danger-outline', type: 'button', dataset: { action: 'disable' }, onclick: () => disable(u) }, 'Disable'),
        h('button', { class: 'btn btn-small btn-ghost btn-danger-text', type: 'button', dataset: { action: 'delete' }, onclick: () => remove(u) }, 'Delete'),
      ),
    );
  }

  function createDialog() {
    const username = h('input', { id: 'user-name', name: 'username', type: 'text', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false' });
    const password = h('input', { id: 'user-password', name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
    const role = roleSelect('user-role', 'viewer');
    const d = openDialog({
      id: 'user-dialog',
      title: 'New user',
      description: 'They sign in with this username and password. Tell them the password another way than the username.',
      body: [
        field('Username', username, 'Unique.'),
        field('Password', password, 'At least 8 characters. They can be given a new one here later.'),
        field('Role', role.el, role.help),
      ],
      submitLabel: 'Create user',
      errorTitle: 'The user was not created',
      onSubmit() {
        if (!username.value.trim()) throw fieldError(username, 'Give the user a username.');
        if (!password.value) throw fieldError(password, 'Give the user a password.');
        return createUser({ username: username.value.trim(), password: password.value, role: role.input.value });
      },
    });
    d.done.then((u) => {
      if (!u) return;
      toast(`Created ${u.username}`, { detail: `Role: ${u.role}.` });
      highlight = u.id;
      watcher.refresh();
    });
  }

  function roleDialog(u) {
    const role = roleSelect('user-role', u.role);
    const d = openDialog({
      id: 'role-dialog',
      title: `Role of ${u.username}`,
      description: u.id === me ? 'This is you: with a lower role you lose what it allowed at once.' : 'It applies at once, also to their tokens and open sessions.',
      body: field('Role', role.el, role.help),
      submitLabel: 'Save',
      errorTitle: 'The role was not changed',
      onSubmit() {
        if (role.input.value === u.role) return null;
        return updateUser(u.id, { role: role.input.value });
      },
    });
    d.done.then((saved) => {
      if (!saved) return;
      toast(`${saved.username} is now ${saved.role}`);
      // Your own role changed: what the dashboard offers changes too.
      if (saved.id === me) location.reload();
      else watcher.refresh();
    });
  }

  function passwordDialog(u) {
    const password = h('input', { id: 'new-password', name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
    const again = h('input', { id: 'new-password-again', name: 'again', type: 'password', required: true, autocomplete: 'new-password' });
    const d = openDialog({
      id: 'password-dialog',
      title: `New password for ${u.username}`,
      description:
        u.id === me
          ? 'This is you: every dashboard session of yours ends, this one too; sign in again with the new password. Your API tokens keep working.'
          : 'Their dashboard sessions end: they sign in again with the new password. Their API tokens keep working.',
      body: [field('New password', password, 'At least 8 characters.'), field('Again', again)],
      submitLabel: 'Set password',
      errorTitle: 'The password was not changed',
      onSubmit() {
        if (!password.value) throw fieldError(password, 'Type the new password.');
        if (again.value !== password.value) throw fieldError(again, 'The two passwords differ.');
        return updateUser(u.id, { password: password.value });
      },
    });
    d.done.then((saved) => {
      if (saved) toast(`Set a new password for ${saved.username}`);
    });
  }

  async function disable(u) {
    const ok = await confirmDialog({
      id: 'disable-dialog',
      title: `Disable ${u.username}?`,
      message:
        u.id === me
          ? 'This is you: you are signed out at once and cannot sign in again until another admin enables you.'
          : 'They are signed out at once, their tokens stop working, and they cannot sign in until enabled again. Nothing of theirs is deleted.',
      confirmLabel: 'Disable',
      danger: true,
      onConfirm: () => updateUser(u.id, { disabled: true }),
    });
    if (!ok) return;
    toast(`Disabled ${u.username}`);
    watcher.refresh();
  }

  async function enable(u, button) {
    button.disabled = true;
    try {
      await updateUser(u.id, { disabled: false });
      toast(`Enabled ${u.username}`, { detail: 'They can sign in again; tokens that were not revoked work again.' });
      watcher.refresh();
    } catch (err) {
      if (err.status !== 401) toast(`Could not enable ${u.username}`, { kind: 'error', detail: err.message });
      button.disabled = false;
    }
  }

  async function remove(u) {
    const ok = await confirmDialog({
      id: 'delete-dialog',
      title: `Delete ${u.username}?`,
      message:
        (u.id === me ? 'This is you: you are signed out at once. ' : '') +
        'The user, their sessions and their tokens are removed. The audit log and the tasks they ran still name them.',
      confirmLabel: 'Delete user',
      danger: true,
      onConfirm: () => deleteUser(u.id),
    });
    if (!ok) return;
    toast(`Deleted ${u.username}`);
    watcher.refresh();
  }

  return () => watcher.stop();
}

/** A role as a badge. */
export function roleBadge(role) {
  return h('span', { class: `badge role-badge role-${role}`, dataset: { role } }, role);
}

/**
 * A <select> of roles with a help line saying what the chosen one may do.
 * @param {string} id
 * @param {string} value
 * @param {string[]} [roles] the roles offered (default: all)
 */
export function roleSelect(id, value, roles = ROLES) {
  const input = h('select', { id, name: 'role' }, roles.map((r) => h('option', { value: r, selected: r === value }, r)));
  const help = h('span', null, ROLE_TEXT[input.value] ?? '');
  input.addEventListener('change', () => (help.textContent = ROLE_TEXT[input.value] ?? ''));
  return { el: input, input, help };
}
