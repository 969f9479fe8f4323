// #/spiders/:id — one spider: its fields and deduplication settings, Edit,
// and two tabs: its latest tasks (live, on the tasks channel) and its data
// (pages/spider-data.js). #/spiders/:id?tab=data opens the Data tab.

import { isEnded, watchTasks } from '../data/tasks.js';
import { getSpider } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { bytes } from '../lib/format.js';
import { poll } from '../lib/poll.js';
import { hashQuery, href } from '../lib/router.js';
import { can } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { callout, card, emptyState, errorBox, fields, liveIndicator, loading, pageHeader, shortID, taskStatus, timeAgo } from '../lib/ui.js';
import { createSpiderData } from './spider-data.js';
import { DEDUP_TEXT, openSpiderForm } from './spider-form.js';
import { taskDuration } from './tasks.js';

const BACK = { href: '#/spiders', label: 'Spiders' };
const TASKS_SHOWN = 25;
/** A spider changes only when someone edits it: a slow refresh is enough. */
const SPIDER_REFRESH_MS = 30_000;

/** @param {HTMLElement} view @param {{ id: string }} params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, { id }, ctx) {
  ctx.setTitle('Spider');
  const live = liveIndicator();
  const header = h('div', null, pageHeader({ title: 'Spider', back: BACK, actions: live.el }));
  const banner = h('div', { class: 'banner-slot' });
  const details = h('div', null, loading());
  const rest = h('div');
  replace(view, header, banner, card(null, details, { class: 'task-details' }), rest);

  let sp = null;
  let shown = '';
  let gone = false;
  let data = null;
  let tasks = null;
  let taskTotal = 0;
  const tabCount = { tasks: h('span', { class: 'tab-count' }, ''), data: h('span', { class: 'tab-count' }, '') };
  const tabs = {
    tasks: h('button', { class: 'tab', type: 'button', role: 'tab', id: 'tab-tasks', 'aria-controls': 'spider-tasks', onclick: () => showTab('tasks') }, 'Tasks', tabCount.tasks),
    data: h('button', { class: 'tab', type: 'button', role: 'tab', id: 'tab-data', 'aria-controls': 'spider-data', onclick: () => showTab('data') }, 'Data', tabCount.data),
  };
  const taskBody = h('div', null, loading('Loading tasks…'));
  const taskCard = h('section', { class: 'card', id: 'spider-tasks' }, taskBody);

  const watcher = poll((signal) => getSpider(id, signal), {
    interval: SPIDER_REFRESH_MS,
    onData(s) {
      if (gone) return;
      live.ok();
      replace(banner);
      const first = !sp;
      sp = s;
      if (first) start();
      render();
    },
    onError(err) {
      if (err.status === 401) return;
      if (err.status === 404 || err.status === 400) {
        notFound(err.message);
        return;
      }
      live.failed();
      if (!sp) replace(details, errorBox('Could not load the spider', err));
      else replace(banner, errorBox('Could not refresh the spider; showing the last known state', err));
    },
  });

  // The tabs need the spider's id and name, known once it is loaded.
  function start() {
    data = createSpiderData(sp, {
      onTotal(n) {
        tabCount.data.textContent = n.toLocaleString();
      },
    });
    tasks = watchTasks({ spider_id: sp.id, limit: TASKS_SHOWN }, {
      onData(page) {
        taskTotal = page.total;
        tabCount.tasks.textContent = taskTotal.toLocaleString();
        replace(taskBody, page.items.length ? taskTable(page.items) : emptyState('No tasks yet', h('p', null, 'Run the spider from the Spiders page or with ', h('code', null, `crawlhub run ${sp.name}`), '.')));
      },
      onError(err) {
        if (err.status !== 401) replace(taskBody, errorBox('Could not load the tasks', err));
      },
    });
    replace(rest, h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Tasks and data' }, tabs.tasks, tabs.data), taskCard, data.el);
    showTab(hashQuery(location.hash).get('tab') === 'data' ? 'data' : 'tasks', { address: false });
  }

  function showTab(name, { address = true } = {}) {
    for (const [k, tab] of Object.entries(tabs)) tab.setAttribute('aria-selected', String(k === name));
    taskCard.hidden = name !== 'tasks';
    data.el.hidden = name !== 'data';
    if (name === 'data') data.start();
    else data.pause();
    if (address) history.replaceState(history.state, '', `${href('/spiders', id)}${name === 'data' ? '?tab=data' : ''}`);
  }

  function render() {
    const json = JSON.stringify(sp);
    if (json === shown) return;
    shown = json;
    ctx.setTitle(sp.name);
    replace(
      header,
      pageHeader({
        title: sp.name,
        back: BACK,
        subtitle: h('span', null, 'Spider ', h('span', { class: 'mono', id: 'spider-id' }, sp.id), ' · updated ', timeAgo(sp.updated)),
        actions: [live.el, can('operator') ? h('button', { class: 'btn', type: 'button', id: 'edit-spider', onclick: edit }, 'Edit') : null],
      }),
    );
    const env = Object.keys(sp.env ?? {}).sort();
    replace(
      details,
      h(
        'div',
        { class: 'detail-grid' },
        fields([
          ['Command', h('code', { class: 'command', title: sp.command }, sp.command), 'command'],
          ['Environment', env.length ? h('span', { class: 'mono small', title: env.join(', ') }, env.join(', ')) : h('span', { class: 'muted' }, 'none'), 'env'],
        ]),
        fields([
          ['Archive', h('span', null, bytes(sp.size), ' · MD5 ', h('span', { class: 'mono', title: sp.md5 }, (sp.md5 ?? '').slice(0, 8))), 'archive'],
          ['Created', timeAgo(sp.created), 'created'],
        ]),
        fields([['Dedup', dedupText(sp), 'dedup']]),
      ),
    );
  }

  function taskTable(items) {
    const rowsOf = items.map((t) =>
      h(
        'tr',
        {
          dataset: { taskId: t.id, status: t.status },
          onclick: (e) => {
            if (!e.target.closest('a, button')) location.hash = href('/tasks', t.id);
          },
        },
        h('td', null, h('a', { class: 'strong-link mono', href: href('/tasks', t.id), title: t.id }, shortID(t.id))),
        h('td', { class: 'status-col' }, taskStatus(t.status, t.reason)),
        h('td', { class: 'nowrap' }, timeAgo(t.created)),
        h('td', { class: 'nowrap num-text' }, taskDuration(t)),
        h('td', { class: 'num' }, t.item_count > 0 ? h('a', { href: `${href('/tasks', t.id)}?tab=data` }, t.item_count.toLocaleString()) : isEnded(t.status) ? '0' : '–'),
      ),
    );
    return [
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-hover', id: 'spider-tasks-table' },
          h('thead', null, h('tr', null, ['Task', 'Status', 'Created', 'Duration', 'Items'].map((t) => h('th', { scope: 'col', class: t === 'Items' ? 'num' : null }, t)))),
          h('tbody', null, rowsOf),
        ),
      ),
      taskTotal > items.length
        ? h('p', { class: 'muted small table-note' }, `The newest ${items.length} of ${taskTotal.toLocaleString()}; `, h('a', { href: `${href('/tasks')}?spider=${encodeURIComponent(sp.id)}` }, 'all its tasks'), '.')
        : null,
    ];
  }

  function edit() {
    if (!sp) return;
    openSpiderForm(sp).then((saved) => {
      if (!saved) return;
      toast(`Saved ${saved.name}`);
      sp = saved;
      render();
    });
  }

  function notFound(message) {
    gone = true;
    stop();
    ctx.setTitle('Spider not found');
    replace(view, pageHeader({ title: 'Spider not found', back: BACK }), callout('warning', message, 'It may have been deleted, or the link is wrong. Its tasks stay in the task list.'));
  }

  function stop() {
    watcher.stop();
    tasks?.stop();
    data?.destroy();
    live.stop();
  }
  return stop;
}

/** "by url — keep the first", or that every item is new. */
export function dedupText(sp) {
  const keys = sp.dedup_keys ?? [];
  if (!keys.length) return h('span', { class: 'muted' }, 'none: every item is new');
  const policy = sp.dedup || 'ignore';
  return h('span', { title: DEDUP_TEXT[policy] ?? policy }, 'by ', keys.map((k, i) => [i ? ', ' : '', h('code', null, k)]), ` — ${policy === 'overwrite' ? 'keep the newest' : 'keep the first'}`);
}
