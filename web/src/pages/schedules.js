// #/schedules — every schedule: when it fires next, what its last fire did,
// an enabled switch, Run now, Delete, and New schedule. Rows change live
// (the schedules and tasks channels).

import { watchSchedules } from '../data/schedules.js';
import { deleteSchedule, runSchedule, updateSchedule } from '../lib/api.js';
import { confirmDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { cronWords, dateTime } from '../lib/format.js';
import { href } from '../lib/router.js';
import { can } from '../lib/session.js';
import { toast } from '../lib/toast.js';
import { emptyState, errorBox, liveIndicator, loading, pageHeader, taskStatusBadge, timeAgo, timeUntil } from '../lib/ui.js';
import { openScheduleForm } from './schedule-form.js';

const OVERLAP_LABEL = { skip: 'Skip', allow: 'Allow', queue: 'Queue' };

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Schedules');
  const subtitle = h('span', null, '\u00a0');
  const live = liveIndicator();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, loading('Loading schedules…'));
  // A viewer is not offered what the server would refuse.
  const operator = can('operator');
  const newButton = operator ? h('button', { class: 'btn btn-primary', type: 'button', id: 'new-schedule', onclick: () => create() }, '+ New schedule') : null;
  replace(view, pageHeader({ title: 'Schedules', subtitle, actions: [live.el, newButton] }), banner, h('section', { class: 'card' }, body));

  const tbody = h('tbody');
  const table = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'table', id: 'schedules-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Name', 'When', 'Enabled', 'Next fire', 'Last fire', 'Overlap'].map((t) => h('th', { scope: 'col' }, t)),
          operator ? h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
        ),
      ),
      tbody,
    ),
  );

  /** @type {Map<string, { json: string, tr: HTMLElement }>} */
  let rows = new Map();
  let loaded = false;
  let highlight = '';
  const watcher = watchSchedules({
    onData({ items }) {
      live.ok();
      replace(banner);
      render(items);
    },
    onError(err) {
      if (err.status === 401) return;
      live.failed();
      if (!loaded) replace(body, errorBox('Could not load the schedules', err));
      else replace(banner, errorBox('Could not refresh the schedules; showing the last known state', err));
    },
  });

  function render(items) {
    subtitle.textContent = items.length === 1 ? '1 schedule' : `${items.length} schedules`;
    loaded = true;
    if (!items.length) {
      rows = new Map();
      replace(body, emptyState('No schedules yet', h('p', null, 'A schedule runs a spider at the times of a cron expression, such as every night at 03:00.'), operator ? h('button', { class: 'btn btn-primary', type: 'button', onclick: () => create() }, 'Create a schedule') : null));
      return;
    }
    if (!body.contains(table)) replace(body, table);
    // Keyed update: unchanged rows stay (with their focus).
    const next = new Map();
    const trs = items.map((s) => {
      const json = JSON.stringify(s);
      const old = rows.get(s.id);
      const tr = old && old.json === json ? old.tr : scheduleRow(s);
      next.set(s.id, { json, tr });
      return tr;
    });
    if (trs.length !== tbody.children.length || trs.some((tr, i) => tbody.children[i] !== tr)) tbody.replaceChildren(...trs);
    rows = next;
    if (highlight) {
      tbody.querySelector(`tr[data-schedule-id="${CSS.escape(highlight)}"]`)?.classList.add('is-new');
      highlight = '';
    }
  }

  function scheduleRow(s) {
    const words = cronWords(s.cron);
    return h(
      'tr',
      { dataset: { scheduleId: s.id, scheduleName: s.name, enabled: String(s.enabled) } },
      h(
        'td',
        null,
        h('a', { class: 'strong-link', href: href('/schedules', s.id) }, s.name),
        h('div', { class: 'muted small' }, s.spider_name ? h('a', { href: `${href('/tasks')}?spider=${encodeURIComponent(s.spider_id)}`, title: `Tasks of ${s.spider_name}` }, s.spider_name) : 'spider removed', modeText(s)),
      ),
      h('td', { dataset: { field: 'cron' } }, h('code', { class: 'cron' }, s.cron), h('div', { class: 'muted small' }, [words, s.timezone || 'UTC'].filter(Boolean).join(' · '))),
      h('td', null, enabledSwitch(s)),
      h('td', { class: 'nowrap', dataset: { field: 'next-fire' } }, s.enabled && s.next_fire ? timeUntil(s.next_fire) : h('span', { class: 'muted' }, s.enabled ? '–' : 'disabled')),
      h('td', { class: 'nowrap', dataset: { field: 'last-fire' } }, lastFire(s)),
      h('td', { title: `Overlap: ${s.overlap}; missed fire times: ${s.misfire}` }, OVERLAP_LABEL[s.overlap] ?? s.overlap),
      operator ? actionsCell(s) : null,
    );
  }

  function actionsCell(s) {
    return h(
      'td',
      { class: 'actions' },
      h('button', { class: 'btn btn-primary btn-small', type: 'button', dataset: { action: 'run' }, title: 'Fire now, whatever the cron and the switch say', onclick: (e) => runNow(s, e.currentTarget) }, '▶ Run now'),
      h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'edit' }, onclick: () => edit(s) }, 'Edit'),
      h('button', { class: 'btn btn-small btn-ghost btn-danger-text', type: 'button', dataset: { action: 'delete' }, onclick: () => remove(s) }, 'Delete'),
    );
  }

  function create() {
    openScheduleForm().then((s) => {
      if (!s) return;
      toast(`Created ${s.name}`, { detail: s.enabled ? `Next fire ${dateTime(s.next_fire)}.` : 'Disabled: it fires only when you run it.' });
      highlight = s.id;
      watcher.refresh();
    });
  }

  function edit(s) {
    openScheduleForm({ schedule: s }).then((saved) => {
      if (saved) toast(`Saved ${saved.name}`);
    });
  }

  async function remove(s) {
    const ok = await confirmDialog({
      id: 'delete-dialog',
      title: `Delete ${s.name}?`,
      message: 'It stops firing on every master. The tasks it started and their logs stay.',
      confirmLabel: 'Delete schedule',
      danger: true,
      onConfirm: () => deleteSchedule(s.id),
    });
    if (!ok) return;
    toast(`Deleted ${s.name}`);
    watcher.refresh();
  }

  return () => {
    watcher.stop();
    live.stop();
  };
}

