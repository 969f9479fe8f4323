// The items table: a spider's saved items as rows, one column per top-level
// key (the union of the keys seen so far, in first-seen order), and stays
// fast for a million items.
//
// Virtualised like the log viewer: the rows are kept in one array as the
// objects the server sent (no per-row DOM, no copies), and only the rows in
// view plus a margin exist in the DOM. Every row has the same height, so
// which rows to draw follows from scrollTop (lib/vtable.js, which also
// scales the scroll range past the browsers' height cap). Appending pushes
// into the array, reads the new items' keys once, and asks for one repaint
// per animation frame: rendering costs O(visible rows × columns) whatever
// the count.
//
// Nested values (objects, arrays) show as compact JSON with their size; a
// click on one opens it pretty-printed in a popover. A click elsewhere on a
// row opens the whole item in a dialog. Text goes in with textContent only.

import { EXPORT_FORMATS, exportURL } from './api.js';
import { openDialog } from './dialog.js';
import { h, replace } from './dom.js';
import { Columns, ITEM_ROW, cellText, isNested, nestedLabel, rowWindow, scrollHeight, scrollTopFor } from './vtable.js';

/** The longest JSON shown in a popover or the item dialog, in characters. */
const SHOW_MAX = 200_000;

/**
 * @typedef {object} Leading a column before the item's keys
 * @property {string} label
 * @property {number} width in ch
 * @property {(row: any, i: number) => any} cell text or a node
 * @property {string} [cls] class of its cells, e.g. "item-num" (sticky, right-aligned)
 */

/**
 * @param {{ label?: string, placeholder?: string, leading?: Leading[], dataOf?: (row: any) => any, onOpen?: (row: any, i: number) => void, follow?: boolean }} [options]
 *   dataOf: the item of a row (default: the row itself); onOpen: a click on a
 *   row (default: the item in a dialog)
 */
