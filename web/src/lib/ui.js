// Small building blocks shared by the pages: badges, callouts, meters,
// definition lists, the page header and the "last updated" indicator.

import { h, replace } from './dom.js';
import { ago, dateTime, duration, until } from './format.js';
import { getSocket } from './ws.js';

/** online / offline badge. */
export function statusBadge(status) {
  const online = status === 'online';
  return h(
    'span',
    { class: `badge ${online ? 'badge-ok' : 'badge-bad'}`, dataset: { status: status || 'unknown' } },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    online ? 'Online' : status === 'offline' ? 'Offline' : status || 'Unknown',
  );
}

/** Master / Agent badge. */
export function roleBadge(isMaster) {
  return h('span', { class: `badge ${isMaster ? 'badge-accent' : 'badge-neutral'}` }, isMaster ? 'Master' : 'Agent');
}

/** A <time> that keeps saying "12 s ago" (see startClock), full date on hover. */
export function timeAgo(when) {
  return h('time', { datetime: when || null, title: dateTime(when), dataset: { ago: when || '' } }, ago(when));
}

/** A <time> that keeps saying "in 12 s" until `when` (see startClock), full date on hover. */
export function timeUntil(when) {
  return h('time', { datetime: when || null, title: dateTime(when), dataset: { until: when || '' } }, until(when));
}

/** A duration that keeps counting from `since` (a running task), see startClock. */
export function elapsed(since) {
  return h('span', { class: 'elapsed', dataset: { since } }, elapsedText(since, Date.now()));
}

function elapsedText(since, now) {
  const t = Date.parse(since);
  return Number.isFinite(t) ? duration(Math.max(0, (now - t) / 1000)) : '–';
}

/** Refresh every relative time, countdown and running duration on the page once a second. */
export function startClock() {
  const tick = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll('time[data-ago]')) {
      const text = ago(el.dataset.ago, now);
      if (el.textContent !== text) el.textContent = text;
    }
    for (const el of document.querySelectorAll('time[data-until]')) {
      const text = until(el.dataset.until, now);
      if (el.textContent !== text) el.textContent = text;
    }
    for (const el of document.querySelectorAll('.elapsed[data-since]')) {
      const text = elapsedText(el.dataset.since, now);
      if (el.textContent !== text) el.textContent = text;
    }
  };
  return setInterval(tick, 1000);
}

