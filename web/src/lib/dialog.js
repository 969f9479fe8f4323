// Modal dialogs on the native <dialog> element (showModal: focus stays in
// the dialog, Escape closes it, the page behind is inert). A dialog is a
// form: its submit handler may be async; while it runs the buttons are
// disabled, and an error it throws is shown inside the dialog with the
// server's message, so the person can fix the input and try again.

import { h, replace } from './dom.js';
import { callout } from './ui.js';

const open = new Set();

/**
 * @typedef {object} DialogOptions
 * @property {string} title
 * @property {any} [description] a line under the title
 * @property {any} [body] the form's fields
 * @property {string} [submitLabel] the main button; none when omitted
 * @property {string} [submitClass] e.g. "btn-danger"
 * @property {string} [cancelLabel]
 * @property {string} [id] the dialog element's id
 * @property {string} [errorTitle] heading of an error from onSubmit
 * @property {(form: HTMLFormElement) => any} [onSubmit] may be async; its
 *   result resolves `done`; a throw keeps the dialog open with the message
 * @property {() => boolean} [canSubmit] whether the submit button may be
 *   used now (e.g. not while an input is known to be wrong); ask again with
 *   the dialog's checkSubmit()
 */

/**
 * Open a modal dialog.
 * @param {DialogOptions} options
 * @returns {{ el: HTMLDialogElement, form: HTMLFormElement, done: Promise<any>, close: () => void, showError: (title: string, err: any) => void, checkSubmit: () => void }}
 *   done resolves with onSubmit's result, or undefined when dismissed
 */
export function openDialog({
  title,
  description,
  body,
  submitLabel,
  submitClass = 'btn-primary',
  cancelLabel = 'Cancel',
  id,
  errorTitle = 'That did not work',
  onSubmit,
  canSubmit = () => true,
}) {
  let resolve;
  const done = new Promise((r) => (resolve = r));
  let result;
  const titleID = `dlg-${Math.random().toString(36).slice(2, 9)}`;
  const message = h('div', { class: 'dialog-message', 'aria-live': 'polite' });
  const submit = submitLabel ? h('button', { class: `btn ${submitClass}`, type: 'submit', dataset: { role: 'submit' } }, submitLabel) : null;
  const cancel = h('button', { class: 'btn', type: 'button', onclick: () => close() }, cancelLabel);
  const form = h(
    'form',
    { class: 'dialog-form', novalidate: true, onsubmit: submitted },
    h(
      'header',
      { class: 'dialog-header' },
      h('h2', { id: titleID }, title),
      h('button', { class: 'dialog-x', type: 'button', 'aria-label': 'Close', onclick: () => close() }, '×'),
    ),
    description ? h('p', { class: 'dialog-description muted' }, description) : null,
    body ? h('div', { class: 'dialog-body' }, body) : null,
    message,
    h('footer', { class: 'dialog-footer' }, cancel, submit),
  );
  const el = /** @type {HTMLDialogElement} */ (h('dialog', { class: 'dialog', id, 'aria-labelledby': titleID }, form));
  el.addEventListener('close', () => {
    open.delete(api);
    el.remove();
    resolve(result);
  });
  document.body.append(el);
  el.showModal();
  const first = form.querySelector('.dialog-body input:not([type="hidden"]):not([disabled]), .dialog-body textarea, .dialog-body select');
  (first ?? submit ?? cancel).focus();

  let busy = false;
  async function submitted(e) {
    e.preventDefault();
    if (busy || !onSubmit || !canSubmit()) return;
    busy = true;
    replace(message);
    const label = submit?.textContent;
    for (const b of form.querySelectorAll('footer button')) b.disabled = true;
    if (submit) submit.textContent = `${label}…`;
    try {
      result = await onSubmit(form);
      close();
    } catch (err) {
      showError(errorTitle, err);
    } finally {
      busy = false;
      for (const b of form.querySelectorAll('footer button')) b.disabled = false;
      if (submit) submit.textContent = label;
      checkSubmit();
    }
  }

  function checkSubmit() {
    if (submit && !busy) submit.disabled = !canSubmit();
  }

  function showError(heading, err) {
    replace(message, callout('error', heading, err?.message || String(err)));
    message.scrollIntoView?.({ block: 'nearest' });
  }

  function close() {
    if (el.open) el.close();
  }

  const api = { el, form, done, close, showError, checkSubmit };
  open.add(api);
  return api;
}

/**
 * Ask before doing something. Resolves true when confirmed. With onConfirm,
 * the dialog stays open (showing any error) until it succeeds.
 * @param {{ title: string, message?: any, body?: any, confirmLabel: string, danger?: boolean, cancelLabel?: string, onConfirm?: (form: HTMLFormElement) => any, id?: string }} options
 * @returns {Promise<boolean>}
 */
export async function confirmDialog({ title, message, body, confirmLabel, danger = false, cancelLabel = 'Cancel', onConfirm, id }) {
  const d = openDialog({
    title,
    description: message,
    body,
    id,
    submitLabel: confirmLabel,
    submitClass: danger ? 'btn-danger' : 'btn-primary',
    cancelLabel,
    onSubmit: async (form) => {
      if (onConfirm) await onConfirm(form);
      return true;
    },
  });
  return (await d.done) === true;
}

/** Close every open dialog (the page changed). */
export function closeDialogs() {
  for (const d of [...open]) d.close();
}

/**
 * A labelled form field for a dialog: label, the input (or an element
 * holding it), a help line; optional marks it so.
 */
export function field(label, input, help, optional = false) {
  const control = input instanceof HTMLElement && input.matches('input, textarea, select') ? input : input.querySelector('input, textarea, select');
  const id = control?.id;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id || null }, label, optional ? h('span', { class: 'optional' }, ' optional') : null),
    input,
    help ? h('div', { class: 'help', id: id ? `${id}-help` : null }, help) : null,
  );
}

/**
 * Mark an input as wrong and focus it; returns the Error for onSubmit to
 * throw, so the dialog shows the message.
 */
export function fieldError(input, message) {
  input.focus();
  input.setAttribute('aria-invalid', 'true');
  input.addEventListener('input', () => input.removeAttribute('aria-invalid'), { once: true });
  return new Error(message);
}
