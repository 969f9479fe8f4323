// The schedule form, a dialog shared by the schedule list (New schedule)
// and a schedule's page (Edit). As the cron expression or the time zone is
// typed it shows the next five fire times, in the person's own time zone
// and in the schedule's, or the server's reason the expression is wrong
// (and Save waits until it is right).

import { loadNodes } from '../data/nodes.js';
import { cronPreview } from '../data/schedules.js';
import { createSchedule, listSpiders, updateSchedule } from '../lib/api.js';
import { openDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { COMMON_ZONES, cronWords, localZone, zonedDateTime } from '../lib/format.js';
import { callout, errorBox, loading, statusBadge } from '../lib/ui.js';

const OVERLAP = [
  ['skip', 'Skip', 'Do not start while its previous task is still pending or running (recorded as a skip).'],
  ['allow', 'Allow', 'Start anyway: runs may overlap.'],
  ['queue', 'Queue', 'Start a task that waits for the previous one to end.'],
];

const MISFIRE = [
  ['skip', 'Skip', 'Fire times missed while no master ran are forgotten.'],
  ['once', 'Once', 'Fire once on start if a fire time was missed in the last 24 h.'],
];

const MODES = [
  ['any', 'Any node', 'One task, taken by the first free node.'],
  ['all', 'All nodes', 'One task on every online node.'],
  ['nodes', 'Chosen nodes', 'One task on each node you pick; offline ones get theirs when they are back.'],
];

/**
 * Open the form. Without `schedule` it creates one (for `spiderID` if
 * given); with it, it edits that schedule. Resolves to the saved schedule,
 * or undefined when dismissed.
 * @param {{ schedule?: import('../data/schedules.js').Schedule, spiderID?: string }} [opts]
 */
export async function openScheduleForm({ schedule, spiderID } = {}) {
  const s = schedule ?? { name: '', spider_id: spiderID ?? '', cron: '', timezone: localZone(), mode: 'any', node_ids: [], params: '', overlap: 'skip', misfire: 'skip', enabled: true };
  const spider = h('select', { id: 'sched-spider', name: 'spider', required: true }, h('option', { value: '' }, 'Loading spiders…'));
  const name = h('input', { id: 'sched-name', name: 'name', type: 'text', required: Boolean(schedule), autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. books-nightly', value: s.name });
  const cron = h('input', { id: 'sched-cron', name: 'cron', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder: 'e.g. 0 3 * * *  or  @every 30m', value: s.cron });
  const zoneList = h('datalist', { id: 'sched-zones' }, [...new Set([localZone(), ...COMMON_ZONES])].map((z) => h('option', { value: z })));
  const tz = h('input', { id: 'sched-tz', name: 'timezone', type: 'text', autocomplete: 'off', spellcheck: 'false', list: 'sched-zones', placeholder: 'UTC', value: s.timezone });
  const preview = h('div', { class: 'cron-preview', id: 'cron-preview', 'aria-live': 'polite' });
  const nodeList = h('div', { class: 'node-picker', id: 'sched-nodes', hidden: s.mode !== 'nodes' }, loading('Loading nodes…'));
  const params = h('input', { id: 'sched-params', name: 'params', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. --pages 10', value: s.params ?? '' });
  const timeout = h('input', { id: 'sched-timeout', name: 'timeout', type: 'number', min: '0', step: '1', inputmode: 'numeric', placeholder: 'No limit', value: s.timeout_seconds || '' });
  const enabled = h('input', { type: 'checkbox', name: 'enabled', id: 'sched-enabled', checked: s.enabled });

  let cronOK = true; // until the server says otherwise
  const previewer = cronPreview({
    onState(st) {
      cronOK = st.state !== 'error' || st.status !== 400;
      if (cronOK) cron.removeAttribute('aria-invalid');
      else cron.setAttribute('aria-invalid', 'true');
      renderPreview(st);
      d.checkSubmit();
    },
  });
  const typed = () => previewer.set(cron.value, tz.value);
  cron.addEventListener('input', typed);
  tz.addEventListener('input', typed);

  const d = openDialog({
    id: 'schedule-dialog',
    title: schedule ? `Edit ${schedule.name}` : 'New schedule',
    description: 'Runs a spider at the fire times of a cron expression, once per fire time whichever masters are up.',
    body: [
      h('div', { class: 'form-row' }, field('Spider', spider), field('Name', name, schedule ? 'Unique.' : 'Unique. Empty: the spider’s name and the cron.', !schedule)),
      h(
        'div',
        { class: 'form-row' },
        field('Cron', cron, h('span', null, 'Five fields (minute hour day month weekday), six with seconds first, or ', h('code', null, '@hourly'), ', ', h('code', null, '@every 30s'), '…')),
        field('Time zone', tz, 'IANA name; the cron is read on this zone’s clocks.'),
      ),
      zoneList,
      preview,
      radios('mode', 'Where to run', MODES, s.mode, modeChanged),
      nodeList,
      h(
        'div',
        { class: 'form-row' },
        field('Parameters', params, 'Added to the spider’s command.', true),
        field('Timeout', h('div', { class: 'input-suffix' }, timeout, h('span', null, 'seconds')), 'Stopped after this long. Empty: no limit.', true),
      ),
      h('div', { class: 'form-row' }, radios('overlap', 'If the previous run is still going', OVERLAP, s.overlap), radios('misfire', 'Missed fire times', MISFIRE, s.misfire)),
      h('label', { class: 'check' }, enabled, ' Enabled: fire at the cron’s times (Run now works either way)'),
    ],
    submitLabel: schedule ? 'Save' : 'Create schedule',
    errorTitle: 'The schedule was not saved',
    canSubmit: () => cronOK,
    async onSubmit(form) {
      if (!spider.value) throw fieldError(spider, 'Choose the spider to run.');
      if (schedule && !name.value.trim()) throw fieldError(name, 'Give the schedule a name.');
      if (!cron.value.trim()) throw fieldError(cron, 'Say when to run it, e.g. 0 3 * * * (03:00 every day).');
      const body = {
        name: name.value.trim() || undefined, // a new one is named after its spider and cron
        spider_id: spider.value,
        cron: cron.value.trim(),
        timezone: tz.value.trim(),
        mode: form.elements.mode.value,
        params: params.value.trim(),
        overlap: form.elements.overlap.value,
        misfire: form.elements.misfire.value,
        enabled: enabled.checked,
        timeout: 0,
      };
      if (body.mode === 'nodes') {
        body.node_ids = [...form.querySelectorAll('input[name="node"]:checked')].map((c) => c.value);
        if (!body.node_ids.length) throw new Error('Pick at least one node.');
      }
      const t = timeout.value.trim();
      if (t) {
        const n = Number(t);
        if (!Number.isInteger(n) || n < 0) throw fieldError(timeout, 'The timeout is a whole number of seconds.');
        body.timeout = n;
      }
      return schedule ? updateSchedule(schedule.id, body) : createSchedule(body);
    },
  });

  function renderPreview(st) {
    if (st.state === 'empty') {
      replace(preview, h('p', { class: 'muted small' }, 'The next fire times appear here as you type.'));
      return;
    }
    if (st.state === 'checking') {
      preview.classList.add('is-checking');
      return;
    }
    preview.classList.remove('is-checking');
    if (st.state === 'error') {
      replace(preview, callout(st.status === 400 ? 'error' : 'warning', st.status === 400 ? 'This cron expression does not work' : 'Could not check the expression', st.message));
      return;
    }
    const mine = localZone();
    const theirs = tz.value.trim() || 'UTC';
    const words = cronWords(cron.value);
    replace(
      preview,
      h('div', { class: 'preview-head' }, h('strong', null, 'Next fire times'), words ? h('span', { class: 'muted small' }, ` · ${words}`) : null),
      h(
        'div',
        { class: 'preview-cols' },
        fireColumn(`Your time (${mine})`, st.fires, mine, 'local'),
        fireColumn(`Schedule’s time (${theirs})`, st.fires, theirs, 'schedule'),
      ),
    );
  }

  function modeChanged() {
    nodeList.hidden = d.form.elements.mode.value !== 'nodes';
  }

  listSpiders()
    .then((page) => {
      const items = page?.items ?? [];
      if (!items.length) {
        replace(spider, h('option', { value: '' }, 'No spiders yet: upload one first'));
        return;
      }
      replace(spider, h('option', { value: '' }, 'Choose a spider…'), items.map((sp) => h('option', { value: sp.id }, sp.name)));
      spider.value = s.spider_id && items.some((sp) => sp.id === s.spider_id) ? s.spider_id : '';
    })
    .catch((err) => {
      if (err.status !== 401) d.showError('Could not list the spiders', err);
    });

  loadNodes()
    .then((nodes) => {
      if (!nodes.length) {
        replace(nodeList, callout('warning', 'No nodes have registered', 'Start an agent first.'));
        return;
      }
      const picked = new Set(s.node_ids ?? []);
      replace(
        nodeList,
        nodes.map((n) =>
          h(
            'label',
            { class: 'node-option' },
            h('input', { type: 'checkbox', name: 'node', value: n.id, checked: picked.has(n.id) }),
            h('span', { class: 'strong' }, n.name || n.hostname || n.id),
            h('span', { class: 'muted small mono' }, n.ip || ''),
            statusBadge(n.status),
          ),
        ),
      );
    })
    .catch((err) => {
      if (err.status !== 401) replace(nodeList, errorBox('Could not list the nodes', err));
    });

  typed();
  try {
    return await d.done;
  } finally {
    previewer.stop();
  }
}

function fireColumn(title, fires, zone, key) {
  return h(
    'div',
    { class: 'preview-col', dataset: { zone: key } },
    h('div', { class: 'muted small' }, title),
    h('ol', { class: 'fire-times' }, fires.map((f) => h('li', null, h('time', { datetime: f }, zonedDateTime(f, zone))))),
  );
}

function radios(name, legend, options, value, onchange) {
  return h(
    'fieldset',
    { class: 'choices', id: `sched-${name}` },
    h('legend', null, legend),
    options.map(([v, title, note]) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name, value: v, checked: v === value, onchange }),
        h('span', { class: 'choice-text' }, h('strong', null, title), h('span', { class: 'muted small' }, note)),
      ),
    ),
  );
}

function field(label, input, help, optional = false) {
  const control = input.matches('input, textarea, select') ? input : input.querySelector('input, textarea, select');
  const id = control?.id;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id || null }, label, optional ? h('span', { class: 'optional' }, ' optional') : null),
    input,
    help ? h('div', { class: 'help', id: id ? `${id}-help` : null }, help) : null,
  );
}

function fieldError(input, message) {
  input.focus();
  input.setAttribute('aria-invalid', 'true');
  input.addEventListener('input', () => input.removeAttribute('aria-invalid'), { once: true });
  return new Error(message);
}
