// #/tasks/:id — one task: its fields, live status, and two tabs: its log
// as it is written (from line 0, then live, then the end notice) and the
// items it saved (pages/task-data.js). #/tasks/:id?tab=data opens the Data
// tab; switching tabs rewrites the address without a reload.
// #/tasks/:id?line=N opens the log scrolled to line N (as numbered in the
// view, from 1) and marks it; a click on a line number gives that link.

import { followLog, isEnded, watchTask } from '../data/tasks.js';
import { getNode } from '../lib/api.js';
import { h, replace } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { createLogSearch } from '../lib/logsearch-ui.js';
import { createLogView } from '../lib/logview.js';
import { hashQuery, href } from '../lib/router.js';
import { can } from '../lib/session.js';
import { cancelWithConfirm, restart } from '../lib/task-actions.js';
import { toast } from '../lib/toast.js';
import { RPC } from '../lib/ws.js';
import { callout, card, fields, liveIndicator, loading, pageHeader, taskStatus, timeAgo } from '../lib/ui.js';
import { createTaskData } from './task-data.js';
import { logLevels, taskDuration } from './tasks.js';

const BACK = { href: '#/tasks', label: 'Tasks' };

/** @param {HTMLElement} view @param {{ id: string }} params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, { id }, ctx) {
  ctx.setTitle('Task');
  const live = liveIndicator();
  const header = h('div', null, pageHeader({ title: 'Task', back: BACK, actions: live.el }));
  const details = h('div', null, loading());
  const log = createLogView({ placeholder: 'Waiting for the task to start…' });
  const lineCount = h('span', { class: 'muted small', id: 'log-count' }, '');
  const followToggle = h(
    'button',
    { class: 'btn btn-small toggle', type: 'button', id: 'log-follow', 'aria-pressed': 'true', title: 'Keep the newest lines in view', onclick: () => log.setFollow(!log.following) },
    h('span', { class: 'toggle-box', 'aria-hidden': 'true' }),
    'Follow',
  );
  const search = createLogSearch({ taskID: id, log });
  log.onLineClick(linkLine);
  const download = h('button', { class: 'btn btn-small', type: 'button', id: 'log-download', onclick: save }, 'Download');
  const logNotice = h('div', { class: 'banner-slot' });
  const logCard = h(
    'section',
    { class: 'card log-card', id: 'task-log' },
    h('div', { class: 'card-header' }, h('div', { class: 'card-title' }, h('h2', null, 'Log'), lineCount), h('div', { class: 'toolbar' }, followToggle, download)),
    logNotice,
    search.el,
    log.el,
  );
  let itemCount = 0;
  const data = createTaskData(id, {
    onCount(n) {
      if (n > itemCount) itemCount = n;
      countItems();
    },
  });
  const tabCount = { log: h('span', { class: 'tab-count' }, ''), data: h('span', { class: 'tab-count' }, '') };
  const tabs = {
    log: h('button', { class: 'tab', type: 'button', role: 'tab', id: 'tab-log', 'aria-controls': 'task-log', onclick: () => showTab('log') }, 'Log', tabCount.log),
    data: h('button', { class: 'tab', type: 'button', role: 'tab', id: 'tab-data', 'aria-controls': 'task-data', onclick: () => showTab('data') }, 'Data', tabCount.data),
  };
  replace(view, header, card(null, details, { class: 'task-details' }), h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Log and data' }, tabs.log, tabs.data), logCard, data.el);
  showTab(hashQuery(location.hash).get('tab') === 'data' ? 'data' : 'log', { address: false });
  const wanted = Number.parseInt(hashQuery(location.hash).get('line') ?? '', 10);
  if (wanted >= 1) log.setCurrent(wanted - 1);

  /** Line n (from 0) becomes the current line, and its link the address (and the clipboard's). */
  function linkLine(n) {
    log.setCurrent(n);
    const link = `${href('/tasks', id)}?line=${n + 1}`;
    history.replaceState(history.state, '', link);
    const url = location.href;
    navigator.clipboard?.writeText(url).then(
      () => toast(`Link to line ${(n + 1).toLocaleString()} copied`),
      () => toast(`Link to line ${(n + 1).toLocaleString()}: the address bar has it`),
    );
  }

  function showTab(name, { address = true } = {}) {
    for (const [k, tab] of Object.entries(tabs)) tab.setAttribute('aria-selected', String(k === name));
    logCard.hidden = name !== 'log';
    data.el.hidden = name !== 'data';
    if (name === 'data') data.start();
    // The address says which tab is open (a reload or a shared link keeps
    // it), without a hashchange: the page is not mounted again.
    if (address) history.replaceState(history.state, '', `${href('/tasks', id)}${name === 'data' ? '?tab=data' : ''}`);
  }

  function countItems() {
    tabCount.data.textContent = itemCount.toLocaleString();
  }
  log.onFollow((on) => followToggle.setAttribute('aria-pressed', String(on)));

  let task = null;
  let shown = '';
  let ended = null; // the log's end notice
  let nodeName = '';
  let nodeAsked = '';
  let found = true;

  const watcher = watchTask(id, {
    onData(t) {
      live.ok();
      task = t;
      if ((t.item_count ?? 0) > itemCount) itemCount = t.item_count;
      countItems();
      data.setTask(t);
      if (t.node_id && nodeAsked !== t.node_id) lookUpNode(t.node_id);
      renderTask();
    },
    onError(err) {
      if (err.status === 401) return;
      if (err.status === 404 || err.status === 400) {
        notFound(err);
        return;
      }
      live.failed();
      if (!task) replace(details, callout('error', 'Could not load the task', err.message));
    },
  });

  const follower = followLog(id, {
    onLines({ lines }) {
      log.append(lines);
      countLines();
    },
    onEnd(end) {
      ended = end;
      log.setEnd(end);
      countLines();
      // The log may end before the status event comes: show it now.
      if (task && !isEnded(task.status) && end.status) {
        task = { ...task, status: end.status };
        data.setTask(task);
        renderTask();
      }
    },
    onError(err) {
      if (err.code === RPC.NOT_FOUND || err.code === RPC.INVALID_PARAMS) return; // the record says why
      replace(logNotice, callout('error', 'The live log is unavailable', err.message));
    },
  });

  function countLines() {
    const n = log.count;
    tabCount.log.textContent = Math.max(n, task?.log_lines ?? 0).toLocaleString();
    lineCount.textContent = `${n.toLocaleString()} ${n === 1 ? 'line' : 'lines'}${ended ? '' : task?.status === 'running' ? ' so far' : ''}`;
  }

  function renderTask() {
    if (!task || !found) return;
    const t = task;
    ctx.setTitle(`${t.spider_name || 'Task'} · ${t.status}`);
    if (!ended) {
      log.setPlaceholder(
        t.status === 'pending' ? 'Waiting for a node to start the task…' : t.status === 'running' ? 'Waiting for output…' : 'The task wrote nothing.',
      );
    }
    countLines();
    const json = JSON.stringify(t) + nodeName;
    if (json === shown) return;
    shown = json;
    const actions = [live.el];
    if (!can('operator')) {
      // A viewer is not offered what the server would refuse.
    } else if (!isEnded(t.status)) {
      actions.push(h('button', { class: 'btn btn-danger-outline', type: 'button', id: 'cancel-task', onclick: () => cancelWithConfirm(t) }, 'Cancel task'));
    } else {
      actions.push(
        h('button', { class: 'btn', type: 'button', id: 'restart-task', title: 'Run it again with the same settings', onclick: (e) => { e.currentTarget.disabled = true; restart(t).then((n) => { if (!n) e.currentTarget.disabled = false; }); } }, 'Restart'),
      );
    }
    replace(
      header,
      pageHeader({
        title: t.spider_name || 'Task',
        back: BACK,
        badges: h('span', { id: 'task-status' }, taskStatus(t.status, t.reason)),
        subtitle: h('span', null, 'Task ', h('span', { class: 'mono', id: 'task-id' }, t.id), ' · created ', timeAgo(t.created)),
        actions,
      }),
    );
    replace(details, taskFields(t), scrapyStats(t));
  }

  /** The stats Scrapy printed at the task's end, as a table of its keys. */
  function scrapyStats(t) {
    const stats = t.scrapy_stats;
    if (!stats || !Object.keys(stats).length) return null;
    const value = (v) => (typeof v === 'number' ? v.toLocaleString() : v === null ? '–' : String(v));
    return h(
      'details',
      { class: 'scrapy-stats', id: 'scrapy-stats', open: true },
      h('summary', null, 'Scrapy stats'),
      h(
        'table',
        { class: 'table table-compact' },
        h(
          'tbody',
          null,
          Object.keys(stats)
            .sort()
            .map((k) => h('tr', null, h('th', { scope: 'row', class: 'mono small' }, k), h('td', { class: typeof stats[k] === 'number' ? 'num' : 'mono small' }, value(stats[k])))),
        ),
      ),
    );
  }

  function taskFields(t) {
    const node = t.node_id
      ? h('a', { href: href('/nodes', t.node_id) }, nodeName || h('span', { class: 'mono' }, t.node_id))
      : h('span', { class: 'muted' }, 'not yet assigned');
    const env = Object.keys(t.env ?? {});
    const command = t.params ? `${t.command} ${t.params}` : t.command;
    const none = (text) => h('span', { class: 'muted' }, text);
    return h(
      'div',
      { class: 'detail-grid' },
      fields([
        ['Spider', h('a', { href: `${href('/tasks')}?spider=${encodeURIComponent(t.spider_id)}`, title: 'Tasks of this spider' }, t.spider_name || t.spider_id), 'spider'],
        ['Node', node, 'node'],
        ['Mode', { any: 'Any node', all: 'All nodes', nodes: 'Chosen nodes' }[t.mode] ?? t.mode, 'mode'],
        ['Command', h('code', { class: 'command', title: command }, command), 'command'],
      ]),
      fields([
        ['Created', dateTime(t.created), 'created'],
        ['Started', t.started ? dateTime(t.started) : none(isEnded(t.status) ? 'never' : 'not yet'), 'started'],
        ['Finished', t.finished ? dateTime(t.finished) : none(isEnded(t.status) ? '–' : 'not yet'), 'finished'],
        ['Duration', taskDuration(t), 'duration'],
        ['Log', logLevels(t, { full: true }), 'log-levels'],
      ]),
      fields([
        ['Exit code', t.exit_code ?? none(isEnded(t.status) ? 'none' : '–'), 'exit-code'],
        ['Timeout', t.timeout_seconds ? `${t.timeout_seconds} s` : none('none'), 'timeout'],
        env.length ? ['Environment', h('span', { class: 'mono small', title: env.join(', ') }, env.join(', '))] : null,
        t.reason ? ['Reason', t.reason, 'reason'] : null,
        t.created_by ? ['Run by', t.created_by, 'created-by'] : null,
        t.cancelled_by ? ['Cancelled by', t.cancelled_by, 'cancelled-by'] : null,
      ].filter(Boolean)),
    );
  }

  async function lookUpNode(nodeID) {
    nodeAsked = nodeID;
    try {
      const n = await getNode(nodeID);
      nodeName = n.name || n.hostname || '';
      renderTask();
    } catch {
      // The id is shown instead.
    }
  }

  function notFound(err) {
    found = false;
    stop();
    ctx.setTitle('Task not found');
    replace(view, pageHeader({ title: 'Task not found', back: BACK }), callout('warning', err.message, 'It may have been removed, or the link is wrong.'));
  }

  function save() {
    const blob = new Blob([log.text()], { type: 'text/plain;charset=utf-8' });
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `${task?.spider_name || 'task'}-${id}.log` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  function stop() {
    watcher.stop();
    follower.stop();
    live.stop();
    log.destroy();
    search.destroy();
    data.destroy();
  }
  return stop;
}
