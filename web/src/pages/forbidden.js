// A page the signed-in role may not see (an operator opening #/users).
// The server would refuse its data anyway; this says so before asking.

import { h, replace } from '../lib/dom.js';
import { session } from '../lib/session.js';
import { pageHeader } from '../lib/ui.js';

/** @param {HTMLElement} view @param {{ need: string }} params */
export function mount(view, { need }, ctx) {
  ctx.setTitle('Not allowed');
  const s = session();
  replace(
    view,
    pageHeader({ title: 'Not allowed' }),
    h(
      'p',
      { class: 'muted', id: 'forbidden' },
      `This page is for the ${need} role. You are signed in as ${s?.user.username ?? 'someone else'} (${s?.role ?? 'no role'}). `,
      h('a', { href: '#/nodes' }, 'Go to the nodes'),
      '.',
    ),
  );
}
