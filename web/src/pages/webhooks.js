// The webhooks page.

import { replace } from '../lib/dom.js';
import { pageHeader } from '../lib/ui.js';

export function mount(view, _params, ctx) {
  ctx.setTitle('webhooks');
  replace(view, pageHeader({ title: 'webhooks' }));
}