export function createItemTable({ label = 'Items', placeholder = 'No items yet.', leading = [], dataOf = (r) => r, onOpen, follow: following = true } = {}) {
  /** @type {any[]} */
  let rows = [];
  const columns = new Columns();
  let follow = following;
  let unseen = 0;
  let frame = 0;
  let drawn = '';
  let headerFor = -1; // columns.keys.length when the header was built
  let widthsChanged = true;
  const followListeners = new Set();

  const header = h('div', { class: 'item-row item-head', role: 'row' });
  const body = h('div', { class: 'item-rows', role: 'rowgroup' });
  const empty = h('div', { class: 'items-empty' }, placeholder);
  const sizer = h('div', { class: 'items-sizer' }, body);
  const scroller = h('div', { class: 'items-scroll', tabindex: '0', role: 'table', 'aria-label': label, 'aria-rowcount': '0' }, header, sizer, empty);
  const jump = h('button', { class: 'log-jump', type: 'button', hidden: true, onclick: () => setFollow(true) }, '↓ ', h('span', null, ''));
  const more = h('div', { class: 'items-more muted small', hidden: true });
  const el = h('div', { class: 'itemtable' }, scroller, jump, more);
  let pop = null;

  scroller.addEventListener('scroll', () => {
    closePop();
    if (following) {
      const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
      if (atBottom !== follow) setFollow(atBottom, { scroll: false });
    }
    schedule();
  });
  body.addEventListener('click', (e) => {
    const target = /** @type {HTMLElement} */ (e.target);
    const nested = target.closest('.cell-nested');
    const row = target.closest('.item-row');
    if (!row || target.closest('a')) return; // a link in a cell goes where it says
    const i = Number(row.dataset.i);
    if (!(i >= 0 && i < rows.length)) return;
    if (nested) {
      showPop(nested, dataOf(rows[i])?.[nested.dataset.key], nested.dataset.key);
      return;
    }
    if (onOpen) onOpen(rows[i], i);
    else openItem({ title: `Item ${(i + 1).toLocaleString()}`, item: dataOf(rows[i]) });
  });
  const onKey = (e) => e.key === 'Escape' && closePop();
  const onWindowScroll = () => closePop();
  const onDocClick = (e) => pop && !pop.contains(e.target) && !e.target.closest?.('.cell-nested') && closePop();
  document.addEventListener('keydown', onKey);
  document.addEventListener('click', onDocClick, true);
  window.addEventListener('scroll', onWindowScroll, { passive: true });
  const resize = typeof ResizeObserver === 'function' ? new ResizeObserver(() => schedule()) : null;
  resize?.observe(scroller);

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function viewport() {
    return Math.max(ITEM_ROW, (scroller.clientHeight || 600) - ITEM_ROW);
  }

  function render() {
    frame = 0;
    const count = rows.length;
    empty.hidden = count > 0;
    scroller.setAttribute('aria-rowcount', String(count + 1));
    if (widthsChanged) {
      const widths = [...leading.map((c) => c.width), ...columns.widths];
      el.style.setProperty('--item-cols', widths.map((w) => `calc(${w}ch + 16px)`).join(' ') || '1fr');
      widthsChanged = false;
    }
    if (headerFor !== columns.keys.length) {
      headerFor = columns.keys.length;
      replace(
        header,
        leading.map((c) => h('div', { class: `item-cell item-meta ${c.cls ?? ''}`, role: 'columnheader' }, c.label)),
        columns.keys.map((k) => h('div', { class: 'item-cell', role: 'columnheader', title: k }, k)),
      );
      drawn = '';
    }
    more.hidden = columns.hidden === 0;
    if (!more.hidden) more.textContent = `${columns.hidden} more ${columns.hidden === 1 ? 'key' : 'keys'} not shown as columns: open an item to see all of it.`;
    sizer.style.height = `${scrollHeight(count)}px`;
    if (follow && count) scroller.scrollTop = scroller.scrollHeight;
    const w = rowWindow(scroller.scrollTop, viewport(), count);
    const key = `${w.first}:${w.last}:${w.top}:${headerFor}`;
    if (key !== drawn) {
      draw(w.first, w.last, w.top);
      drawn = key;
    }
    jump.hidden = follow || unseen === 0;
    if (!jump.hidden) jump.lastChild.textContent = `${unseen.toLocaleString()} new ${unseen === 1 ? 'item' : 'items'}`;
  }

  function draw(first, last, top) {
    body.style.transform = `translateY(${top}px)`;
    const out = [];
    for (let i = first; i < last; i++) out.push(row(i));
    body.replaceChildren(...out);
  }

  function row(i) {
    const r = rows[i];
    const item = dataOf(r);
    const cells = leading.map((c) => h('div', { class: `item-cell item-meta ${c.cls ?? ''}`, role: 'cell' }, c.cell(r, i)));
    for (const k of columns.keys) {
      const v = item?.[k];
      if (isNested(v)) {
        cells.push(h('div', { class: 'item-cell', role: 'cell' }, h('button', { class: 'cell-nested', type: 'button', dataset: { key: k }, title: 'Show this value' }, h('span', { class: 'nested-size' }, nestedLabel(v)), ' ', cellText(v))));
      } else {
        const text = cellText(v);
        cells.push(h('div', { class: `item-cell${v === undefined ? ' is-missing' : typeof v === 'string' ? '' : ' is-literal'}`, role: 'cell', title: text.length > 24 ? text : null }, text));
      }
    }
    return h('div', { class: 'item-row', role: 'row', dataset: { i } }, cells);
  }

  // The popover is fixed to the window (a card clips what overflows it):
  // under the cell, or above it when there is no room below; scrolling
  // closes it.
  function showPop(anchor, value, key) {
    closePop();
    const at = anchor.getBoundingClientRect();
    pop = h(
      'div',
      { class: 'cell-pop', role: 'dialog', 'aria-label': key },
      h('div', { class: 'cell-pop-head' }, h('strong', { class: 'mono' }, key), h('button', { class: 'dialog-x', type: 'button', 'aria-label': 'Close', onclick: closePop }, '×')),
      h('pre', { class: 'json' }, pretty(value)),
    );
    document.body.append(pop);
    const width = pop.offsetWidth;
    const height = pop.offsetHeight;
    pop.style.left = `${Math.max(8, Math.min(at.left, innerWidth - width - 8))}px`;
    pop.style.top = `${at.bottom + height + 8 <= innerHeight ? at.bottom + 2 : Math.max(8, at.top - height - 2)}px`;
  }

  function closePop() {
    pop?.remove();
    pop = null;
  }

  function setFollow(on, { scroll = true } = {}) {
    const changed = follow !== on;
    follow = on;
    if (on) {
      unseen = 0;
      if (scroll) scroller.scrollTop = scroller.scrollHeight;
    }
    schedule();
    if (changed) for (const fn of followListeners) fn(on);
  }

  function take(batch) {
    if (columns.add(batch.map(dataOf))) widthsChanged = true;
  }

  return {
    el,
    /** Add rows at the end (items arriving live). */
    append(batch) {
      if (!batch.length) return;
      for (let i = 0; i < batch.length; i++) rows.push(batch[i]);
      take(batch);
      if (!follow) unseen += batch.length;
      schedule();
    },
    /** Show these rows instead (a page of a list); the columns grow only. */
    setRows(list) {
      rows = list.slice();
      take(rows);
      closePop();
      scroller.scrollTop = 0;
      drawn = '';
      schedule();
    },
    /** The text shown while there are no rows. */
    setPlaceholder(text) {
      empty.textContent = text;
    },
    /** Scroll so row i is at the top. */
    scrollTo(i) {
      setFollow(false, { scroll: false });
      scroller.scrollTop = scrollTopFor(i, viewport(), rows.length);
      schedule();
    },
    get count() {
      return rows.length;
    },
    get columns() {
      return columns.keys.slice();
    },
    get following() {
      return follow;
    },
    setFollow,
    /** Be told when following starts or stops. */
    onFollow(fn) {
      followListeners.add(fn);
    },
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      resize?.disconnect();
      closePop();
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('click', onDocClick, true);
      window.removeEventListener('scroll', onWindowScroll);
      followListeners.clear();
    },
  };
}

