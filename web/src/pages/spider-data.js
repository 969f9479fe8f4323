// The Data tab of a spider's page: its current items (after
// deduplication), newest first across all its tasks, a page of 100 at a
// time in the items table, with the export links. Items have no channel
// across tasks: the shown page is read again every 10 s while the tab is
// open (paused while the browser tab is hidden), and at once on Refresh.

import { SPIDER_PAGE, loadSpiderItems, pageInfo } from '../data/items.js';
import { h, replace } from '../lib/dom.js';
import { createItemTable, exportButtons, openItem } from '../lib/itemtable.js';
import { poll } from '../lib/poll.js';
import { href } from '../lib/router.js';
import { errorBox, shortID } from '../lib/ui.js';

/** How often the shown page is read again. */
export const SPIDER_ITEMS_REFRESH_MS = 10_000;

/**
 * @param {{ id: string, name: string }} sp
 * @param {{ onTotal: (n: number) => void }} hooks
 */
export function createSpiderData(sp, { onTotal }) {
  const table = createItemTable({
    label: `Items of ${sp.name}`,
    placeholder: 'No items yet.',
    follow: false,
    dataOf: (row) => row.data,
    leading: [
      { label: 'Task', width: 10, cell: (row) => h('a', { href: href('/tasks', row.task_id), title: `Task ${row.task_id}`, class: 'mono' }, shortID(row.task_id)) },
      { label: '#', width: 7, cls: 'item-right', cell: (row) => String(row.n + 1) },
    ],
    onOpen(row) {
      openItem({
        title: `Item ${(row.n + 1).toLocaleString()} of task ${shortID(row.task_id)}`,
        meta: h('span', null, 'Saved by ', h('a', { href: `${href('/tasks', row.task_id)}?tab=data` }, `task ${row.task_id}`), row.saved ? ` at ${new Date(row.saved).toLocaleString()}` : ''),
        item: row.data,
      });
    },
  });
  const count = h('span', { class: 'muted small', id: 'spider-items-count' }, '');
  const info = h('span', { class: 'muted small', id: 'spider-items-page' }, '');
  const prev = h('button', { class: 'btn btn-small', type: 'button', id: 'items-prev', disabled: true, onclick: () => go(page - 1) }, '← Newer');
  const next = h('button', { class: 'btn btn-small', type: 'button', id: 'items-next', disabled: true, onclick: () => go(page + 1) }, 'Older →');
  const refresh = h('button', { class: 'btn btn-small btn-ghost items-refresh', type: 'button', id: 'items-refresh', onclick: () => poller?.refresh() }, 'Refresh');
  const notice = h('div', { class: 'banner-slot' });
  const el = h(
    'section',
    { class: 'card log-card items-card', id: 'spider-data' },
    h(
      'div',
      { class: 'card-header' },
      h('div', { class: 'card-title' }, h('h2', null, 'Data'), count),
      h('div', { class: 'toolbar' }, exportButtons('spiders', sp.id, sp.name)),
    ),
    notice,
    table.el,
    h('div', { class: 'items-more items-pager' }, prev, next, info, refresh),
  );

  let page = 0;
  let shown = '';
  let poller = null;

  function go(p) {
    page = Math.max(0, p);
    shown = '';
    poller?.stop();
    poller = poll((signal) => loadSpiderItems(sp.id, page, signal), {
      interval: SPIDER_ITEMS_REFRESH_MS,
      onData(res) {
        replace(notice);
        const total = res.total;
        onTotal(total);
        count.textContent = `${total.toLocaleString()} current ${total === 1 ? 'item' : 'items'}`;
        // A page past the end (items went away): show the last one.
        if (!res.items.length && page > 0 && total > 0) {
          go(Math.floor((total - 1) / SPIDER_PAGE));
          return;
        }
        const p = pageInfo(page, res.items.length, total);
        info.textContent = p.text;
        prev.disabled = !p.prev;
        next.disabled = !p.next;
        const key = `${page}:${total}:${res.items.map((r) => `${r.task_id}/${r.n}`).join(',')}`;
        if (key === shown) return;
        shown = key;
        table.setRows(res.items);
        table.setPlaceholder('The spider has no items yet: they appear here once one of its tasks saves some.');
      },
      onError(err) {
        if (err.status === 401) return;
        replace(notice, errorBox(shown ? 'Could not refresh the items; showing the last page read' : 'Could not load the items', err));
      },
    });
  }

  return {
    el,
    /** Read the shown page, and again every 10 s (the tab is shown). */
    start() {
      if (!poller) go(page);
    },
    /** Stop reading (the tab is hidden); start() goes on at the same page. */
    pause() {
      poller?.stop();
      poller = null;
    },
    destroy() {
      poller?.stop();
      table.destroy();
    },
  };
}