/** A message box; kind is "error", "warning" or "info". */
export function callout(kind, title, message, ...extra) {
  return h(
    'div',
    { class: `callout callout-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('strong', { class: 'callout-title' }, title),
    message ? h('p', { class: 'callout-message' }, message) : null,
    extra,
  );
}

/** Error box showing the server's message for a failed call. */
export function errorBox(title, err) {
  return callout('error', title, err?.message || String(err));
}

export function loading(text = 'Loading…') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}

export function emptyState(title, ...body) {
  return h('div', { class: 'empty' }, h('strong', null, title), body);
}

/**
 * Page title row: optional breadcrumb link, title, badges after it, a
 * subtitle line and actions on the right.
 */
export function pageHeader({ title, back, badges, subtitle, actions }) {
  return h(
    'header',
    { class: 'page-header' },
    h(
      'div',
      { class: 'page-heading' },
      back ? h('a', { class: 'back', href: back.href }, '← ', back.label) : null,
      h('div', { class: 'title-row' }, h('h1', null, title), badges),
      subtitle ? h('p', { class: 'subtitle' }, subtitle) : null,
    ),
    actions ? h('div', { class: 'page-actions' }, actions) : null,
  );
}

/**
 * A card with a title bar. An element passed as body becomes the card body
 * itself, so the caller can keep replacing its content.
 */
export function card(title, body, { class: cls = '', aside } = {}) {
  if (body instanceof Element) body.classList.add('card-body');
  else body = h('div', { class: 'card-body' }, body);
  return h(
    'section',
    { class: `card ${cls}`.trim() },
    title ? h('div', { class: 'card-header' }, h('h2', null, title), aside) : null,
    body,
  );
}

/**
 * Definition list of [label, value, field?] rows; field becomes
 * data-field on the value, which the browser test reads.
 */
export function fields(rows) {
  return h(
    'dl',
    { class: 'fields' },
    rows.map(([label, value, field]) => [
      h('dt', null, label),
      h('dd', { dataset: field ? { field } : null }, value == null || value === '' ? '–' : value),
    ]),
  );
}

/** A horizontal bar for "used of total", amber above 80 %, red above 90 %. */
export function meter({ label, value, max, detail, field }) {
  const pct = max > 0 ? Math.min(100, Math.max(0, (value / max) * 100)) : 0;
  const level = pct >= 90 ? 'meter-bad' : pct >= 80 ? 'meter-warn' : '';
  return h(
    'div',
    { class: `meter ${level}`.trim(), dataset: field ? { field } : null },
    h('div', { class: 'meter-label' }, h('span', null, label), h('span', { class: 'meter-pct' }, `${Math.round(pct)} %`)),
    h(
      'div',
      {
        class: 'meter-track',
        role: 'meter',
        'aria-label': label,
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': Math.round(pct),
      },
      h('div', { class: 'meter-fill', style: { width: `${pct}%` } }),
    ),
    h('div', { class: 'meter-detail' }, detail),
  );
}

/**
 * "Updated 3 s ago" next to a page title; turns into a warning while the
 * latest refresh failed.
 */
export function freshness() {
  const el = h('span', { class: 'freshness', 'aria-live': 'polite' });
  return {
    el,
    ok() {
      el.classList.remove('is-stale');
      replace(el, h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('span', null, 'Updated ', timeAgo(new Date().toISOString())));
    },
    failed() {
      el.classList.add('is-stale');
      replace(el, h('span', { class: 'pulse', 'aria-hidden': 'true' }), h('span', null, 'Not updating — retrying'));
    },
  };
}

const TASK_STATUS = {
  pending: ['Pending', 'badge-neutral', 'Waiting for a node to take it'],
  running: ['Running', 'badge-accent', 'Running now'],
  finished: ['Finished', 'badge-ok', 'Ended with exit code 0'],
  error: ['Error', 'badge-bad', 'Ended with an error'],
  cancelled: ['Cancelled', 'badge-warn', 'Stopped before it ended'],
  abnormal: ['Abnormal', 'badge-bad', 'Its node went away while it ran'],
};

/**
 * A task's status as a badge; the reason (why it is in that status) is
 * its tooltip.
 */
export function taskStatusBadge(status, reason) {
  const [label, cls, note] = TASK_STATUS[status] ?? [status || 'Unknown', 'badge-neutral', ''];
  return h(
    'span',
    { class: `badge ${cls} task-status task-${status}`, dataset: { status: status || 'unknown' }, title: reason || note || null },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    label,
  );
}

/** The status badge with the reason beside it (muted, shortened; full on hover). */
export function taskStatus(status, reason) {
  return h(
    'span',
    { class: 'task-status-cell' },
    taskStatusBadge(status, reason),
    reason ? h('span', { class: 'reason', title: reason }, reason) : null,
  );
}

/**
 * "Live" beside a page title: green while the WebSocket is connected and
 * the data loads, amber with a "Retry now" while it reconnects or the
 * latest load failed. Call stop() when the page goes.
 */
export function liveIndicator() {
  const el = h('span', { class: 'freshness live', 'aria-live': 'polite' });
  const socket = getSocket();
  let loadFailed = false;
  let shown = '';
  const render = () => {
    const st = socket.status();
    let key;
    let content;
    if (loadFailed) {
      key = 'failed';
      content = h('span', null, 'Not updating — retrying');
    } else if (st.state === 'open') {
      key = 'open';
      content = h('span', null, 'Live');
    } else if (st.state === 'waiting') {
      key = 'waiting';
      content = [
        h('span', null, 'Reconnecting…'),
        h('button', { class: 'link-button', type: 'button', onclick: () => socket.retryNow() }, 'Retry now'),
      ];
    } else if (st.state === 'paused') {
      key = 'paused';
      content = h('span', null, 'Offline');
    } else {
      key = 'connecting';
      content = h('span', null, 'Connecting…');
    }
    if (key === shown) return;
    shown = key;
    el.dataset.state = key;
    el.classList.toggle('is-stale', key === 'failed' || key === 'waiting' || key === 'paused');
    el.title = key === 'open' ? 'Changes appear as they happen' : key === 'waiting' && st.lastClose ? `Connection closed (${st.lastClose.code}${st.lastClose.reason ? `: ${st.lastClose.reason}` : ''})` : '';
    replace(el, h('span', { class: 'pulse', 'aria-hidden': 'true' }), content);
  };
  const off = socket.onStatus(render);
  render();
  return {
    el,
    ok() {
      loadFailed = false;
      render();
    },
    failed() {
      loadFailed = true;
      render();
    },
    stop: off,
  };
}

/** The end of a 24-hex-digit id, which differs between ids made together. */
export function shortID(id) {
  return id && id.length > 8 ? id.slice(-8) : id || '';
}

/**
 * When a node was last heard from. An online node is heard every few
 * seconds (its status is live), so it says "now" rather than a time that the
 * 30 s refresh of the records would make look stale; an offline node says
 * how long ago it went silent.
 */
export function lastSeen(node) {
  if (node.status === 'online') {
    return h('span', { class: 'seen-now', title: `Sending heartbeats; last stored ${dateTime(node.last_seen)}` }, 'now');
  }
  return timeAgo(node.last_seen);
}
