// The "Change password" dialog every signed-in user opens from the top
// bar: the current password, then the new one twice. The server checks the
// current one (a wrong one counts as a failed sign-in) and ends the user's
// other dashboard sessions; this one stays signed in.

import { changeOwnPassword } from '../lib/api.js';
import { field, fieldError, openDialog } from '../lib/dialog.js';
import { h } from '../lib/dom.js';
import { toast } from '../lib/toast.js';

export function changePasswordDialog() {
  const current = h('input', { id: 'current-password', name: 'current', type: 'password', autocomplete: 'current-password' });
  const password = h('input', { id: 'own-new-password', name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
  const again = h('input', { id: 'own-new-password-again', name: 'again', type: 'password', required: true, autocomplete: 'new-password' });
  const d = openDialog({
    id: 'own-password-dialog',
    title: 'Change your password',
    description: 'Your other dashboard sessions end; this one stays signed in. Your API tokens keep working.',
    body: [
      field('Current password', current, 'Leave empty if you have never had one (you signed in with the printed link).'),
      field('New password', password, 'At least 8 characters.'),
      field('Again', again),
    ],
    submitLabel: 'Change password',
    errorTitle: 'The password was not changed',
    onSubmit() {
      if (!password.value) throw fieldError(password, 'Type the new password.');
      if (again.value !== password.value) throw fieldError(again, 'The two passwords differ.');
      return changeOwnPassword(current.value, password.value);
    },
  });
  d.done.then((u) => {
    if (u) toast('Your password was changed');
  });
}