/** JSON indented by two spaces, cut (saying so) past SHOW_MAX characters. */
export function pretty(value) {
  const s = JSON.stringify(value, null, 2) ?? String(value);
  return s.length > SHOW_MAX ? `${s.slice(0, SHOW_MAX)}\n… (${(s.length - SHOW_MAX).toLocaleString()} more characters: export the items to see all)` : s;
}

/**
 * The whole item in a dialog, pretty-printed, with a Copy button.
 * @param {{ title: string, item: any, meta?: any }} options meta: a line under the title
 */
export function openItem({ title, item, meta }) {
  const text = JSON.stringify(item, null, 2) ?? String(item);
  const copy = h('button', { class: 'btn btn-small', type: 'button', id: 'item-copy' }, 'Copy JSON');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy failed: select the text instead';
    }
  });
  return openDialog({
    id: 'item-dialog',
    title,
    description: meta,
    body: [h('pre', { class: 'json item-json' }, pretty(item)), h('div', null, copy)],
    cancelLabel: 'Close',
  });
}

const FORMAT_TITLE = {
  csv: 'CSV: one column per top-level key, nested values as JSON text',
  json: 'JSON: one array of the items',
  ndjson: 'NDJSON: one item per line',
};

/**
 * Export links for a task's or a spider's items, one per format. The
 * session cookie authenticates the download, so the addresses carry no
 * secret (the browser's download list keeps them).
 * @param {'tasks'|'spiders'} kind
 * @param {string} ownerID
 * @param {string} name the start of the file name
 */
export function exportButtons(kind, ownerID, name) {
  return h(
    'div',
    { class: 'export-buttons', role: 'group', 'aria-label': 'Export' },
    h('span', { class: 'muted small' }, 'Export'),
    EXPORT_FORMATS.map((format) =>
      h(
        'a',
        {
          class: 'btn btn-small',
          id: `export-${format}`,
          href: exportURL(kind, ownerID, format),
          download: `${name}.${format}`,
          title: FORMAT_TITLE[format],
        },
        format.toUpperCase(),
      ),
    ),
  );
}
