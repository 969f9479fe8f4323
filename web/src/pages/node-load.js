// The node page's load card: charts of CPU, memory, disk, network and load
// over 1 h, 24 h or 7 d (a range switch), grown live from the nodes
// channel (see data/nodemetrics.js).

import { RANGES, watchNodeMetrics } from '../data/nodemetrics.js';
import { lineChart } from '../lib/chart.js';
import { h, replace } from '../lib/dom.js';
import { bytes } from '../lib/format.js';
import { callout, card } from '../lib/ui.js';

const percentAxis = (_u, splits) => splits.map((v) => `${v}%`);
const bytesAxis = (_u, splits) => splits.map((v) => bytes(v));
const rateAxis = (_u, splits) => splits.map((v) => `${bytes(v)}/s`);

/** The charts: a data-chart name, a title, their series and how a point maps to each. */
const CHARTS = [
  { name: 'cpu', title: 'CPU', series: [{ label: 'CPU busy', color: 'accent' }], ys: [(p) => p.cpu], yValues: percentAxis, yMax: () => 100 },
  {
    name: 'memory',
    title: 'Memory',
    series: [{ label: 'Used', color: 'info' }],
    ys: [(p) => p.mem_used],
    yValues: bytesAxis,
    ySize: 72,
    // The scale runs to the machine's memory, so "used" reads as a share of it.
    yMax: (last) => last?.mem_total,
    total: (last) => last?.mem_total,
  },
  {
    name: 'disk',
    title: 'Disk',
    series: [{ label: 'Used', color: 'warn' }],
    ys: [(p) => p.disk_used],
    yValues: bytesAxis,
    ySize: 72,
    yMax: (last) => last?.disk_total,
    total: (last) => last?.disk_total,
  },
  {
    name: 'network',
    title: 'Network',
    series: [{ label: 'Received', color: 'ok' }, { label: 'Sent', color: 'accent' }],
    ys: [(p) => p.net_rx, (p) => p.net_tx],
    yValues: rateAxis,
    ySize: 80,
  },
  { name: 'load', title: 'Load (1 min)', series: [{ label: 'Load', color: 'bad' }], ys: [(p) => p.load1] },
];

/**
 * The load card for node id. Returns { el, start(), stop() }: start once el
 * is in the page (the charts take its width).
 * @param {string} id
 */
export function loadCard(id) {
  let range = '1h';
  const tabs = Object.entries(RANGES).map(([key, r]) =>
    h('button', { type: 'button', class: 'tab', role: 'tab', dataset: { range: key }, 'aria-selected': String(key === range), onclick: () => choose(key) }, r.label),
  );
  const note = h('div', { class: 'muted small load-note' });
  const body = h('div', { class: 'load-charts' });
  const el = card('Load', h('div', null, h('div', { class: 'tabs load-tabs', role: 'tablist', 'aria-label': 'Time range' }, tabs), note, body), { class: 'span-3 load-card' });

  let charts = [];
  let watcher = null;

  let last = null; // the newest point, for the scales' maxima and the totals

  function draw(history) {
    const pts = history.points;
    last = pts[pts.length - 1] ?? null;
    const xs = pts.map((p) => p.at);
    if (!charts.length) {
      replace(body);
      charts = CHARTS.map((c) => {
        const box = h('div', { class: 'load-chart', dataset: { chart: c.name } });
        const title = h('h3', { class: 'load-chart-title' }, c.title);
        body.append(h('div', { class: 'load-chart-wrap' }, title, box));
        const chart = lineChart(box, {
          series: c.series,
          data: [xs, ...c.ys.map((f) => pts.map(f))],
          height: 150,
          yValues: c.yValues,
          ySize: c.ySize,
          yMax: c.yMax && (() => c.yMax(last)),
        });
        return { def: c, box, title, chart };
      });
    } else {
      for (const c of charts) c.chart.setData([xs, ...c.def.ys.map((f) => pts.map(f))]);
    }
    for (const c of charts) {
      c.box.dataset.points = String(pts.length);
      const total = c.def.total?.(last);
      c.title.textContent = total ? `${c.def.title} (of ${bytes(total)})` : c.def.title;
    }
    note.textContent = pts.length
      ? `${pts.length} points, one per ${stepWords(history.step)}; new ones appear as the node reports.`
      : 'No points yet: the node reports its load with each heartbeat.';
  }

  function start() {
    watcher?.stop();
    watcher = watchNodeMetrics(id, range, {
      onData: draw,
      onError(err) {
        if (err.status === 401 || err.status === 404) return;
        if (!charts.length) replace(body, callout('error', 'Could not load the node’s history', err.message));
      },
    });
  }

  function destroyCharts() {
    for (const c of charts) c.chart.destroy();
    charts = [];
  }

  function choose(key) {
    if (key === range) return;
    range = key;
    for (const t of tabs) t.setAttribute('aria-selected', String(t.dataset.range === key));
    destroyCharts();
    replace(body);
    start();
  }

  return {
    el,
    start,
    stop() {
      watcher?.stop();
      destroyCharts();
    },
  };
}

function stepWords(step) {
  return step < 60 ? `${step} s` : `${step / 60} min`;
}
