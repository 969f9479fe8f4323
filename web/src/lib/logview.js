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

import { parseAnsi, stripAnsi } from './ansi.js';
import { h, replace } from './dom.js';

/** Row height in px; .logline in style.css has the same. */
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
    const count = lines.length;
    empty.hidden = count > 0 || !!end;
    const d = String(Math.max(count, 1)).length;
    if (d !== digits) {
      digits = d;
      el.style.setProperty('--ln-ch', String(Math.max(3, d)));
      drawn = [-1, -1, -1];
    }
    sizer.style.height = `${count * ROW + (end ? END_ROW : 0)}px`;
    if (follow) scroller.scrollTop = scroller.scrollHeight;
    const [first, last] = visibleRange(scroller.scrollTop, scroller.clientHeight || 600, count);
    if (first !== drawn[0] || last !== drawn[1] || (last === count && count !== drawn[2])) {
      draw(first, last);
      drawn = [first, last, count];
    }
    jump.hidden = follow || unseen === 0;
    if (!jump.hidden) jump.lastChild.textContent = `${unseen.toLocaleString()} new ${unseen === 1 ? 'line' : 'lines'}`;
  }

  function draw(first, last) {
    rows.style.transform = `translateY(${first * ROW}px)`;
    const out = [];
    for (let i = first; i < last; i++) out.push(row(i, lines[i]));
    rows.replaceChildren(...out);
  }

  function row(i, text) {
    const content = h('span', { class: 'lt' });
    for (const seg of parseAnsi(text)) {
      if (seg.cls) content.append(h('span', { class: seg.cls }, seg.text));
      else content.append(seg.text);
    }
    return h('div', { class: 'logline', dataset: { line: i } }, h('span', { class: 'ln', 'aria-hidden': 'true' }, String(i + 1)), content);
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
    },
  };
}
