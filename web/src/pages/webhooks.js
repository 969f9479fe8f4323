// #/webhooks (admin), "Alerts" — where crawlhub tells people that something
// happened: webhooks (an HTTP POST, generic JSON or Slack-compatible text)
// and email channels, each for the events it wants and optionally only some
// spiders. Create, edit, enable or disable, delete (asks first), send a test;
// the last deliveries of the selected channel and their outcome, live from
// the "webhooks" channel. A new channel's signing secret is shown once.

import { followDeliveries, deliveryLook, mergeDelivery, parseRecipients, WEBHOOK_EVENTS, watchWebhooks } from '../data/webhooks.js';
import { createWebhook, deleteWebhook, listDeliveries, listSpiders, testWebhook, updateWebhook } from '../lib/api.js';
import { confirmDialog, field, fieldError, openDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { toast } from '../lib/toast.js';
import { callout, card, emptyState, errorBox, freshness, loading, pageHeader, timeAgo } from '../lib/ui.js';

/** Deliveries shown for the selected channel. */
const SHOWN_DELIVERIES = 20;

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Alerts');
  const subtitle = h('span', null, '\u00a0');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, loading('Loading the alert channels…'));
  // The selected channel's deliveries, in a card of their own below.
  const deliveriesTitle = h('span', null, 'Last deliveries');
  const deliveriesBody = h('div', null);
  const deliveriesCard = h('div', { id: 'deliveries', class: 'deliveries', hidden: true }, card(deliveriesTitle, deliveriesBody));
  const newButton = h('button', { class: 'btn btn-primary', type: 'button', id: 'new-webhook', onclick: () => editDialog(null) }, '+ New channel');
  replace(
    view,
    pageHeader({ title: 'Alerts', subtitle, actions: [status.el, newButton] }),
    h('p', { class: 'muted' }, 'Webhooks and email channels are told when tasks end, nodes come and go and schedules skip a fire. Every webhook delivery is signed with its secret and retried for about an hour while the receiver fails.'),
    banner,
    h('section', { class: 'card' }, body),
    deliveriesCard,
  );

  const ctrl = new AbortController();
  let hooks = [];
  let spiders = new Map();
  let shown = null;
  let selected = '';
  let deliveries = [];
  listSpiders(ctrl.signal)
    .then((page) => {
      spiders = new Map((page?.items ?? []).map((s) => [s.id, s.name]));
      shown = null;
      render();
    })
    .catch(() => {});

  const watcher = watchWebhooks({
    onData(page) {
      status.ok();
      replace(banner);
      hooks = page?.items ?? [];
      if (selected && !hooks.some((w) => w.id === selected)) select('');
      if (!selected && hooks.length) select(hooks[0].id);
      render();
    },
    onError(err) {
      if (err.status === 401) return;
      status.failed();
      if (shown === null) replace(body, errorBox('Could not load the alert channels', err));
      else replace(banner, errorBox('Could not refresh the alert channels; showing the last known list', err));
    },
  });
  const live = followDeliveries({
    onDelivery(d) {
      if (d.webhook_id !== selected) return;
      deliveries = mergeDelivery(deliveries, d, SHOWN_DELIVERIES);
      renderDeliveries();
    },
    onResumed: () => loadDeliveries(),
  });

  function render() {
    subtitle.textContent = hooks.length === 1 ? '1 channel' : `${hooks.length} channels`;
    const json = JSON.stringify(hooks) + selected + spiders.size;
    if (json === shown) return;
    shown = json;
    replace(
      body,
      hooks.length
        ? hookTable()
        : emptyState('No alert channels', h('p', null, 'Create a webhook (Slack, a chat, your own receiver) or an email channel to be told when a task fails.')),
    );
  }

  function hookTable() {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', id: 'webhooks-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Name', 'Sends to', 'Events', 'Spiders', 'Status'].map((t) => h('th', { scope: 'col' }, t)),
            h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
          ),
        ),
        h('tbody', null, hooks.map(hookRow)),
      ),
    );
  }

  function hookRow(w) {
    const email = w.kind === 'email';
    return h(
      'tr',
      { dataset: { webhookId: w.id, name: w.name, enabled: String(!!w.enabled) }, class: w.id === selected ? 'is-selected' : null },
      h(
        'td',
        null,
        h('button', { class: 'link-button', type: 'button', dataset: { action: 'deliveries' }, 'aria-pressed': String(w.id === selected), title: 'Show its last deliveries', onclick: () => select(w.id) }, h('strong', null, w.name)),
        h('div', { class: 'muted small' }, email ? 'Email' : w.format === 'slack' ? 'Webhook, Slack text' : 'Webhook, JSON'),
      ),
      h('td', { class: 'mono small', dataset: { field: 'to' } }, email ? (w.recipients ?? []).join(', ') : w.url),
      h('td', { class: 'small', dataset: { field: 'events' } }, (w.events ?? []).join(', ')),
      h('td', { class: 'small' }, w.spider_ids?.length ? w.spider_ids.map((id) => spiders.get(id) ?? id).join(', ') : h('span', { class: 'muted' }, 'all')),
      h(
        'td',
        { dataset: { field: 'status' } },
        w.enabled ? h('span', { class: 'badge badge-ok' }, 'Enabled') : h('span', { class: 'badge badge-neutral', title: 'Nothing is sent but tests' }, 'Disabled'),
      ),
      h(
        'td',
        { class: 'actions' },
        h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'test' }, onclick: (e) => sendTest(w, e.currentTarget) }, 'Send a test'),
        h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'edit' }, onclick: () => editDialog(w) }, 'Edit'),
        h('button', { class: 'btn btn-small', type: 'button', dataset: { action: w.enabled ? 'disable' : 'enable' }, onclick: (e) => setEnabled(w, !w.enabled, e.currentTarget) }, w.enabled ? 'Disable' : 'Enable'),
        h('button', { class: 'btn btn-small btn-ghost btn-danger-text', type: 'button', dataset: { action: 'delete' }, onclick: () => remove(w) }, 'Delete'),
      ),
    );
  }

  function select(id) {
    if (id === selected) return;
    selected = id;
    deliveries = [];
    shown = null;
    render();
    deliveriesCard.hidden = !id;
    if (id) {
      replace(deliveriesBody, loading('Loading deliveries…'));
      loadDeliveries();
    }
  }

  async function loadDeliveries() {
    const id = selected;
    if (!id) return;
    try {
      const page = await listDeliveries(id, SHOWN_DELIVERIES, ctrl.signal);
      if (id !== selected) return;
      // Outcomes pushed while the list was read are kept (the newer wins).
      let merged = page?.items ?? [];
      for (const d of deliveries) merged = mergeDelivery(merged, d, SHOWN_DELIVERIES);
      deliveries = merged;
      renderDeliveries();
    } catch (err) {
      if (err.name === 'AbortError' || err.status === 401) return;
      replace(deliveriesBody, errorBox('Could not load the deliveries', err));
    }
  }

  function renderDeliveries() {
    const w = hooks.find((x) => x.id === selected);
    deliveriesTitle.textContent = `Last deliveries${w ? ` of ${w.name}` : ''}`;
    replace(
      deliveriesBody,
      deliveries.length
        ? h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'table', id: 'deliveries-table' },
              h('thead', null, h('tr', null, ['Event', 'Outcome', 'Attempts', 'Answer', 'Made', 'Last error'].map((t) => h('th', { scope: 'col' }, t)))),
              h('tbody', null, deliveries.map(deliveryRow)),
            ),
          )
        : emptyState('No deliveries yet', h('p', null, 'Send a test, or wait for one of its events.')),
    );
  }

  function deliveryRow(d) {
    const [cls, label] = deliveryLook(d.status);
    let outcome = h('span', { class: `badge ${cls}` }, label);
    if (d.status === 'retrying' && d.next_attempt) outcome = h('span', null, outcome, ' ', h('span', { class: 'muted small' }, 'next ', timeAgo(d.next_attempt)));
    return h(
      'tr',
      { dataset: { deliveryId: d.id, event: d.event, status: d.status } },
      h('td', { class: 'mono small' }, d.event),
      h('td', { dataset: { field: 'outcome' } }, outcome),
      h('td', { dataset: { field: 'attempts' } }, String(d.attempts ?? 0)),
      h('td', null, d.response_status ? String(d.response_status) : h('span', { class: 'muted' }, '—')),
      h('td', { class: 'nowrap' }, timeAgo(d.created)),
      h('td', { class: 'small', dataset: { field: 'error' } }, d.last_error ?? ''),
    );
  }

  async function sendTest(w, button) {
    button.disabled = true;
    select(w.id);
    try {
      const d = await testWebhook(w.id);
      deliveries = mergeDelivery(deliveries, d, SHOWN_DELIVERIES);
      renderDeliveries();
      if (d.status === 'delivered') toast(`Test delivered to ${w.name}`, { detail: d.response_status ? `The receiver answered ${d.response_status}.` : 'The mail server took it.' });
      else toast(`The test to ${w.name} failed`, { kind: 'error', detail: d.last_error });
    } catch (err) {
      if (err.status !== 401) toast(`Could not send a test to ${w.name}`, { kind: 'error', detail: err.message });
    } finally {
      button.disabled = false;
    }
  }

  async function setEnabled(w, enabled, button) {
    button.disabled = true;
    try {
      await updateWebhook(w.id, { enabled });
      toast(`${enabled ? 'Enabled' : 'Disabled'} ${w.name}`);
      watcher.refresh();
    } catch (err) {
      if (err.status !== 401) toast(`Could not change ${w.name}`, { kind: 'error', detail: err.message });
      button.disabled = false;
    }
  }

  async function remove(w) {
    const ok = await confirmDialog({
      id: 'delete-dialog',
      title: `Delete ${w.name}?`,
      message: 'It is told of nothing more, and its deliveries are deleted with it. Deliveries waiting for a retry are dropped.',
      confirmLabel: 'Delete channel',
      danger: true,
      onConfirm: () => deleteWebhook(w.id),
    });
    if (!ok) return;
    toast(`Deleted ${w.name}`);
    watcher.refresh();
  }

  function editDialog(w) {
    const form = webhookForm(w, spiders);
    const d = openDialog({
      id: 'webhook-dialog',
      title: w ? `Edit ${w.name}` : 'New alert channel',
      description: 'Only admins see this page: a webhook may point at any address this master can reach, internal ones too.',
      body: form.el,
      submitLabel: w ? 'Save' : 'Create',
      errorTitle: w ? 'The channel was not changed' : 'The channel was not created',
      onSubmit() {
        const req = form.request();
        return w ? updateWebhook(w.id, req) : createWebhook(req);
      },
    });
    d.done.then((saved) => {
      if (!saved) return;
      toast(w ? `Saved ${saved.name}` : `Created ${saved.name}`);
      if (!w && saved.kind !== 'email' && saved.secret) showSecret(saved);
      select(saved.id);
      watcher.refresh();
    });
  }

  return () => {
    ctrl.abort();
    live.stop();
    watcher.stop();
  };
}

