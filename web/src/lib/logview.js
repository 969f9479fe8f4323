// The log viewer: line numbers, ANSI colours, follows the tail, and stays
// fast for hundreds of thousands of lines.
//
// Virtualised: every line is kept as a string in an array, but only the
// lines in view (plus a margin) exist in the DOM — about a hundred elements
// whatever the log's length. Every row has the same height, so the scroll
// height is lines × row height and the rows in view follow from scrollTop.
// Appending only pushes strings and asks for one repaint per animation
// frame, so a backlog of 200,000 lines arriving in 5,000-line batches costs
// a few milliseconds per batch. Text goes in with textContent (segments from
// lib/ansi.js), never innerHTML.
//
// Following: while the view is at the bottom it stays there as lines arrive;
// scrolling up stops that (a "N new lines" button appears) and scrolling back
// to the bottom, the button or the Follow toggle start it again.
//
// Searching (lib/logsearch-ui.js drives it): matching lines are marked and
// their matches highlighted as they are drawn, one line is "current"
// (scrolled to and outlined), and a filter can show only some lines — the
// view then maps its rows to those line numbers. A click on a line number
// is reported, for links to a line.

import { parseAnsi, stripAnsi } from './ansi.js';
import { h, replace } from './dom.js';

/** Row height in px; .logline in styles/log.css has the same. */
export const ROW = 20;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 30;
/** Height of the end notice in px (.log-end). */
const END_ROW = 40;

/**
 * The rows [first, last) to draw for a scroll position. Pure, for tests.
 * @param {number} scrollTop
 * @param {number} viewport height in px
 * @param {number} count lines
 */
export function visibleRange(scrollTop, viewport, count) {
  const first = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const last = Math.min(count, Math.ceil((scrollTop + viewport) / ROW) + OVERSCAN);
  return [first, Math.max(first, last)];
}

const END_TEXT = {
  finished: 'Finished',
  error: 'Ended with an error',
  cancelled: 'Cancelled',
  abnormal: 'Ended abnormally',
};

/**
 * @param {{ label?: string, placeholder?: string }} [options]
 */
