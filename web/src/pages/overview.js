// The overview page.

import { replace } from '../lib/dom.js';
import { pageHeader } from '../lib/ui.js';

export function mount(view, _params, ctx) {
  ctx.setTitle('overview');
  replace(view, pageHeader({ title: 'overview' }));
}
