// The Data tab of a task's page: the items the task saved, arriving live
// (from item 0, then live, then the end), in the virtualised items table,
// with the export links. The subscription starts the first time the tab is
// shown and lasts while the page is open, so switching tabs loses nothing.

import { followItems } from '../data/items.js';
import { h, replace } from '../lib/dom.js';
import { createItemTable, exportButtons } from '../lib/itemtable.js';
import { RPC } from '../lib/ws.js';
import { callout } from '../lib/ui.js';

const END_TEXT = {
  finished: 'Finished',
  error: 'Ended with an error',
  cancelled: 'Cancelled',
  abnormal: 'Ended abnormally',
};

const plural = (n, one, many) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/**
 * @param {string} taskID
 * @param {{ onCount: (n: number) => void }} hooks onCount: the number of items received, on every change
 */
export function createTaskData(taskID, { onCount }) {
  const table = createItemTable({
    label: 'Items the task saved',
    placeholder: 'Waiting for items…',
    leading: [{ label: '#', width: 7, cls: 'item-num', cell: (_row, i) => String(i + 1) }],
  });
  const count = h('span', { class: 'muted small', id: 'items-count' }, '');
  const followToggle = h(
    'button',
    { class: 'btn btn-small toggle', type: 'button', id: 'items-follow', 'aria-pressed': 'true', title: 'Keep the newest items in view', onclick: () => table.setFollow(!table.following) },
    h('span', { class: 'toggle-box', 'aria-hidden': 'true' }),
    'Follow',
  );
  const exports = h('span', null);
  const notice = h('div', { class: 'banner-slot' });
  const endLine = h('div', { class: 'items-end muted small', id: 'items-end', hidden: true });
  const el = h(
    'section',
    { class: 'card log-card items-card', id: 'task-data' },
    h('div', { class: 'card-header' }, h('div', { class: 'card-title' }, h('h2', null, 'Data'), count), h('div', { class: 'toolbar' }, followToggle, exports)),
    notice,
    table.el,
    endLine,
  );
  table.onFollow((on) => followToggle.setAttribute('aria-pressed', String(on)));

  let task = null;
  let ended = null;
  let follower = null;

  function start() {
    if (follower) return;
    follower = followItems(taskID, {
      onItems({ items }) {
        table.append(items);
        render();
      },
      onEnd(end) {
        ended = end;
        render();
      },
      onError(err) {
        if (err.code === RPC.NOT_FOUND || err.code === RPC.INVALID_PARAMS) return; // the record says why
        replace(notice, callout('error', 'The live items are unavailable', err.message));
      },
    });
  }

  function render() {
    const n = table.count;
    onCount(n);
    const running = !ended && task && (task.status === 'running' || task.status === 'pending');
    count.textContent = `${plural(n, 'item', 'items')}${running ? ' so far' : ''}`;
    if (!n) {
      table.setPlaceholder(
        ended || (task && !running) ? 'The task saved no items.' : task?.status === 'pending' ? 'Waiting for a node to start the task…' : 'Waiting for items…',
      );
    }
    if (ended) {
      endLine.hidden = false;
      endLine.className = `items-end muted small items-end-${ended.status || 'ended'}`;
      const total = Number.isFinite(ended.total) ? ended.total : n;
      const parts = [h('strong', null, END_TEXT[ended.status] ?? ended.status ?? 'Ended'), ` — ${plural(total, 'item', 'items')}`];
      const st = task?.item_stats;
      if (st && (st.ignored || st.overwritten)) {
        parts.push(` (${st.new.toLocaleString()} new, ${st.ignored.toLocaleString()} ignored as duplicates, ${st.overwritten.toLocaleString()} overwrote earlier ones)`);
      }
      replace(endLine, parts);
    }
  }

  return {
    el,
    start,
    /** The task record changed (status, stats, name for the export files). */
    setTask(t) {
      const first = !task;
      task = t;
      if (first) replace(exports, exportButtons('tasks', taskID, `${t.spider_name || 'task'}-${taskID}`));
      render();
    },
    get count() {
      return table.count;
    },
    destroy() {
      follower?.stop();
      table.destroy();
    },
  };
}