export function createLogView({ label = 'Task log', placeholder = 'Waiting for output…' } = {}) {
  /** @type {string[]} */
  const lines = [];
  let end = null; // { status, total }
  let follow = true;
  let unseen = 0; // lines that arrived while not following
  let frame = 0;
  let drawn = [-1, -1, -1]; // first, last, count last drawn
  let digits = 0;
  const followListeners = new Set();
  /** @type {number[] | null} line numbers shown when filtered */
  let only = null;
  /** @type {Set<number>} */
  let marked = new Set();
  let current = -1;
  /** @type {((text: string) => [number, number][]) | null} */
  let highlighter = null;
  let pendingLine = -1; // a line to scroll to once it has arrived
  let lineClick = null;

  const rows = h('div', { class: 'log-rows' });
  const endNotice = h('div', { class: 'log-end', hidden: true });
  const empty = h('div', { class: 'log-empty' }, placeholder);
  const sizer = h('div', { class: 'log-sizer' }, rows, endNotice);
  const scroller = h(
    'div',
    { class: 'log-scroll', tabindex: '0', role: 'log', 'aria-label': label, 'aria-live': 'off' },
    sizer,
    empty,
  );
  const jump = h(
    'button',
    { class: 'log-jump', type: 'button', hidden: true, onclick: () => setFollow(true) },
    '↓ ',
    h('span', null, ''),
  );
  const el = h('div', { class: 'logview' }, scroller, jump);

  scroller.addEventListener('scroll', () => {
    const atBottom = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 4;
    if (atBottom !== follow) setFollow(atBottom, { scroll: false });
    schedule();
  });
  const resize = typeof ResizeObserver === 'function' ? new ResizeObserver(() => schedule()) : null;
  resize?.observe(scroller);

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    const count = only ? only.length : lines.length;
    empty.hidden = count > 0 || !!end || !!only;
    const d = String(Math.max(count, 1)).length;
    if (d !== digits) {
      digits = d;
      el.style.setProperty('--ln-ch', String(Math.max(3, d)));
      drawn = [-1, -1, -1];
    }
    sizer.style.height = `${count * ROW + (end && !only ? END_ROW : 0)}px`;
    endNotice.hidden = !end || !!only;
    // Only now that the height holds the new lines can the view scroll to one.
    if (pendingLine >= 0 && pendingLine < lines.length) {
      const n = pendingLine;
      pendingLine = -1;
      reveal(n);
    }
    if (follow) scroller.scrollTop = scroller.scrollHeight;
    const [first, last] = visibleRange(scroller.scrollTop, scroller.clientHeight || 600, count);
    if (first !== drawn[0] || last !== drawn[1] || ((last === count || only) && lines.length !== drawn[2])) {
      draw(first, last);
      drawn = [first, last, lines.length];
    }
    jump.hidden = follow || unseen === 0;
    if (!jump.hidden) jump.lastChild.textContent = `${unseen.toLocaleString()} new ${unseen === 1 ? 'line' : 'lines'}`;
  }

  function draw(first, last) {
    rows.style.transform = `translateY(${first * ROW}px)`;
    const out = [];
    for (let r = first; r < last; r++) {
      const i = only ? only[r] : r;
      if (i < lines.length) out.push(row(i, lines[i]));
    }
    rows.replaceChildren(...out);
  }

  function row(i, text) {
    const content = h('span', { class: 'lt' });
    const isMatch = marked.has(i);
    const ranges = isMatch && highlighter ? highlighter(stripAnsi(text)) : [];
    let at = 0; // offset in the plain text
    let k = 0; // the next range
    for (const seg of parseAnsi(text)) {
      const parent = seg.cls ? h('span', { class: seg.cls }) : content;
      // Cut the segment where matches start and end.
      let s = 0;
      while (s < seg.text.length) {
        while (k < ranges.length && ranges[k][1] <= at + s) k++;
        const r = ranges[k];
        if (!r || r[0] >= at + seg.text.length) {
          parent.append(seg.text.slice(s));
          break;
        }
        if (r[0] > at + s) {
          parent.append(seg.text.slice(s, r[0] - at));
          s = r[0] - at;
        }
        const e = Math.min(seg.text.length, r[1] - at);
        parent.append(h('mark', { class: 'log-hit' }, seg.text.slice(s, e)));
        s = e;
      }
      if (parent !== content) content.append(parent);
      at += seg.text.length;
    }
    let cls = 'logline';
    if (isMatch) cls += ' log-match';
    if (i === current) cls += ' log-current';
    const ln = h('span', { class: 'ln', title: 'Link to this line' }, String(i + 1));
    ln.addEventListener('click', () => lineClick?.(i));
    return h('div', { class: cls, dataset: { line: i } }, ln, content);
  }

  /** Scroll line n (from 0) to the middle of the view, if it is shown. */
  function reveal(n) {
    let r = n;
    if (only) {
      r = only.indexOf(n);
      if (r < 0) return;
    }
    setFollow(false, { scroll: false });
    const top = Math.max(0, r * ROW - Math.max(0, (scroller.clientHeight - ROW) / 2));
    scroller.scrollTop = top;
    drawn = [-1, -1, -1];
    schedule();
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

  return {
    el,
    /** Add lines at the end. */
    append(batch) {
      for (let i = 0; i < batch.length; i++) lines.push(batch[i]);
      if (!follow) unseen += batch.length;
      schedule();
    },
    /** Show how the log ended: {status, total}. */
    setEnd(info) {
      end = info;
      const status = info.status || 'ended';
      endNotice.hidden = false;
      endNotice.className = `log-end log-end-${status}`;
      const n = Number.isFinite(info.total) ? info.total : lines.length;
      replace(
        endNotice,
        h('span', { class: 'log-end-mark', 'aria-hidden': 'true' }),
        h('strong', null, END_TEXT[status] ?? status),
        ` — ${n.toLocaleString()} ${n === 1 ? 'line' : 'lines'}`,
      );
      schedule();
    },
    /** The text shown while there are no lines. */
    setPlaceholder(text) {
      empty.textContent = text;
    },
    get count() {
      return lines.length;
    },
    get following() {
      return follow;
    },
    setFollow,
    /**
     * Mark these lines (from 0) as matches, highlighting in them the
     * [start, end) ranges highlight finds in their plain text.
     * @param {Iterable<number>} lineNumbers
     * @param {((text: string) => [number, number][]) | null} highlight
     */
    setMatches(lineNumbers, highlight) {
      marked = new Set(lineNumbers);
      highlighter = highlight;
      drawn = [-1, -1, -1];
      schedule();
    },
    /** Make line n (from 0) the current one and scroll to it, now or once it has arrived; -1 for none. */
    setCurrent(n) {
      current = n;
      drawn = [-1, -1, -1];
      pendingLine = n; // the next frame scrolls to it, once it has arrived
      if (n >= 0) setFollow(false, { scroll: false });
      schedule();
    },
    /** Show only these lines (ascending, from 0), or every line with null. */
    setFilter(lineNumbers) {
      only = lineNumbers ? [...lineNumbers] : null;
      if (only) setFollow(false, { scroll: false });
      scroller.scrollTop = 0;
      drawn = [-1, -1, -1];
      pendingLine = current;
      schedule();
    },
    get filtered() {
      return !!only;
    },
    /** Be told of a click on a line number (the line, from 0). */
    onLineClick(fn) {
      lineClick = fn;
    },
    /** Be told when following starts or stops. */
    onFollow(fn) {
      followListeners.add(fn);
    },
    /** Every line as plain text (colour codes removed), for a download. */
    text() {
      let out = '';
      for (const l of lines) out += stripAnsi(l) + '\n';
      return out;
    },
    destroy() {
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      resize?.disconnect();
      followListeners.clear();
      lineClick = null;
    },
  };
}
