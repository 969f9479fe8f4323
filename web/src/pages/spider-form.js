// The spider edit form (a dialog), used by a spider's page: name, command,
// environment, deduplication (the keys that make an item unique and what
// to do with a duplicate) and optionally a new archive. Sent as a PUT of
// the multipart form; fields left as they were are not sent.

import { RESERVED_KEYS, parseDedupKeys } from '../data/items.js';
import { updateSpider } from '../lib/api.js';
import { field, fieldError, openDialog } from '../lib/dialog.js';
import { h } from '../lib/dom.js';
import { parseEnv } from '../lib/env.js';

/** What each dedup policy does, as the form and the spider page say it. */
export const DEDUP_TEXT = {
  ignore: 'Keep the first: a later item with the same keys is kept in its task but does not replace the first',
  overwrite: 'Keep the newest: a later item with the same keys replaces the earlier one',
};

/**
 * Open the form for a spider. Resolves with the saved spider, or undefined
 * when dismissed.
 * @param {{ id: string, name: string, command: string, env?: Record<string, string>, dedup_keys?: string[], dedup?: string }} sp
 */
export function openSpiderForm(sp) {
  const envText = Object.entries(sp.env ?? {}).map(([k, v]) => `${k}=${v}`).join('\n');
  const dedupField = dedupFields(sp);
  const name = h('input', { id: 'spider-name', name: 'name', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', value: sp.name });
  const command = h('input', { id: 'spider-command', name: 'command', type: 'text', required: true, autocomplete: 'off', spellcheck: 'false', value: sp.command });
  const env = h('textarea', { id: 'spider-env', name: 'env', rows: 3, spellcheck: 'false', placeholder: 'API_KEY=…\nPAGES=10' }, envText);
  const file = h('input', { id: 'spider-file', name: 'file', type: 'file', accept: '.zip,application/zip' });
  const d = openDialog({
    id: 'spider-dialog',
    title: `Edit ${sp.name}`,
    body: [
      field('Name', name, 'Unique; scripts can refer to the spider by it.'),
      field('Command', command, 'Run in the unpacked folder, with the task’s parameters added at the end.'),
      field('Environment', env, 'KEY=VALUE, one per line; the spider’s process gets them.', true),
      dedupField.fields,
      field('New archive', file, 'A .zip file; leave empty to keep the current one.', true),
    ],
    submitLabel: 'Save',
    errorTitle: 'The spider was not saved',
    async onSubmit(form) {
      if (!name.value.trim()) throw fieldError(name, 'Give the spider a name.');
      if (!command.value.trim()) throw fieldError(command, 'Say which command starts the spider, e.g. python3 main.py.');
      const parsed = parseEnv(env.value);
      if (parsed.error) throw fieldError(env, parsed.error);
      const body = new FormData();
      if (name.value.trim() !== sp.name) body.set('name', name.value.trim());
      if (command.value.trim() !== sp.command) body.set('command', command.value.trim());
      if (env.value !== envText) body.set('env', JSON.stringify(parsed.env));
      dedupField.set(body, form);
      const archive = file.files?.[0];
      if (archive) body.set('file', archive, archive.name);
      return updateSpider(sp.id, body);
    },
  });
  return d.done;
}

/**
 * The deduplication fields of the spider forms (new and edit): the keys and
 * the policy. set(body, form) checks them (throwing a message for the
 * person) and adds dedup_keys and dedup to the request when they differ
 * from the spider's (always for a new one with keys).
 * @param {{ dedup_keys?: string[], dedup?: string }} [sp] the spider being edited
 */
export function dedupFields(sp = {}) {
  const before = (sp.dedup_keys ?? []).join(',');
  const policy = sp.dedup || 'ignore';
  const keys = h('input', { id: 'spider-dedup-keys', name: 'dedup_keys', type: 'text', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. url', value: (sp.dedup_keys ?? []).join(', ') });
  const policies = h(
    'fieldset',
    { class: 'choices', id: 'spider-dedup' },
    h('legend', null, 'When an item has the same keys as an earlier one'),
    Object.entries(DEDUP_TEXT).map(([value, text]) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name: 'dedup', value, checked: value === policy }),
        h('span', { class: 'choice-text' }, h('strong', null, value === 'ignore' ? 'Ignore' : 'Overwrite'), h('span', { class: 'muted small' }, text)),
      ),
    ),
  );
  return {
    fields: [
      field('Deduplicate by', keys, h('span', null, 'Top-level keys that make an item unique, separated by commas, e.g. ', h('code', null, 'url'), '. Empty: every item is new. Applies to the items saved from now on.'), true),
      policies,
    ],
    /** @param {FormData} body @param {HTMLFormElement} form */
    set(body, form) {
      const parsed = parseDedupKeys(keys.value, RESERVED_KEYS);
      if (parsed.error) throw fieldError(keys, parsed.error);
      const chosen = form.elements.dedup.value;
      if (parsed.keys.join(',') === before && (chosen === policy || !parsed.keys.length)) return;
      body.set('dedup_keys', JSON.stringify(parsed.keys));
      // No keys means no deduplication: the server wants no policy then.
      body.set('dedup', parsed.keys.length ? chosen : '');
    },
  };
}
