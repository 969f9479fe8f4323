// #/tasks — every task, newest first, with filters and pages. Rows change
// state live (the tasks channel). The filters live in the address
// (#/tasks?status=running&spider=…&node=…&page=2), so a filtered list can be
// linked to and survives a reload.

import { loadNodes } from '../data/nodes.js';
import { TASK_STATUSES, isEnded, watchTasks } from '../data/tasks.js';
import { listSpiders } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { dateTime, duration } from '../lib/format.js';
import { hashQuery, href, withQuery } from '../lib/router.js';
import { can } from '../lib/session.js';
import { cancelWithConfirm, restart } from '../lib/task-actions.js';
import { elapsed, emptyState, errorBox, liveIndicator, loading, pageHeader, shortID, taskStatus, timeAgo } from '../lib/ui.js';

export const PAGE_SIZE = 25;

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Tasks');
  // A viewer is not offered what the server would refuse.
  const operator = can('operator');
  const q = hashQuery(location.hash);
  const state = {
    status: TASK_STATUSES.includes(q.get('status')) ? q.get('status') : '',
    spider: q.get('spider') ?? '',
    node: q.get('node') ?? '',
    page: Math.max(1, Number.parseInt(q.get('page') ?? '1', 10) || 1),
  };

  const subtitle = h('span', null, '\u00a0');
  const live = liveIndicator();
  const banner = h('div', { class: 'banner-slot' });
  const statusSelect = select('filter-status', 'Status', [['', 'All statuses'], ...TASK_STATUSES.map((s) => [s, cap(s)])], state.status);
  const spiderSelect = select('filter-spider', 'Spider', [['', 'All spiders']], state.spider);
  const nodeSelect = select('filter-node', 'Node', [['', 'All nodes']], state.node);
  const clear = h('button', { class: 'btn btn-ghost btn-small', type: 'button', onclick: () => setFilter({ status: '', spider: '', node: '' }) }, 'Clear filters');
  const filters = h('div', { class: 'filters', role: 'search', 'aria-label': 'Filter tasks' }, statusSelect.el, spiderSelect.el, nodeSelect.el, clear);
  const tbody = h('tbody');
  const table = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table table-hover', id: 'tasks-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Task', 'Status', 'Node', 'Created', 'Duration', 'Lines', 'Items'].map((t) => h('th', { scope: 'col', class: t === 'Lines' || t === 'Items' ? 'num' : null }, t)),
          operator ? h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
        ),
      ),
      tbody,
    ),
  );
  const listBody = h('div', null, loading('Loading tasks…'));
  const pager = h('div', { class: 'pager' });
  replace(
    view,
    pageHeader({ title: 'Tasks', subtitle, actions: live.el }),
    filters,
    banner,
    h('section', { class: 'card' }, listBody),
    pager,
  );

  /** @type {Map<string, { json: string, tr: HTMLElement }>} */
  let rows = new Map();
  let loaded = false;
  const spiderNames = new Map();
  const nodeNames = new Map();
  let watcher = null;

  statusSelect.input.addEventListener('change', () => setFilter({ status: statusSelect.input.value }));
  spiderSelect.input.addEventListener('change', () => setFilter({ spider: spiderSelect.input.value }));
  nodeSelect.input.addEventListener('change', () => setFilter({ node: nodeSelect.input.value }));

  // Names for the filters and the Node column.
  const ctrl = new AbortController();
  listSpiders(ctrl.signal)
    .then((page) => {
      for (const sp of page?.items ?? []) spiderNames.set(sp.id, sp.name);
      spiderSelect.setOptions([['', 'All spiders'], ...[...spiderNames].map(([id, name]) => [id, name])], state.spider);
    })
    .catch(() => {});
  loadNodes(ctrl.signal)
    .then((nodes) => {
      for (const n of nodes) nodeNames.set(n.id, n.name || n.hostname || n.id);
      nodeSelect.setOptions([['', 'All nodes'], ...[...nodeNames]], state.node);
      rerenderAll();
    })
    .catch(() => {});

  start();

  function filter() {
    return {
      status: state.status,
      spider_id: state.spider,
      node_id: state.node,
      limit: PAGE_SIZE,
      offset: (state.page - 1) * PAGE_SIZE,
    };
  }

  function start() {
    watcher?.stop();
    loaded = false;
    clear.hidden = !(state.status || state.spider || state.node);
    watcher = watchTasks(filter(), {
      onData({ items, total }) {
        live.ok();
        replace(banner);
        if (!items.length && total > 0 && state.page > 1) {
          // The page emptied (tasks deleted or filtered away): show the last one.
          setFilter({ page: Math.max(1, Math.ceil(total / PAGE_SIZE)) }, { keepPage: true });
          return;
        }
        render(items, total);
      },
      onError(err) {
        if (err.status === 401) return;
        live.failed();
        if (!loaded) replace(listBody, errorBox('Could not load the tasks', err));
        else replace(banner, errorBox('Could not refresh the tasks; showing the last known state', err));
      },
    });
  }

  function setFilter(change, { keepPage = false } = {}) {
    Object.assign(state, change);
    if (!keepPage && !('page' in change)) state.page = 1;
    statusSelect.input.value = state.status;
    spiderSelect.input.value = state.spider;
    nodeSelect.input.value = state.node;
    history.replaceState(history.state, '', withQuery('#/tasks', { status: state.status, spider: state.spider, node: state.node, page: state.page > 1 ? state.page : '' }));
    replace(listBody, loading('Loading tasks…'));
    rows = new Map();
    start();
  }

  let lastItems = [];
  let lastTotal = 0;
  function render(items, total) {
    lastItems = items;
    lastTotal = total;
    const first = (state.page - 1) * PAGE_SIZE;
    subtitle.textContent = total === 1 ? '1 task' : `${total.toLocaleString()} tasks`;
    if (state.status || state.spider || state.node) subtitle.textContent += ' match the filters';
    if (!items.length) {
      loaded = true;
      rows = new Map();
      replace(listBody, noTasks());
      replace(pager);
      return;
    }
    if (!loaded || !listBody.contains(table)) replace(listBody, table);
    loaded = true;
    // Keyed update: unchanged rows stay (with their focus and hover).
    const next = new Map();
    const trs = items.map((t) => {
      const json = JSON.stringify(t) + (nodeNames.get(t.node_id) ?? '');
      const old = rows.get(t.id);
      const tr = old && old.json === json ? old.tr : taskRow(t);
      next.set(t.id, { json, tr });
      return tr;
    });
    const same = trs.length === tbody.children.length && trs.every((tr, i) => tbody.children[i] === tr);
    if (!same) {
      const before = [...rows.keys()];
      const sameOrder = items.length === before.length && tbody.children.length === before.length && items.every((t, i) => before[i] === t.id);
      if (sameOrder) trs.forEach((tr, i) => tbody.children[i] !== tr && tbody.children[i].replaceWith(tr));
      else tbody.replaceChildren(...trs);
    }
    rows = next;
    renderPager(first, items.length, total);
  }

  function rerenderAll() {
    if (!loaded || !lastItems.length) return;
    rows = new Map();
    tbody.replaceChildren();
    render(lastItems, lastTotal);
  }

  function renderPager(first, count, total) {
    if (total <= PAGE_SIZE && state.page === 1) {
      replace(pager);
      return;
    }
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    replace(
      pager,
      h('span', { class: 'muted' }, `${(first + 1).toLocaleString()}–${(first + count).toLocaleString()} of ${total.toLocaleString()}`),
      h(
        'div',
        { class: 'pager-buttons' },
        h('button', { class: 'btn btn-small', type: 'button', disabled: state.page <= 1, onclick: () => setFilter({ page: state.page - 1 }) }, '‹ Newer'),
        h('span', { class: 'muted small' }, `Page ${state.page} of ${pages}`),
        h('button', { class: 'btn btn-small', type: 'button', disabled: state.page >= pages, onclick: () => setFilter({ page: state.page + 1 }) }, 'Older ›'),
      ),
    );
  }

  function taskRow(t) {
    const link = href('/tasks', t.id);
    const nodeName = t.node_id ? nodeNames.get(t.node_id) ?? shortID(t.node_id) : '';
    return h(
      'tr',
      {
        dataset: { taskId: t.id, status: t.status },
        onclick: (e) => {
          if (e.target.closest('a, button') || window.getSelection()?.toString()) return;
          location.hash = link;
        },
      },
      h(
        'td',
        null,
        h('a', { class: 'strong-link', href: link }, t.spider_name || 'task'),
        h('div', { class: 'muted small mono', title: t.id }, shortID(t.id), t.params ? h('span', { class: 'params', title: t.params }, ' · ', t.params) : null),
      ),
      h('td', { class: 'status-col' }, taskStatus(t.status, t.reason)),
      h(
        'td',
        null,
        t.node_id ? h('a', { href: href('/nodes', t.node_id), title: t.node_id }, nodeName) : h('span', { class: 'muted' }, t.mode === 'any' ? 'any node' : '–'),
      ),
      h('td', { class: 'nowrap' }, timeAgo(t.created)),
      h('td', { class: 'nowrap num-text' }, taskDuration(t)),
      h('td', { class: 'num', dataset: { field: 'lines' } }, t.log_lines > 0 ? t.log_lines.toLocaleString() : isEnded(t.status) ? '0' : '–', logLevels(t)),
      h(
        'td',
        { class: 'num', dataset: { field: 'items' } },
        t.item_count > 0 ? h('a', { href: `${link}?tab=data`, title: 'The items it saved' }, t.item_count.toLocaleString()) : isEnded(t.status) ? '0' : '–',
      ),
      operator
        ? h(
            'td',
            { class: 'actions' },
            isEnded(t.status)
              ? h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'restart' }, onclick: (e) => { e.currentTarget.disabled = true; restart(t); } }, 'Restart')
              : h('button', { class: 'btn btn-small btn-danger-outline', type: 'button', dataset: { action: 'cancel' }, onclick: () => cancelWithConfirm(t) }, 'Cancel'),
          )
        : null,
    );
  }

  function noTasks() {
    if (state.status || state.spider || state.node || state.page > 1) {
      return emptyState(
        'No tasks match these filters',
        h('p', null, 'Try another status, spider or node.'),
        h('button', { class: 'btn', type: 'button', onclick: () => setFilter({ status: '', spider: '', node: '' }) }, 'Clear filters'),
      );
    }
    return emptyState('No tasks yet', h('p', null, 'Run a spider to start one.'), h('a', { class: 'btn btn-primary', href: '#/spiders' }, 'Go to the spiders'));
  }

  return () => {
    ctrl.abort();
    watcher?.stop();
    live.stop();
  };
}

