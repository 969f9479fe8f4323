// #/overview — the home page: how tasks ended in the last 24 hours (by
// hour) and 30 days (by day), stacked by outcome; the success rate; what
// runs and waits now; the spiders failing most; run times and items per
// spider. Live: any event on the "tasks" channel reads the numbers again
// (data/stats.js).

import { OUTCOMES, chartData, ended, watchStats } from '../data/stats.js';
import { lineChart } from '../lib/chart.js';
import { h, replace } from '../lib/dom.js';
import { runTime } from '../lib/format.js';
import { href } from '../lib/router.js';
import { card, emptyState, errorBox, freshness, loading, pageHeader } from '../lib/ui.js';

const SERIES = OUTCOMES.map((o) => ({ label: o.label, color: o.color, fill: o.color }));

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Overview');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const tile = (id, label) => {
    const value = h('div', { class: 'stat-value', dataset: { value: '' } }, '–');
    const note = h('div', { class: 'stat-note' }, '\u00a0');
    return { el: h('div', { class: 'stat', id: `stat-${id}` }, h('div', { class: 'stat-label' }, label), value, note), value, note };
  };
  const tiles = {
    ended: tile('ended', 'Tasks ended, 24 h'),
    success: tile('success', 'Success rate, 24 h'),
    running: tile('running', 'Running now'),
    pending: tile('pending', 'Pending now'),
    items: tile('items', 'Items saved, 24 h'),
  };
  const dayChart = h('div', { class: 'chart', id: 'chart-day' });
  const monthChart = h('div', { class: 'chart', id: 'chart-month' });
  const failing = h('div', null, loading());
  const spiders = h('div', null, loading());
  replace(
    view,
    pageHeader({ title: 'Overview', subtitle: 'How tasks ended, live', actions: status.el }),
    banner,
    h('section', { class: 'stats overview-stats' }, Object.values(tiles).map((t) => t.el)),
    h('div', { class: 'overview-charts' },
      card('Tasks per hour — last 24 hours', dayChart),
      card('Tasks per day — last 30 days', monthChart)),
    h('div', { class: 'grid overview-tables' },
      card('Spiders failing most — 30 days', failing),
      card('Run time and items per spider — 30 days', spiders)),
  );

  let charts = null;
  let last = '';
  const watcher = watchStats({
    onData(s) {
      status.ok();
      replace(banner);
      const json = JSON.stringify(s);
      if (json === last) return;
      last = json;
      render(s);
    },
    onError(err) {
      if (err.status === 401) return;
      status.failed();
      replace(banner, errorBox('The overview could not be loaded', err));
    },
  });

  function render({ day, month }) {
    const n = ended(day.totals);
    set(tiles.ended, n, OUTCOMES.filter((o) => day.totals?.[o.status]).map((o) => `${day.totals[o.status]} ${o.status}`).join(', ') || 'none');
    set(tiles.success, n ? `${(day.success_rate * 100).toFixed(1)}%` : '–', n ? `${day.totals.finished ?? 0} of ${n} finished` : 'no task ended');
    set(tiles.running, day.running, '');
    set(tiles.pending, day.pending, day.pending ? 'waiting for a node' : '');
    set(tiles.items, day.items, '');
    if (!charts) {
      charts = {
        day: lineChart(dayChart, { series: SERIES, data: chartData(day), bars: true, stacked: true, height: 200 }),
        month: lineChart(monthChart, { series: SERIES, data: chartData(month), bars: true, stacked: true, height: 200 }),
      };
    } else {
      charts.day.setData(chartData(day));
      charts.month.setData(chartData(month));
    }
    dayChart.dataset.total = String(n);
    monthChart.dataset.total = String(ended(month.totals));
    renderFailing(month.spiders ?? []);
    renderSpiders(month.spiders ?? []);
  }

  function set(t, value, note) {
    t.value.textContent = String(value);
    t.value.dataset.value = String(value);
    t.note.textContent = note || '\u00a0';
  }

  const spiderLink = (sp) => h('a', { class: 'strong-link', href: href('/spiders', sp.spider_id) }, sp.spider_name || sp.spider_id);

  function renderFailing(list) {
    const rows = list.filter((sp) => sp.failed > 0).slice(0, 10);
    if (!rows.length) return replace(failing, emptyState('No failures', h('p', null, 'No task ended in error or abnormally in the last 30 days.')));
    replace(failing, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'failing-table' },
      h('thead', null, h('tr', null, h('th', null, 'Spider'), h('th', { class: 'num' }, 'Failed'), h('th', { class: 'num' }, 'Ended'), h('th', { class: 'num' }, 'Success'))),
      h('tbody', null, rows.map((sp) => {
        const n = ended(sp.counts);
        return h('tr', { dataset: { spiderName: sp.spider_name } },
          h('td', null, spiderLink(sp)),
          h('td', { class: 'num', dataset: { field: 'failed' } }, String(sp.failed)),
          h('td', { class: 'num', dataset: { field: 'ended' } }, String(n)),
          h('td', { class: 'num' }, `${Math.round(((sp.counts?.finished ?? 0) / n) * 100)}%`));
      })))));
  }

  function renderSpiders(list) {
    if (!list.length) return replace(spiders, emptyState('No tasks yet', h('p', null, 'Run a spider and its run times show here.')));
    const rows = [...list].sort((a, b) => ended(b.counts) - ended(a.counts)).slice(0, 20);
    replace(spiders, h('div', { class: 'table-wrap' }, h('table', { class: 'table', id: 'spider-stats' },
      h('thead', null, h('tr', null, h('th', null, 'Spider'), h('th', { class: 'num' }, 'Tasks'), h('th', { class: 'num' }, 'Average'),
        h('th', { class: 'num', title: 'The bound of the run-time bucket that holds the 95th percentile (see docs/overview.md)' }, 'p95'), h('th', { class: 'num' }, 'Items'))),
      h('tbody', null, rows.map((sp) => h('tr', { dataset: { spiderName: sp.spider_name } },
        h('td', null, spiderLink(sp)),
        h('td', { class: 'num', dataset: { field: 'ended' } }, String(ended(sp.counts))),
        h('td', { class: 'num', dataset: { field: 'avg' } }, sp.avg_seconds ? runTime(sp.avg_seconds) : '–'),
        h('td', { class: 'num', dataset: { field: 'p95' } }, sp.p95_seconds ? runTime(sp.p95_seconds) : '–'),
        h('td', { class: 'num', dataset: { field: 'items' } }, String(sp.items))))))));
  }

  return () => {
    watcher.stop();
    charts?.day.destroy();
    charts?.month.destroy();
  };
}