/** "any node", "all nodes", "2 nodes" after the spider's name. */
export function modeText(s) {
  if (s.mode === 'all') return ' · all nodes';
  if (s.mode === 'nodes') return ` · ${s.node_ids?.length ?? 0} ${s.node_ids?.length === 1 ? 'node' : 'nodes'}`;
  return '';
}

/**
 * The enabled switch: PUT {enabled}; the row follows the updated event. A
 * viewer sees it, but cannot flip it.
 */
export function enabledSwitch(s) {
  if (!can('operator')) {
    return h(
      'button',
      { class: 'switch', type: 'button', role: 'switch', disabled: true, 'aria-checked': String(s.enabled), 'aria-label': `${s.name} enabled`, title: 'Only operators and admins can change this' },
      h('span', { class: 'toggle-box', 'aria-hidden': 'true' }),
    );
  }
  const button = h(
    'button',
    {
      class: 'switch',
      type: 'button',
      role: 'switch',
      'aria-checked': String(s.enabled),
      'aria-label': `${s.name} enabled`,
      title: s.enabled ? 'Fires at the cron’s times; click to pause it' : 'Paused; click to fire at the cron’s times again',
      dataset: { action: 'toggle' },
      onclick: async () => {
        const on = button.getAttribute('aria-checked') !== 'true';
        button.disabled = true;
        button.setAttribute('aria-checked', String(on));
        try {
          await updateSchedule(s.id, { enabled: on });
        } catch (err) {
          button.setAttribute('aria-checked', String(!on));
          if (err.status !== 401) toast(`Could not ${on ? 'enable' : 'disable'} ${s.name}`, { kind: 'error', detail: err.message });
        } finally {
          button.disabled = false;
        }
      },
    },
    h('span', { class: 'toggle-box', 'aria-hidden': 'true' }),
  );
  return button;
}

/** The last fire: when, and its task's status linking to the task. */
export function lastFire(s) {
  if (!s.last_fire) return h('span', { class: 'muted' }, 'never');
  return h(
    'span',
    { class: 'last-fire' },
    timeAgo(s.last_fire),
    s.last_task_id
      ? h('a', { class: 'last-task', href: href('/tasks', s.last_task_id), title: 'Its task' }, taskStatusBadge(s.last_task_status || 'pending'))
      : null,
  );
}

/** Run now, then a toast linking to the task. */
export async function runNow(s, button) {
  if (button) button.disabled = true;
  try {
    const res = await runSchedule(s.id);
    const tasks = res?.items ?? [];
    const item = toast(`Started ${s.name}`, { detail: tasks.length === 1 ? 'Its task:' : `${tasks.length} tasks:` });
    item.querySelector('.toast-detail')?.append(
      ...tasks.slice(0, 3).flatMap((t, i) => [i ? ', ' : ' ', h('a', { href: href('/tasks', t.id), class: 'toast-link' }, `task ${t.id.slice(-8)}`)]),
    );
    return tasks;
  } catch (err) {
    if (err.status !== 401) toast(`Could not run ${s.name}`, { kind: 'error', detail: err.message });
    return [];
  } finally {
    if (button) button.disabled = false;
  }
}
