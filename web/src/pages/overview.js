// The overview page.

import { replace } from '../lib/dom.js';
import { lineChart } from '../lib/chart.js';
import { pageHeader } from '../lib/ui.js';

void lineChart;

export function mount(view, _params, ctx) {
  ctx.setTitle('overview');
  replace(view, pageHeader({ title: 'overview' }));
}
