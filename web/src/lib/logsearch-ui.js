// The log viewer's search bar: a query searched on the server across the
// whole log (GET /api/tasks/:id/log/search: a running task's on its node,
// an ended one's in the store), find next / previous through the matches
// with their count ("3 of 12"), the matches highlighted in the lines in
// view, a filter showing only matching lines, and "next error", which
// walks the lines the task's error count counted (level=error, the same
// rules). Enter and Shift+Enter are next and previous.
//
// The server answers a page of matches at a time with the whole log's
// count; pages are fetched as next/previous reach them. The matches are
// line numbers; the log view (lib/logview.js) has the lines themselves.

import { searchTaskLog } from './api.js';
import { h } from './dom.js';

/** Matches asked for per request (the API's largest page). */
const PAGE = 1000;
/** The filter shows at most this many matching lines. */
const FILTER_MAX = 10_000;
/** Typing searches after this pause. */
const DEBOUNCE_MS = 300;

/**
 * [start, end) ranges of q in text, for highlighting. Pure, for tests.
 * A plain query ignores case; a regular expression is the server's RE2
 * read as a JavaScript one ((?i) at its start becomes the i flag), and one
 * JavaScript cannot read highlights nothing (its lines are still marked).
 * @param {string} q
 * @param {boolean} regex
 * @returns {((text: string) => [number, number][]) | null}
 */
export function highlighter(q, regex) {
  if (!q) return null;
  if (!regex) {
    const needle = q.toLowerCase();
    return (text) => {
      const out = [];
      const hay = text.toLowerCase();
      // toLowerCase keeps lengths for nearly all text; where it does not,
      // the highlight may be off by a little, never wrong in the matches.
      for (let i = hay.indexOf(needle); i >= 0 && out.length < 100; i = hay.indexOf(needle, i + needle.length)) out.push([i, i + needle.length]);
      return out;
    };
  }
  let flags = 'g';
  let src = q;
  if (src.startsWith('(?i)')) {
    flags += 'i';
    src = src.slice(4);
  }
  let re;
  try {
    re = new RegExp(src, flags);
  } catch {
    return null;
  }
  return (text) => {
    const out = [];
    re.lastIndex = 0;
    for (let m = re.exec(text); m && out.length < 100; m = re.exec(text)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      out.push([m.index, m.index + m[0].length]);
    }
    return out;
  };
}

/**
 * A walk through the matches of one query, fetching pages as it goes.
 * @param {string} taskID
 * @param {{ q?: string, regex?: boolean, level?: string }} query
 */
function createCursor(taskID, query) {
  /** @type {number[]} */
  const found = []; // line numbers of the matches fetched, ascending
  let next = 0; // the line the next page starts at; -1: all fetched
  let count = 0;
  let index = -1;
  const ctl = new AbortController();

  async function fetchPage() {
    const res = await searchTaskLog(taskID, { ...query, from: next, limit: PAGE }, ctl.signal);
    for (const m of res.matches) found.push(m.line);
    count = res.count;
    next = res.next;
  }

  return {
    get count() {
      return count;
    },
    get index() {
      return index;
    },
    get line() {
      return index >= 0 ? found[index] : -1;
    },
    get found() {
      return found;
    },
    get complete() {
      return next < 0;
    },
    start: fetchPage,
    /** Fetch more pages until `want` matches are in (or all are). */
    async fill(want) {
      while (next >= 0 && found.length < want) await fetchPage();
    },
    /** The first match at or after line n becomes current; wraps to the first. */
    async seek(n) {
      while (next >= 0 && (found.length === 0 || found[found.length - 1] < n)) await fetchPage();
      const i = found.findIndex((l) => l >= n);
      index = found.length ? (i < 0 ? 0 : i) : -1;
    },
    async step(delta) {
      if (!found.length) return;
      let i = index + delta;
      if (i >= found.length && next >= 0) await fetchPage();
      if (i < 0) {
        await this.fill(FILTER_MAX); // the last match, to wrap round to
        i = found.length - 1;
      }
      if (i >= found.length) i = 0;
      index = i;
    },
    stop() {
      ctl.abort();
    },
  };
}

/**
 * @param {{ taskID: string, log: ReturnType<typeof import('./logview.js').createLogView> }} options
 */
