// Short notices in the corner ("Deployed to 2 nodes"), announced to screen
// readers, gone after a few seconds or when dismissed.

import { h } from './dom.js';

let region = null;

/**
 * @param {string} text
 * @param {{ kind?: 'ok'|'error'|'info', detail?: string, ms?: number }} [options]
 */
export function toast(text, { kind = 'ok', detail, ms = kind === 'error' ? 9000 : 4500 } = {}) {
  if (!region || !region.isConnected) {
    region = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(region);
  }
  const item = h(
    'div',
    { class: `toast toast-${kind}` },
    h('span', { class: 'toast-icon', 'aria-hidden': 'true' }, kind === 'error' ? '!' : kind === 'ok' ? '✓' : 'i'),
    h('div', { class: 'toast-text' }, h('strong', null, text), detail ? h('div', { class: 'toast-detail' }, detail) : null),
    h('button', { class: 'toast-x', type: 'button', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'),
  );
  region.append(item);
  setTimeout(() => item.remove(), ms);
  return item;
}