/**
 * The fields of a channel, filled from w (null: a new one), and the
 * request they make.
 */
function webhookForm(w, spiders) {
  const kind = h('select', { id: 'webhook-kind', name: 'kind' }, h('option', { value: 'webhook' }, 'Webhook (HTTP POST)'), h('option', { value: 'email' }, 'Email'));
  kind.value = w?.kind ?? 'webhook';
  kind.disabled = Boolean(w);
  const name = h('input', { id: 'webhook-name', name: 'name', type: 'text', required: true, autocomplete: 'off', value: w?.name ?? '' });
  const url = h('input', { id: 'webhook-url', name: 'url', type: 'text', inputmode: 'url', autocomplete: 'off', spellcheck: 'false', placeholder: 'https://hooks.example.com/crawlhub', value: w?.url ?? '' });
  const recipients = h('textarea', { id: 'webhook-recipients', name: 'recipients', rows: 2, spellcheck: 'false', placeholder: 'ops@example.com, dev@example.com' }, (w?.recipients ?? []).join(', '));
  const format = h('select', { id: 'webhook-format', name: 'format' }, h('option', { value: 'json' }, 'JSON (generic)'), h('option', { value: 'slack' }, 'Slack-compatible text'));
  format.value = w?.format ?? 'json';
  const secret = h('input', { id: 'webhook-secret', name: 'secret', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: w ? 'unchanged' : 'made for you' });
  const enabled = h('input', { id: 'webhook-enabled', name: 'enabled', type: 'checkbox', checked: w ? Boolean(w.enabled) : true });
  const wanted = new Set(w?.events ?? ['task.failed']);
  const boxes = WEBHOOK_EVENTS.map(([value, label, hint]) =>
    h(
      'label',
      { class: 'check', for: `event-${value.replace('.', '-')}` },
      h('input', { type: 'checkbox', id: `event-${value.replace('.', '-')}`, name: 'events', value, checked: wanted.has(value) }),
      ` ${label} `,
      h('code', { class: 'small' }, value),
      hint ? h('span', { class: 'muted small' }, ` — ${hint}`) : null,
    ),
  );
  const events = h('fieldset', { class: 'field', id: 'webhook-events' }, h('legend', null, 'Events'), boxes);
  const chosen = new Set(w?.spider_ids ?? []);
  const spiderSelect = h(
    'select',
    { id: 'webhook-spiders', name: 'spider_ids', multiple: true, size: Math.min(6, Math.max(2, spiders.size)) },
    [...spiders].map(([id, n]) => h('option', { value: id, selected: chosen.has(id) }, n)),
  );
  const urlField = field('URL', url, 'http or https; redirects are not followed.');
  const recipientsField = field('Recipients', recipients, 'Addresses separated by commas; sent through the master’s mail server (--smtp-addr).');
  const formatField = field('Payload', format);
  const secretField = field('Secret', secret, w ? 'Leave empty to keep it; it is never shown again.' : 'Signs each delivery (X-Crawlhub-Signature). Empty: one is made and shown once.', true);
  function showKind() {
    const email = kind.value === 'email';
    urlField.hidden = email;
    formatField.hidden = email;
    secretField.hidden = email;
    recipientsField.hidden = !email;
  }
  kind.addEventListener('change', showKind);
  showKind();
  const el = [
    field('Name', name, 'What it is for, e.g. “ops channel”.'),
    field('Kind', kind),
    urlField,
    recipientsField,
    events,
    field('Spiders', spiderSelect, 'Only task and schedule events of these spiders; none chosen: every spider’s.', true),
    formatField,
    secretField,
    h('label', { class: 'check', for: 'webhook-enabled' }, enabled, ' Enabled'),
  ];
  return {
    el,
    request() {
      if (!name.value.trim()) throw fieldError(name, 'Give the channel a name.');
      const picked = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
      if (!picked.length) throw fieldError(boxes[0].querySelector('input'), 'Choose at least one event.');
      const req = {
        name: name.value.trim(),
        events: picked,
        spider_ids: [...spiderSelect.selectedOptions].map((o) => o.value),
        enabled: enabled.checked,
      };
      if (!w) req.kind = kind.value;
      if (kind.value === 'email') {
        const list = parseRecipients(recipients.value);
        if (!list.length) throw fieldError(recipients, 'Give at least one address.');
        req.recipients = list;
      } else {
        if (!url.value.trim()) throw fieldError(url, 'Give the URL to send to.');
        req.url = url.value.trim();
        req.format = format.value;
        if (secret.value) req.secret = secret.value;
      }
      return req;
    },
  };
}

/** A new webhook's secret, once, to set up the receiver's signature check. */
function showSecret(w) {
  const input = h('input', { id: 'webhook-secret-once', type: 'text', readonly: true, value: w.secret, spellcheck: 'false', autocomplete: 'off', onfocus: (e) => e.currentTarget.select() });
  openDialog({
    id: 'webhook-secret-dialog',
    title: `${w.name} created`,
    body: [
      callout('warning', 'Copy the secret now: it is shown only this once', 'The receiver checks each delivery with it: X-Crawlhub-Signature is sha256= and the hex HMAC-SHA256 of the body under this secret. If it is lost, set a new one.'),
      h('div', { class: 'field' }, h('label', { for: 'webhook-secret-once' }, 'Secret'), h('div', { class: 'copy-row' }, input)),
    ],
    cancelLabel: 'Done',
  });
  input.focus();
}