export function createLogSearch({ taskID, log }) {
  const input = h('input', {
    class: 'input input-small log-search-input',
    type: 'search',
    id: 'log-search',
    placeholder: 'Search the log',
    'aria-label': 'Search the log',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  const regex = h('input', { type: 'checkbox', id: 'log-regex' });
  const prev = h('button', { class: 'btn btn-small', type: 'button', id: 'log-prev', title: 'Previous match (Shift+Enter)', 'aria-label': 'Previous match' }, '↑');
  const next = h('button', { class: 'btn btn-small', type: 'button', id: 'log-next', title: 'Next match (Enter)', 'aria-label': 'Next match' }, '↓');
  const status = h('span', { class: 'muted small log-search-count', id: 'log-search-count', 'aria-live': 'polite' }, '');
  const filter = h('input', { type: 'checkbox', id: 'log-filter' });
  const nextError = h('button', { class: 'btn btn-small', type: 'button', id: 'log-next-error', title: 'Jump to the next line counted as an error' }, 'Next error');
  const el = h(
    'div',
    { class: 'log-search', role: 'search' },
    input,
    h('label', { class: 'check small', title: 'An RE2 regular expression, as written ((?i) ignores case)' }, regex, ' Regex'),
    prev,
    next,
    status,
    h('label', { class: 'check small', title: 'Show only the matching lines' }, filter, ' Only matches'),
    nextError,
  );

  /** @type {ReturnType<typeof createCursor> | null} */
  let search = null;
  /** @type {ReturnType<typeof createCursor> | null} */
  let errors = null;
  let timer = 0;
  let asked = ''; // the query the current search is for

  const fail = (err) => {
    if (err?.name === 'AbortError') return;
    status.textContent = err?.message || 'The search failed';
    status.classList.add('log-search-error');
  };

  function show(cursor, what) {
    status.classList.remove('log-search-error');
    if (!cursor.count) {
      status.textContent = what === 'error' ? 'No errors' : 'No matches';
      return;
    }
    const of = `${(cursor.index + 1).toLocaleString()} of ${cursor.count.toLocaleString()}`;
    status.textContent = what === 'error' ? `error ${of}` : of;
  }

  async function run({ jump }) {
    clearTimeout(timer);
    const q = input.value;
    const key = JSON.stringify([q, regex.checked]);
    if (key === asked && search) {
      if (jump) await step(1);
      return;
    }
    asked = key;
    search?.stop();
    search = null;
    if (!q) {
      status.textContent = '';
      log.setMatches([], null);
      log.setCurrent(-1);
      if (filter.checked) log.setFilter(null);
      return;
    }
    const cursor = createCursor(taskID, { q, regex: regex.checked });
    search = cursor;
    status.textContent = 'Searching…';
    try {
      await cursor.start();
      if (search !== cursor) return;
      await cursor.seek(0);
      if (search !== cursor) return;
      log.setMatches(cursor.found, highlighter(q, regex.checked));
      await applyFilter();
      if (search !== cursor) return;
      log.setCurrent(cursor.line);
      show(cursor, 'match');
    } catch (err) {
      if (search === cursor) fail(err);
    }
  }

  async function step(delta) {
    const cursor = search;
    if (!cursor) return run({ jump: false });
    try {
      await cursor.step(delta);
      if (search !== cursor) return;
      log.setMatches(cursor.found, highlighter(input.value, regex.checked));
      log.setCurrent(cursor.line);
      show(cursor, 'match');
    } catch (err) {
      fail(err);
    }
  }

  async function applyFilter() {
    if (!filter.checked || !search) {
      log.setFilter(null);
      return;
    }
    const cursor = search;
    await cursor.fill(FILTER_MAX);
    if (search !== cursor) return;
    log.setMatches(cursor.found, highlighter(input.value, regex.checked));
    log.setFilter(cursor.found);
  }

  async function jumpToError() {
    try {
      // What was typed in the box and not searched yet goes first, so that
      // its late answer (an emptied box clears the marks and the count)
      // does not wipe out the error jumped to.
      if (JSON.stringify([input.value, regex.checked]) !== asked) await run({ jump: false });
      // Searched once per click from the line after the current one: a
      // running task's errors keep coming, and the count with them.
      const from = Math.max(0, (errors?.line ?? -1) + 1);
      errors?.stop();
      const cursor = createCursor(taskID, { level: 'error' });
      errors = cursor;
      await cursor.start();
      await cursor.seek(from);
      if (errors !== cursor) return;
      if (cursor.line >= 0) {
        log.setMatches(new Set([...(search?.found ?? []), cursor.line]), search ? highlighter(input.value, regex.checked) : null);
        log.setCurrent(cursor.line);
      }
      show(cursor, 'error');
    } catch (err) {
      fail(err);
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => run({ jump: false }), DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    clearTimeout(timer);
    const key = JSON.stringify([input.value, regex.checked]);
    if (key !== asked || !search) run({ jump: false });
    else step(e.shiftKey ? -1 : 1);
  });
  regex.addEventListener('change', () => run({ jump: false }));
  next.addEventListener('click', () => step(1));
  prev.addEventListener('click', () => step(-1));
  filter.addEventListener('change', () => applyFilter().catch(fail));
  nextError.addEventListener('click', jumpToError);

  return {
    el,
    destroy() {
      clearTimeout(timer);
      search?.stop();
      errors?.stop();
    },
  };
}
