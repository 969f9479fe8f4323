// #/schedules/:id — one schedule: its fields, the next five fire times (in
// the reader's time zone and the schedule's), its last fire and last skip,
// Run now, Edit, Delete, and the tasks it started, all updated live as it
// fires (the schedules and tasks channels).

import { watchSchedule } from '../data/schedules.js';
import { isEnded, watchTasks } from '../data/tasks.js';
import { deleteSchedule } from '../lib/api.js';
import { confirmDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { cronWords, localZone, zonedDateTime } from '../lib/format.js';
import { href } from '../lib/router.js';
import { can } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { callout, card, emptyState, errorBox, fields, liveIndicator, loading, pageHeader, shortID, taskStatus, timeAgo } from '../lib/ui.js';
import { openScheduleForm } from './schedule-form.js';
import { enabledSwitch, lastFire, runNow } from './schedules.js';
import { taskDuration } from './tasks.js';

const BACK = { href: '#/schedules', label: 'Schedules' };
const TASKS_SHOWN = 25;
const OVERLAP = { skip: 'Skip: not while its previous task is pending or running', allow: 'Allow: runs may overlap', queue: 'Queue: a new task waits for the previous one' };
const MISFIRE = { skip: 'Skip: missed fire times are forgotten', once: 'Once: fire once on start if one was missed in the last 24 h' };

/** @param {HTMLElement} view @param {{ id: string }} params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, { id }, ctx) {
  ctx.setTitle('Schedule');
  const live = liveIndicator();
  const header = h('div', null, pageHeader({ title: 'Schedule', back: BACK, actions: live.el }));
  const banner = h('div', { class: 'banner-slot' });
  const details = h('div', null, loading());
  const fires = h('div', { id: 'next-fires' }, loading());
  const taskCount = h('span', { class: 'muted small', id: 'schedule-task-count' });
  const taskBody = h('div', null, loading('Loading tasks…'));
  replace(
    view,
    header,
    banner,
    h('div', { class: 'grid schedule-grid' }, card('Schedule', details, { class: 'span-2' }), card('Next fire times', fires)),
    h('section', { class: 'card', id: 'schedule-tasks' }, h('div', { class: 'card-header' }, h('div', { class: 'card-title' }, h('h2', null, 'Tasks'), taskCount)), taskBody),
  );

  let schedule = null;
  let shown = '';
  let gone = false;
  const watcher = watchSchedule(id, {
    onData(s) {
      if (gone) return;
      live.ok();
      schedule = s;
      render();
    },
    onError(err) {
      if (err.status === 401) return;
      if (err.status === 404 || err.status === 400) {
        notFound(err.message);
        return;
      }
      live.failed();
      if (!schedule) replace(details, errorBox('Could not load the schedule', err));
      else replace(banner, errorBox('Could not refresh the schedule; showing the last known state', err));
    },
    onDeleted() {
      notFound('It was deleted. The tasks it started stay in the task list.');
    },
    onEvent(ev) {
      if (ev.event === 'fired') tasks.refresh();
    },
  });

  const tasks = watchTasks({ schedule_id: id, limit: TASKS_SHOWN }, {
    onData({ items, total }) {
      taskCount.textContent = total === 1 ? '1 task' : `${total.toLocaleString()} tasks`;
      if (!items.length) {
        replace(taskBody, emptyState('No tasks yet', h('p', null, 'Tasks appear here as the schedule fires, or when you run it now.')));
        return;
      }
      replace(taskBody, taskTable(items, total));
    },
    onError(err) {
      if (err.status !== 401) replace(taskBody, errorBox('Could not load the schedule’s tasks', err));
    },
  });

  function render() {
    const s = schedule;
    const json = JSON.stringify(s);
    if (json === shown) return;
    shown = json;
    ctx.setTitle(s.name);
    replace(banner);
    replace(
      header,
      pageHeader({
        title: s.name,
        back: BACK,
        badges: h('span', { class: `badge ${s.enabled ? 'badge-ok' : 'badge-neutral'}`, id: 'schedule-state' }, s.enabled ? 'Enabled' : 'Disabled'),
        subtitle: h('span', null, 'Runs ', s.spider_name ? h('a', { href: `${href('/tasks')}?spider=${encodeURIComponent(s.spider_id)}` }, s.spider_name) : 'a removed spider', ' at ', h('code', null, s.cron), ` (${s.timezone || 'UTC'})`),
        actions: [
          live.el,
          h('label', { class: 'switch-label' }, enabledSwitch(s), 'Enabled'),
          // A viewer is not offered what the server would refuse.
          can('operator')
            ? [
                h('button', { class: 'btn btn-primary', type: 'button', id: 'run-schedule', onclick: (e) => runNow(s, e.currentTarget).then(() => tasks.refresh()) }, '▶ Run now'),
                h('button', { class: 'btn', type: 'button', id: 'edit-schedule', onclick: () => edit() }, 'Edit'),
                h('button', { class: 'btn btn-ghost btn-danger-text', type: 'button', id: 'delete-schedule', onclick: () => remove() }, 'Delete'),
              ]
            : null,
        ],
      }),
    );
    const words = cronWords(s.cron);
    replace(
      details,
      h(
        'div',
        { class: 'detail-grid schedule-details' },
        fields([
          ['Spider', s.spider_name || '–', 'spider'],
          ['Cron', h('span', null, h('code', null, s.cron), words ? h('span', { class: 'muted' }, ` · ${words}`) : null), 'cron'],
          ['Time zone', s.timezone || 'UTC', 'timezone'],
          ['Where', s.mode === 'nodes' ? `${s.node_ids?.length ?? 0} chosen nodes` : s.mode === 'all' ? 'every online node' : 'any node', 'mode'],
          ['Parameters', s.params ? h('code', null, s.params) : '', 'params'],
          ['Timeout', s.timeout_seconds ? `${s.timeout_seconds} s` : 'none', 'timeout'],
        ]),
        fields([
          ['Overlap', OVERLAP[s.overlap] ?? s.overlap, 'overlap'],
          ['Missed fire times', MISFIRE[s.misfire] ?? s.misfire, 'misfire'],
          ['Last fire', lastFire(s), 'last-fire'],
          ['Last skip', s.last_skip ? h('span', null, timeAgo(s.last_skip), s.last_skip_reason ? h('span', { class: 'muted' }, ` · ${s.last_skip_reason}`) : null) : 'never', 'last-skip'],
          ['Created', timeAgo(s.created), 'created'],
          ['Updated', timeAgo(s.updated), 'updated'],
        ]),
      ),
    );
    renderFires(s);
  }

  function renderFires(s) {
    const list = s.next_fires ?? [];
    if (!list.length) {
      replace(fires, h('p', { class: 'muted' }, 'None: the expression has no future fire times.'));
      return;
    }
    const mine = localZone();
    const theirs = s.timezone || 'UTC';
    replace(
      fires,
      s.enabled ? null : callout('info', 'Disabled', 'It fires at these times once enabled again.'),
      h('div', { class: 'muted small' }, mine === theirs ? `Your time and the schedule’s (${mine})` : `Your time (${mine}), and below it the schedule’s (${theirs})`),
      h(
        'ol',
        { class: 'fire-times fire-list' },
        list.map((f) =>
          h(
            'li',
            null,
            h('time', { datetime: f, dataset: { zone: 'local' } }, zonedDateTime(f, mine)),
            mine === theirs ? null : h('div', { class: 'muted small', dataset: { zone: 'schedule' } }, zonedDateTime(f, theirs)),
          ),
        ),
      ),
    );
  }

  function taskTable(items, total) {
    const rowsOf = items.map((t) =>
      h(
        'tr',
        {
          dataset: { taskId: t.id, status: t.status },
          onclick: (e) => {
            if (!e.target.closest('a, button')) location.hash = href('/tasks', t.id);
          },
        },
        h('td', null, h('a', { class: 'strong-link mono', href: href('/tasks', t.id), title: t.id }, shortID(t.id)), t.node_id ? h('span', { class: 'muted small' }, ` · node ${shortID(t.node_id)}`) : null),
        h('td', { class: 'status-col' }, taskStatus(t.status, t.reason)),
        h('td', { class: 'nowrap' }, timeAgo(t.created)),
        h('td', { class: 'nowrap num-text' }, taskDuration(t)),
        h('td', { class: 'num' }, t.log_lines > 0 ? t.log_lines.toLocaleString() : isEnded(t.status) ? '0' : '–'),
      ),
    );
    return [
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'table table-hover', id: 'schedule-tasks-table' },
          h('thead', null, h('tr', null, ['Task', 'Status', 'Created', 'Duration', 'Lines'].map((t) => h('th', { scope: 'col', class: t === 'Lines' ? 'num' : null }, t)))),
          h('tbody', null, rowsOf),
        ),
      ),
      total > items.length
        ? h('p', { class: 'muted small table-note' }, `The newest ${items.length} of ${total.toLocaleString()}; `, h('a', { href: `${href('/tasks')}?spider=${encodeURIComponent(schedule?.spider_id ?? '')}` }, 'all tasks of the spider'), '.')
        : null,
    ];
  }

  function edit() {
    if (!schedule) return;
    openScheduleForm({ schedule }).then((saved) => {
      if (!saved) return;
      toast(`Saved ${saved.name}`);
      schedule = saved;
      render();
    });
  }

  async function remove() {
    const s = schedule;
    const ok = await confirmDialog({
      id: 'delete-dialog',
      title: `Delete ${s.name}?`,
      message: 'It stops firing on every master. The tasks it started and their logs stay.',
      confirmLabel: 'Delete schedule',
      danger: true,
      onConfirm: () => deleteSchedule(s.id),
    });
    if (!ok) return;
    gone = true;
    toast(`Deleted ${s.name}`);
    location.hash = '#/schedules';
  }

  function notFound(message) {
    gone = true;
    watcher.stop();
    replace(header, pageHeader({ title: 'Schedule not found', back: BACK }));
    replace(banner);
    replace(details, callout('warning', 'No such schedule', message));
    replace(fires);
  }

  return () => {
    watcher.stop();
    tasks.stop();
    live.stop();
  };
}
