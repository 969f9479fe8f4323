// Any hash that matches no route.

import { h, replace } from '../lib/dom.js';
import { pageHeader } from '../lib/ui.js';

export function mount(view, _params, ctx) {
  ctx.setTitle('Not found');
  replace(
    view,
    pageHeader({ title: 'Page not found' }),
    h('p', { class: 'muted' }, 'There is nothing at this address. ', h('a', { href: '#/nodes' }, 'Go to the nodes'), '.'),
  );
}
