// #/nodes — every node of the cluster; statuses change live (see data/nodes.js),
// and each row has sparklines of the node's CPU and memory over the last
// hour (data/nodemetrics.js).

import { watchNodeLoads } from '../data/nodemetrics.js';
import { watchNodes } from '../data/nodes.js';
import { sparkline } from '../lib/chart.js';
import { h, replace } from '../lib/dom.js';
import { platform } from '../lib/format.js';
import { href } from '../lib/router.js';
import { emptyState, errorBox, lastSeen, liveIndicator, loading, pageHeader, roleBadge, statusBadge } from '../lib/ui.js';

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Nodes');
  const subtitle = h('span', null, '\u00a0');
  const status = liveIndicator();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, h('section', { class: 'card' }, loading('Loading nodes…')));
  replace(view, pageHeader({ title: 'Nodes', subtitle, actions: status.el }), banner, body);

  let shown = null; // JSON of the rows on screen; re-render only on change
  const sparks = new Sparks();
  const loads = watchNodeLoads({ onData: (id, history) => sparks.draw(id, history) });
  const watcher = watchNodes({
    onData({ items, total }) {
      status.ok();
      replace(banner);
      const online = items.filter((n) => n.status === 'online').length;
      subtitle.textContent = total ? `${online} of ${total} ${total === 1 ? 'node' : 'nodes'} online` : 'No nodes';
      const json = JSON.stringify(items);
      if (json === shown) return;
      shown = json;
      loads.track(items.map((n) => n.id));
      sparks.keep(items.map((n) => n.id));
      replace(body, h('section', { class: 'card' }, items.length ? nodeTable(items, sparks) : noNodes()));
    },
    onError(err) {
      if (err.status === 401) return; // the app shows the token form
      status.failed();
      if (shown === null) replace(body, errorBox('Could not load the nodes', err));
      else replace(banner, errorBox('Could not refresh the nodes; showing the last known state', err));
    },
  });
  return () => {
    watcher.stop();
    loads.stop();
    sparks.destroy();
    status.stop();
  };
}

/**
 * The rows' sparkline cells, kept across re-renders of the table (a status
 * change rebuilds the rows, not the charts).
 */
class Sparks {
  constructor() {
    /** @type {Map<string, { el: HTMLElement, cpu: any, mem: any, cpuBox: HTMLElement, memBox: HTMLElement, cpuNow: HTMLElement, memNow: HTMLElement }>} */
    this.cells = new Map();
  }

  cell(id) {
    let c = this.cells.get(id);
    if (!c) {
      const cpuBox = h('span', { class: 'spark', dataset: { spark: 'cpu' }, title: 'CPU busy, last hour' });
      const memBox = h('span', { class: 'spark', dataset: { spark: 'memory' }, title: 'Memory used, last hour' });
      const cpuNow = h('span', { class: 'spark-now' }, '–');
      const memNow = h('span', { class: 'spark-now' }, '–');
      const el = h(
        'div',
        { class: 'sparks' },
        h('span', { class: 'spark-row' }, h('span', { class: 'spark-label' }, 'CPU'), cpuBox, cpuNow),
        h('span', { class: 'spark-row' }, h('span', { class: 'spark-label' }, 'Mem'), memBox, memNow),
      );
      c = { el, cpu: null, mem: null, cpuBox, memBox, cpuNow, memNow };
      this.cells.set(id, c);
    }
    return c;
  }

  draw(id, history) {
    const c = this.cells.get(id);
    if (!c) return;
    const pts = history.points;
    const xs = pts.map((p) => p.at);
    const cpu = [xs, pts.map((p) => p.cpu)];
    const mem = [xs, pts.map((p) => (p.mem_total ? (p.mem_used / p.mem_total) * 100 : 0))];
    if (!c.cpu) {
      c.cpu = sparkline(c.cpuBox, { data: cpu, color: 'accent', max: 100 });
      c.mem = sparkline(c.memBox, { data: mem, color: 'info', max: 100 });
    } else {
      c.cpu.setData(cpu);
      c.mem.setData(mem);
    }
    c.cpuBox.dataset.points = String(pts.length);
    c.memBox.dataset.points = String(pts.length);
    const last = pts[pts.length - 1];
    c.cpuNow.textContent = last ? `${Math.round(last.cpu)}%` : '–';
    c.memNow.textContent = last && last.mem_total ? `${Math.round((last.mem_used / last.mem_total) * 100)}%` : '–';
  }

  /** Forget the cells of nodes no longer listed. */
  keep(ids) {
    const want = new Set(ids);
    for (const [id, c] of this.cells) {
      if (want.has(id)) continue;
      c.cpu?.destroy();
      c.mem?.destroy();
      this.cells.delete(id);
    }
  }

  destroy() {
    this.keep([]);
  }
}

function nodeTable(nodes, sparks) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-hover', id: 'nodes-table' },
      h(
        'thead',
        null,
        h('tr', null, ['Name', 'Status', 'Load (1 h)', 'IP address', 'OS / arch', 'Version', 'Role', 'Last seen'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h('tbody', null, nodes.map((n) => nodeRow(n, sparks))),
    ),
  );
}

function nodeRow(node, sparks) {
  const link = href('/nodes', node.id);
  return h(
    'tr',
    {
      dataset: { nodeId: node.id, status: node.status },
      // The whole row is a target; the name stays a real link for keyboards,
      // middle-click and "open in new tab".
      onclick: (e) => {
        if (e.target.closest('a') || window.getSelection()?.toString()) return;
        location.hash = link;
      },
    },
    h(
      'td',
      null,
      h('a', { class: 'strong-link', href: link }, node.name || node.hostname || node.id),
      node.hostname && node.hostname !== node.name ? h('div', { class: 'muted small' }, node.hostname) : null,
    ),
    h('td', null, statusBadge(node.status)),
    h('td', { class: 'nowrap' }, sparks.cell(node.id).el),
    h('td', { class: 'mono' }, node.ip || '–'),
    h('td', null, platform(node.os, node.arch)),
    h('td', { class: 'mono' }, node.version || '–'),
    h('td', null, roleBadge(node.is_master)),
    h('td', { class: 'nowrap' }, lastSeen(node)),
  );
}

function noNodes() {
  return emptyState(
    'No nodes have registered yet',
    h('p', null, 'Start an agent on a machine that can reach this master’s Redis and MongoDB:'),
    h('pre', { class: 'code' }, 'crawlhub agent'),
  );
}
