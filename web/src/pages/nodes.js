// #/nodes — every node of the cluster; statuses change live (see data/nodes.js).

import { watchNodes } from '../data/nodes.js';
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
  const watcher = watchNodes({
    onData({ items, total }) {
      status.ok();
      replace(banner);
      const online = items.filter((n) => n.status === 'online').length;
      subtitle.textContent = total ? `${online} of ${total} ${total === 1 ? 'node' : 'nodes'} online` : 'No nodes';
      const json = JSON.stringify(items);
      if (json === shown) return;
      shown = json;
      replace(body, h('section', { class: 'card' }, items.length ? nodeTable(items) : noNodes()));
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
    status.stop();
  };
}

function nodeTable(nodes) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-hover', id: 'nodes-table' },
      h(
        'thead',
        null,
        h('tr', null, ['Name', 'Status', 'IP address', 'OS / arch', 'Version', 'Role', 'Last seen'].map((t) => h('th', { scope: 'col' }, t))),
      ),
      h('tbody', null, nodes.map(nodeRow)),
    ),
  );
}

function nodeRow(node) {
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
