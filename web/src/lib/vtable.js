// The arithmetic of the items table (lib/itemtable.js), kept free of the
// DOM so that it runs, and is tested, under Node.
//
// - rowWindow(): which rows to draw for a scroll position, and where. Rows
//   have one fixed height, so this is O(1) whatever the count. Browsers cap
//   an element's height (about 33.5 million px in Chromium, 17.9 million in
//   Firefox), so past maxHeight the scroll range is scaled: the scrollbar
//   maps proportionally onto all the rows, and the rows drawn are placed
//   where the view is, so the last row stays reachable by scrolling even
//   with millions of rows.
// - Columns: the union of the items' top-level keys, in first-seen order.
// - cellText(): a value as one short line (nested values compact).

/** Row height in px; .item-row in styles/items.css has the same. */
export const ITEM_ROW = 28;

/** Rows drawn above and below the visible ones. */
export const OVERSCAN = 12;

/** The tallest scroll range used, in px: under every browser's cap. */
export const MAX_HEIGHT = 15_000_000;

/**
 * The height of the scroll range for count rows.
 * @param {number} count
 * @param {{ row?: number, maxHeight?: number }} [opts]
 */
export function scrollHeight(count, { row = ITEM_ROW, maxHeight = MAX_HEIGHT } = {}) {
  return Math.min(count * row, maxHeight);
}

/**
 * The rows [first, last) to draw for a scroll position, and top: the
 * y (in the scroll range) of row first. Unscaled, row i is at i × row;
 * scaled, the view's top edge maps to the same fraction of all the rows.
 * @param {number} scrollTop
 * @param {number} viewport visible height in px
 * @param {number} count rows
 * @param {{ row?: number, overscan?: number, maxHeight?: number }} [opts]
 * @returns {{ first: number, last: number, top: number, scaled: boolean }}
 */
export function rowWindow(scrollTop, viewport, count, { row = ITEM_ROW, overscan = OVERSCAN, maxHeight = MAX_HEIGHT } = {}) {
  const full = count * row;
  const height = Math.min(full, maxHeight);
  const top = Math.max(0, Math.min(scrollTop, Math.max(0, height - viewport)));
  // Where the view's top edge is among all the rows, in unscaled px.
  let virtualTop = top;
  const scaled = full > height;
  if (scaled) {
    const range = height - viewport;
    virtualTop = range > 0 ? (top / range) * (full - viewport) : 0;
  }
  const firstVisible = Math.floor(virtualTop / row);
  const first = Math.max(0, firstVisible - overscan);
  const last = Math.min(count, Math.ceil((virtualTop + viewport) / row) + overscan);
  // Row first sits where it would be relative to the view's top edge.
  const y = top - (virtualTop - first * row);
  return { first, last: Math.max(first, last), top: y, scaled };
}

/**
 * The scrollTop that shows row i at the top of the view (the inverse of
 * rowWindow for that row).
 * @param {number} i
 * @param {number} viewport
 * @param {number} count
 * @param {{ row?: number, maxHeight?: number }} [opts]
 */
export function scrollTopFor(i, viewport, count, { row = ITEM_ROW, maxHeight = MAX_HEIGHT } = {}) {
  const full = count * row;
  const height = Math.min(full, maxHeight);
  const want = Math.max(0, Math.min(i * row, full - viewport));
  if (full <= height) return want;
  const range = height - viewport;
  return range > 0 ? (want / (full - viewport)) * range : 0;
}

/** Most columns shown; an item with more keys shows them all when opened. */
export const MAX_COLUMNS = 60;

/**
 * The union of the items' top-level keys in first-seen order, with a
 * width for each (in characters, from the key and the first values seen).
 * Adding items costs O(keys of each item); a key is never removed.
 */
export class Columns {
  constructor({ max = MAX_COLUMNS } = {}) {
    /** @type {string[]} */
    this.keys = [];
    /** @type {number[]} width of each column in ch */
    this.widths = [];
    /** keys seen beyond max */
    this.hidden = 0;
    this.max = max;
    this.index = new Map();
    this.hiddenKeys = new Set();
  }

  /**
   * Take the keys of items (plain objects). Returns whether columns or
   * their widths changed.
   * @param {Iterable<any>} items
   */
  add(items) {
    let changed = false;
    for (const item of items) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) continue;
      for (const key in item) {
        let i = this.index.get(key);
        if (i === undefined) {
          if (this.keys.length >= this.max) {
            if (!this.hiddenKeys.has(key)) {
              this.hiddenKeys.add(key);
              this.hidden++;
              changed = true;
            }
            continue;
          }
          i = this.keys.length;
          this.index.set(key, i);
          this.keys.push(key);
          this.widths.push(clampWidth(key.length + 2));
          changed = true;
        }
        // Widths follow the first values seen, up to a cap: later rows are
        // cut with an ellipsis rather than moving every column.
        if (this.widths[i] < WIDTH_MAX) {
          const w = clampWidth(cellText(item[key]).length + 1);
          if (w > this.widths[i]) {
            this.widths[i] = w;
            changed = true;
          }
        }
      }
    }
    return changed;
  }
}

const WIDTH_MIN = 6;
const WIDTH_MAX = 36;
const clampWidth = (n) => Math.max(WIDTH_MIN, Math.min(WIDTH_MAX, n));

/** The longest cell text, in characters; the whole value is in the item. */
export const CELL_MAX = 200;

/**
 * A value as one line for a cell: strings as they are (line breaks shown
 * as ⏎), numbers and booleans as JSON, null as "null", a missing key as
 * "", objects and arrays as compact JSON. Cut at CELL_MAX characters.
 * @param {any} v
 */
export function cellText(v) {
  let s;
  if (v === undefined) return '';
  if (typeof v === 'string') s = v.replace(/\r\n|\r|\n/g, '⏎');
  else if (v === null || typeof v !== 'object') s = String(v);
  else s = JSON.stringify(v);
  return s.length > CELL_MAX ? `${s.slice(0, CELL_MAX - 1)}…` : s;
}

/** Whether a value is nested (an object or an array: expandable). */
export const isNested = (v) => v !== null && typeof v === 'object';

/** A nested value's size: "{3}" for an object of 3 keys, "[5]" for 5 elements. */
export function nestedLabel(v) {
  return Array.isArray(v) ? `[${v.length}]` : `{${Object.keys(v).length}}`;
}
