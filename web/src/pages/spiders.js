// #/spiders — the spiders: upload one, run it, deploy it, delete it.

import { loadNodes } from '../data/nodes.js';
import { followSync, syncSummary } from '../data/spiders.js';
import { createSpider, deleteSpider, deploySpider, listSpiders, runTasks } from '../lib/api.js';
import { confirmDialog, field, fieldError, openDialog } from '../lib/dialog.js';
import { h, replace } from '../lib/dom.js';
import { parseEnv } from '../lib/env.js';
import { bytes } from '../lib/format.js';
import { poll } from '../lib/poll.js';
import { href } from '../lib/router.js';
import { toast } from '../lib/toast.js';
import { can } from '../lib/session.js';
import { callout, emptyState, errorBox, freshness, loading, pageHeader, statusBadge, timeAgo } from '../lib/ui.js';
import { dedupFields } from './spider-form.js';

/** Spiders change only when someone uploads or deletes one: a slow refresh is enough. */
const SPIDERS_REFRESH_MS = 30_000;
/** How long a deploy waits for the nodes to confirm before saying who did not. */
const DEPLOY_WAIT_MS = 15_000;

/** @param {HTMLElement} view @param {object} _params @param {{ setTitle: (t: string) => void }} ctx */
export function mount(view, _params, ctx) {
  ctx.setTitle('Spiders');
  const subtitle = h('span', null, '\u00a0');
  const status = freshness();
  const banner = h('div', { class: 'banner-slot' });
  const body = h('div', null, h('section', { class: 'card' }, loading('Loading spiders…')));
  // A viewer is not offered what the server would refuse.
  const operator = can('operator');
  const newButton = operator ? h('button', { class: 'btn btn-primary', type: 'button', id: 'new-spider', onclick: () => uploadDialog() }, '+ New spider') : null;
  replace(view, pageHeader({ title: 'Spiders', subtitle, actions: [status.el, newButton] }), banner, body);

  let shown = null;
  let highlight = '';
  const watcher = poll(listSpiders, {
    interval: SPIDERS_REFRESH_MS,
    onData(page) {
      status.ok();
      replace(banner);
      const items = page?.items ?? [];
      subtitle.textContent = items.length === 1 ? '1 spider' : `${items.length} spiders`;
      const json = JSON.stringify(items) + highlight;
      if (json === shown) return;
      shown = json;
      replace(body, h('section', { class: 'card' }, items.length ? spiderTable(items) : noSpiders()));
      if (highlight) {
        body.querySelector(`tr[data-spider-id="${CSS.escape(highlight)}"]`)?.classList.add('is-new');
        highlight = '';
      }
    },
    onError(err) {
      if (err.status === 401) return;
      status.failed();
      if (shown === null) replace(body, errorBox('Could not load the spiders', err));
      else replace(banner, errorBox('Could not refresh the spiders; showing the last known list', err));
    },
  });

  function noSpiders() {
    return emptyState(
      'No spiders yet',
      h('p', null, 'A spider is a zip of your code and the command that runs it. Upload one to run it on your nodes.'),
      operator ? h('button', { class: 'btn btn-primary', type: 'button', onclick: () => uploadDialog() }, 'Upload a spider') : null,
    );
  }

  function spiderTable(spiders) {
    return h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'table', id: 'spiders-table' },
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            ['Name', 'Command', 'MD5', 'Size', 'Updated'].map((t) => h('th', { scope: 'col', class: t === 'Size' ? 'num' : null }, t)),
            operator ? h('th', { scope: 'col', class: 'actions-col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null,
          ),
        ),
        h('tbody', null, spiders.map(spiderRow)),
      ),
    );
  }

  function spiderRow(sp) {
    const envCount = Object.keys(sp.env ?? {}).length;
    return h(
      'tr',
      { dataset: { spiderId: sp.id, spiderName: sp.name } },
      h(
        'td',
        null,
        h('a', { class: 'strong-link', href: href('/spiders', sp.id), title: `${sp.name}: its tasks, its data, its settings` }, sp.name),
        envCount ? h('div', { class: 'muted small', title: Object.keys(sp.env).sort().join(', ') }, `${envCount} environment ${envCount === 1 ? 'variable' : 'variables'}`) : null,
      ),
      h('td', null, h('code', { class: 'command' }, sp.command)),
      h('td', { class: 'mono muted', title: sp.md5 || null }, sp.md5 ? sp.md5.slice(0, 8) : '–'),
      h('td', { class: 'num' }, bytes(sp.size)),
      h('td', { class: 'nowrap' }, timeAgo(sp.updated)),
      operator ? actionsCell(sp) : null,
    );
  }

  function actionsCell(sp) {
    return h(
      'td',
      { class: 'actions' },
      h('button', { class: 'btn btn-primary btn-small', type: 'button', dataset: { action: 'run' }, onclick: () => runDialog(sp) }, '▶ Run'),
      h('button', { class: 'btn btn-small', type: 'button', dataset: { action: 'deploy' }, title: 'Send the archive to every online node now (they also fetch it before a run)', onclick: (e) => deploy(sp, e.currentTarget) }, 'Deploy'),
      h('button', { class: 'btn btn-small btn-ghost btn-danger-text', type: 'button', dataset: { action: 'delete' }, onclick: () => remove(sp) }, 'Delete'),
    );
  }

  async function deploy(sp, button) {
    button.disabled = true;
    // Listen for the nodes' answers before sending, so none is missed.
    const outcomes = followSync(sp.id);
    try {
      await outcomes.ready;
      const res = await deploySpider(sp.id);
      const sent = res?.nodes ?? [];
      if (sent.length === 0) {
        toast(`${sp.name} was not sent anywhere`, { kind: 'info', detail: 'No node is online. Nodes fetch the archive before they run it.' });
        return;
      }
      const n = sent.length;
      toast(`${sp.name} sent to ${n} ${n === 1 ? 'node' : 'nodes'}`, { kind: 'info', detail: `Archive ${res.md5?.slice(0, 8) ?? ''}; waiting for the nodes to confirm.` });
      const s = syncSummary(sp.name, sent, await outcomes.wait(sent, DEPLOY_WAIT_MS));
      toast(s.text, { kind: s.kind, detail: s.detail });
    } catch (err) {
      if (err.status !== 401) toast(`Could not deploy ${sp.name}`, { kind: 'error', detail: err.message });
    } finally {
      outcomes.stop();
      button.disabled = false;
    }
  }

  async function remove(sp) {
    const ok = await confirmDialog({
      id: 'delete-dialog',
      title: `Delete ${sp.name}?`,
      message: 'The spider and its archive are removed. Its past tasks and their logs stay.',
      confirmLabel: 'Delete spider',
      danger: true,
      onConfirm: () => deleteSpider(sp.id),
    });
    if (!ok) return;
    toast(`Deleted ${sp.name}`);
    watcher.refresh();
  }

  function uploadDialog() {
    const name = h('input', { id: 'spider-name', name: 'name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. books' });
    const command = h('input', { id: 'spider-command', name: 'command', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. python3 main.py' });
    const env = h('textarea', { id: 'spider-env', name: 'env', rows: 3, spellcheck: 'false', placeholder: 'API_KEY=…\nPAGES=10' });
    const file = h('input', { id: 'spider-file', name: 'file', type: 'file', accept: '.zip,application/zip', required: true });
    const dedup = dedupFields();
    const d = openDialog({
      id: 'upload-dialog',
      title: 'New spider',
      description: 'Upload a zip of your spider’s files and the command that starts it. Nodes unpack the archive and run the command in that folder.',
      body: [
        field('Name', name, 'Unique; scripts can refer to the spider by it.'),
        field('Command', command, 'Run in the unpacked folder, with the task’s parameters added at the end.'),
        field('Environment', env, 'KEY=VALUE, one per line; the spider’s process gets them.', true),
        field('Archive', file, 'A .zip file.'),
        dedup.fields,
      ],
      submitLabel: 'Upload',
      errorTitle: 'The spider was not created',
      async onSubmit() {
        if (!name.value.trim()) throw fieldError(name, 'Give the spider a name.');
        if (!command.value.trim()) throw fieldError(command, 'Say which command starts the spider, e.g. python3 main.py.');
        const parsed = parseEnv(env.value);
        if (parsed.error) throw fieldError(env, parsed.error);
        const archive = file.files?.[0];
        if (!archive) throw fieldError(file, 'Choose the zip archive of the spider.');
        const form = new FormData();
        form.set('name', name.value.trim());
        form.set('command', command.value.trim());
        if (parsed.count) form.set('env', JSON.stringify(parsed.env));
        form.set('file', archive, archive.name);
        dedup.set(form, d.form);
        return createSpider(form);
      },
    });
    d.done.then((sp) => {
      if (!sp) return;
      toast(`Created ${sp.name}`, { detail: `${bytes(sp.size)}, MD5 ${sp.md5.slice(0, 8)}` });
      highlight = sp.id;
      watcher.refresh();
    });
  }

  async function runDialog(sp) {
    const nodeList = h('div', { class: 'node-picker', id: 'run-nodes', hidden: true }, loading('Loading nodes…'));
    const modes = [
      ['any', 'Any node', 'One task, taken by the first free node.'],
      ['all', 'All nodes', 'One task on every online node.'],
      ['nodes', 'Chosen nodes', 'One task on each node you pick.'],
    ];
    const modeGroup = h(
      'fieldset',
      { class: 'choices' },
      h('legend', null, 'Where to run'),
      modes.map(([value, title, note]) =>
        h(
          'label',
          { class: 'choice' },
          h('input', { type: 'radio', name: 'mode', value, checked: value === 'any', onchange: modeChanged }),
          h('span', { class: 'choice-text' }, h('strong', null, title), h('span', { class: 'muted small' }, note)),
        ),
      ),
    );
    const queue = h('input', { type: 'checkbox', name: 'queue', id: 'run-queue', onchange: () => renderNodes() });
    const queueRow = h('label', { class: 'check', hidden: true }, queue, ' Queue tasks for offline nodes until they are back');
    const params = h('input', { id: 'run-params', name: 'params', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. --pages 10' });
    const timeout = h('input', { id: 'run-timeout', name: 'timeout', type: 'number', min: '0', step: '1', inputmode: 'numeric', placeholder: 'No limit' });

    let nodes = null;
    const d = openDialog({
      id: 'run-dialog',
      title: `Run ${sp.name}`,
      description: h('span', null, 'Command: ', h('code', null, sp.command)),
      body: [
        modeGroup,
        nodeList,
        queueRow,
        h(
          'div',
          { class: 'form-row' },
          field('Parameters', params, h('span', null, 'Added to the command: ', h('code', null, `${sp.command} …`))),
          field('Timeout', h('div', { class: 'input-suffix' }, timeout, h('span', null, 'seconds')), 'Stopped after this long. Empty: no limit.'),
        ),
      ],
      submitLabel: '▶ Run',
      errorTitle: 'The task was not started',
      async onSubmit(form) {
        const mode = form.elements.mode.value;
        const run = { spider_id: sp.id, mode };
        if (mode === 'nodes') {
          run.node_ids = [...form.querySelectorAll('input[name="node"]:checked')].map((c) => c.value);
          if (!run.node_ids.length) throw new Error('Pick at least one node.');
          if (queue.checked) run.queue = true;
        }
        if (params.value.trim()) run.params = params.value.trim();
        const t = timeout.value.trim();
        if (t) {
          const n = Number(t);
          if (!Number.isInteger(n) || n < 0) throw fieldError(timeout, 'The timeout is a whole number of seconds.');
          if (n > 0) run.timeout = n;
        }
        return runTasks(run);
      },
    });

    function modeChanged() {
      const mode = d.form.elements.mode.value;
      nodeList.hidden = mode !== 'nodes';
      queueRow.hidden = mode !== 'nodes';
    }

    function renderNodes() {
      if (!nodes) return;
      if (!nodes.length) {
        replace(nodeList, callout('warning', 'No nodes have registered', 'Start an agent first.'));
        return;
      }
      const checked = new Set([...nodeList.querySelectorAll('input[name="node"]:checked')].map((c) => c.value));
      replace(
        nodeList,
        nodes.map((n) => {
          const off = n.status !== 'online';
          return h(
            'label',
            { class: `node-option${off && !queue.checked ? ' is-disabled' : ''}` },
            h('input', { type: 'checkbox', name: 'node', value: n.id, checked: checked.has(n.id), disabled: off && !queue.checked }),
            h('span', { class: 'strong' }, n.name || n.hostname || n.id),
            h('span', { class: 'muted small mono' }, n.ip || ''),
            statusBadge(n.status),
          );
        }),
      );
    }

    loadNodes()
      .then((list) => {
        nodes = list;
        const online = list.filter((n) => n.status === 'online').length;
        const allNote = d.form.querySelector('input[value="all"]')?.closest('label')?.querySelector('.muted');
        if (allNote) allNote.textContent = `One task on every online node (${online} online now).`;
        renderNodes();
      })
      .catch((err) => {
        if (err.status !== 401) replace(nodeList, errorBox('Could not list the nodes', err));
      });

    const res = await d.done;
    const tasks = res?.items ?? [];
    if (tasks.length === 1) location.hash = href('/tasks', tasks[0].id);
    else if (tasks.length > 1) {
      toast(`Started ${tasks.length} tasks of ${sp.name}`);
      location.hash = `${href('/tasks')}?spider=${encodeURIComponent(sp.id)}`;
    }
  }

  return () => watcher.stop();
}