/**
 * A task's error and warning counts as badges (live while it runs): none
 * when it has neither, unless full, which says so.
 * @param {{ log_levels?: { error: number, warning: number } }} t
 */
export function logLevels(t, { full = false } = {}) {
  const lv = t.log_levels ?? { error: 0, warning: 0 };
  const plural = (n, word) => `${n.toLocaleString()} ${word}${n === 1 ? '' : 's'}`;
  const out = h('span', { class: 'log-levels' });
  if (lv.error > 0) out.append(h('span', { class: 'badge badge-bad', dataset: { level: 'error' }, title: 'Lines counted as errors' }, plural(lv.error, 'error')));
  if (lv.warning > 0) out.append(h('span', { class: 'badge badge-warn', dataset: { level: 'warning' }, title: 'Lines counted as warnings' }, plural(lv.warning, 'warning')));
  if (full && !lv.error && !lv.warning) out.append(h('span', { class: 'muted' }, 'no errors or warnings'));
  return out;
}

/** How long a task ran, or runs so far. */
export function taskDuration(t) {
  const started = Date.parse(t.started ?? '');
  if (!Number.isFinite(started)) return h('span', { class: 'muted' }, '–');
  if (!isEnded(t.status)) return elapsed(t.started);
  const finished = Date.parse(t.finished ?? '');
  if (!Number.isFinite(finished)) return h('span', { class: 'muted' }, '–');
  return h('span', { title: `${dateTime(t.started)} → ${dateTime(t.finished)}` }, duration(Math.max(0, (finished - started) / 1000)));
}

function select(id, label, options, value) {
  const input = h('select', { id, name: id });
  const el = h('label', { class: 'filter', for: id }, h('span', { class: 'filter-label' }, label), input);
  function setOptions(list, selected) {
    const have = new Set(list.map(([v]) => v));
    if (selected && !have.has(selected)) list = [...list, [selected, shortID(selected)]];
    replace(input, list.map(([v, text]) => h('option', { value: v }, text)));
    input.value = selected ?? '';
  }
  setOptions(options, value);
  return { el, input, setOptions };
}

function cap(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
