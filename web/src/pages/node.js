// #/nodes/:id — one node: its stored record, the system information the
// node reports about itself when asked, and its load over time.

import { watchNode, watchSysinfo } from '../data/nodes.js';
import { h, replace } from '../lib/dom.js';
import { bytes, dateTime, duration, platform } from '../lib/format.js';
import { loadCard } from './node-load.js';
import { callout, card, errorBox, fields, lastSeen, liveIndicator, loading, meter, pageHeader, roleBadge, statusBadge } from '../lib/ui.js';

const BACK = { href: '#/nodes', label: 'Nodes' };

/** @param {HTMLElement} view @param {{ id: string }} params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, { id }, ctx) {
  ctx.setTitle('Node');
  const header = h('div', null, pageHeader({ title: 'Node', back: BACK }));
  const status = liveIndicator();
  const nodeBody = h('div', null, loading());
  const sysBody = h('div', null, loading('Asking the node…'));
  const execBody = h('div', null, loading());
  const sysCard = card('System', sysBody, { class: 'span-2' });
  const execCard = card('Executables', execBody, { class: 'span-3' });
  const load = loadCard(id);
  replace(
    view,
    header,
    h('div', { class: 'grid' }, card('Node', nodeBody), sysCard, load.el, execCard),
  );
  load.start();

  let nodeShown = null;
  let sysShown = null;
  let found = true;

  const node = watchNode(id, {
    onData(n) {
      status.ok();
      ctx.setTitle(n.name || n.id);
      const json = JSON.stringify(n);
      if (json === nodeShown) return;
      nodeShown = json;
      replace(
        header,
        pageHeader({
          title: n.name || n.hostname || n.id,
          back: BACK,
          badges: [statusBadge(n.status), roleBadge(n.is_master)],
          subtitle: h('span', { class: 'mono' }, n.id),
          actions: status.el,
        }),
      );
      replace(nodeBody, nodeFields(n));
    },
    onError(err) {
      if (err.status === 401) return;
      if (err.status === 404) {
        // Nothing else on the page can work: say so once and stop asking.
        found = false;
        stopAll();
        ctx.setTitle('Node not found');
        replace(
          view,
          pageHeader({ title: 'Node not found', back: BACK }),
          callout('warning', err.message, 'It may have been removed, or the link is wrong.'),
        );
        return;
      }
      status.failed();
      if (nodeShown === null) replace(nodeBody, errorBox('Could not load the node', err));
    },
  });

  const sys = watchSysinfo(id, {
    onData(info) {
      const json = JSON.stringify(info);
      if (json === sysShown) return;
      sysShown = json;
      replace(sysBody, systemInfo(info));
      replace(execBody, executables(info.executables ?? []));
      execCard.hidden = false;
    },
    onError(err) {
      if (err.status === 401 || !found) return;
      sysShown = null;
      // 503: the node is offline or did not answer in time, a state rather
      // than a fault, so it is a warning; anything else is an error.
      replace(sysBody, callout(err.status === 503 ? 'warning' : 'error', 'System information is unavailable', err.message));
      execCard.hidden = true;
    },
  });

  function stopAll() {
    node.stop();
    sys.stop();
    load.stop();
    status.stop();
  }
  return stopAll;
}

function nodeFields(n) {
  return fields([
    ['Hostname', n.hostname],
    ['IP address', n.ip && h('span', { class: 'mono' }, n.ip)],
    ['MAC address', n.mac && h('span', { class: 'mono' }, n.mac)],
    ['OS / arch', platform(n.os, n.arch)],
    ['Version', n.version && h('span', { class: 'mono' }, n.version)],
    ['Role', n.is_master ? 'Master (also runs tasks)' : 'Agent'],
    ['Last seen', n.status === 'online' ? h('span', null, lastSeen(n), h('span', { class: 'muted' }, ' · sending heartbeats')) : h('span', null, lastSeen(n), h('span', { class: 'muted' }, ' · ', dateTime(n.last_seen)))],
    ['Registered', dateTime(n.created)],
  ]);
}

function systemInfo(s) {
  const diskUsed = Math.max(0, (s.disk_total ?? 0) - (s.disk_free ?? 0));
  return h(
    'div',
    { class: 'system' },
    h(
      'div',
      { class: 'stats' },
      stat('CPUs', h('span', { dataset: { field: 'cpus' } }, String(s.cpus ?? '–')), s.cpu_model),
      stat('Load', [s.load1, s.load5, s.load15].map(load).join('  '), '1 · 5 · 15 min averages'),
      stat('Uptime', duration(s.uptime_seconds), null),
    ),
    h(
      'div',
      { class: 'meters' },
      meter({
        label: 'Memory',
        value: s.mem_used,
        max: s.mem_total,
        detail: `${bytes(s.mem_used)} used of ${bytes(s.mem_total)} · ${bytes(s.mem_available)} available`,
        field: 'memory',
      }),
      meter({
        label: s.disk_path ? `Disk (${s.disk_path})` : 'Disk',
        value: diskUsed,
        max: s.disk_total,
        detail: `${bytes(s.disk_free)} free of ${bytes(s.disk_total)}`,
        field: 'disk',
      }),
    ),
    fields([
      ['Hostname', s.hostname, 'hostname'],
      ['Operating system', [s.platform || s.os, s.arch].filter(Boolean).join(' · ')],
      ['Kernel', s.kernel && h('span', { class: 'mono' }, s.kernel)],
      ['crawlhub', s.crawlhub_version && h('span', { class: 'mono' }, s.crawlhub_version)],
    ]),
  );
}

function stat(label, value, note) {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, value),
    note ? h('div', { class: 'stat-note', title: note }, note) : null,
  );
}

function load(x) {
  return Number.isFinite(x) ? x.toFixed(2) : '–';
}

function executables(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'The node reported no executables.');
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'executables' },
      h('thead', null, h('tr', null, ['Name', 'Status', 'Version', 'Path'].map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        null,
        list.map((x) =>
          h(
            'tr',
            { dataset: { executable: x.name } },
            h('td', { class: 'mono strong' }, x.name),
            h(
              'td',
              null,
              x.installed
                ? h('span', { class: 'badge badge-ok' }, h('span', { class: 'dot', 'aria-hidden': 'true' }), 'Installed')
                : h('span', { class: 'badge badge-neutral' }, 'Not installed'),
            ),
            h('td', { class: 'mono' }, x.version || '–'),
            h('td', { class: 'mono muted path' }, x.path || '–'),
          ),
        ),
      ),
    ),
  );
}
