// Formatting of the numbers and times the dashboard shows. Pure functions,
// no DOM, so they run under Node's test runner as well.

/**
 * Relative time, as "12 s ago". `when` is a Date, an RFC 3339 string or
 * epoch milliseconds. A missing or zero time (Go's time.Time{}) is "never";
 * a time slightly in the future (clock skew) is "just now".
 */
export function ago(when, now = Date.now()) {
  const t = toMillis(when);
  if (t === null) return 'never';
  const s = Math.floor((now - t) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ago`;
  return `${Math.floor(hrs / 24)} d ago`;
}

/**
 * Time until `when`, as "in 12 s", "in 3 min", "in 2 h", "in 4 d"; "now"
 * once it is reached, "–" for a missing time.
 */
export function until(when, now = Date.now()) {
  const t = toMillis(when);
  if (t === null) return '–';
  const s = Math.ceil((t - now) / 1000);
  if (s < 1) return 'now';
  if (s < 60) return `in ${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `in ${m} min`;
  const hrs = Math.round(m / 60);
  if (hrs < 48) return `in ${hrs} h`;
  return `in ${Math.round(hrs / 24)} d`;
}

/** Absolute local date and time, for tooltips; "never" as in ago(). */
export function dateTime(when) {
  const t = toMillis(when);
  if (t === null) return 'never';
  return new Date(t).toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

// Go marshals a zero time.Time as "0001-01-01T00:00:00Z".
const EARLIEST = Date.UTC(1971, 0, 1);

function toMillis(when) {
  if (when == null || when === '') return null;
  const t = when instanceof Date ? when.getTime() : typeof when === 'number' ? when : Date.parse(when);
  return Number.isFinite(t) && t >= EARLIEST ? t : null;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Byte count in binary units: 1536 → "1.5 KiB". */
export function bytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  const digits = i === 0 || n >= 100 ? 0 : 1;
  return `${n.toFixed(digits)} ${UNITS[i]}`;
}

/** Duration in whole seconds, two largest units: "3 d 4 h", "12 min". */
export function duration(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return hrs > 0 ? `${d} d ${hrs} h` : `${d} d`;
  if (hrs > 0) return m > 0 ? `${hrs} h ${m} min` : `${hrs} h`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

/** Share of part in total as a whole percentage in [0, 100]; 0 when total is 0. */
export function percent(part, total) {
  if (!(total > 0) || !Number.isFinite(part)) return 0;
  return Math.min(100, Math.max(0, Math.round((part / total) * 100)));
}

/** "linux/amd64", or whichever half is known. */
export function platform(os, arch) {
  return [os, arch].filter(Boolean).join('/') || '–';
}

/** The browser's IANA time zone, e.g. "Europe/Paris" ("UTC" if it has none). */
export function localZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/**
 * A date and time as the clocks of timeZone show it, with the zone's short
 * name: "Thu, Dec 3, 15:04:05 GMT+1". An unknown zone falls back to UTC and
 * says so; "" means UTC (as a schedule's timezone does). "never" as in ago().
 */
export function zonedDateTime(when, timeZone = '') {
  const t = toMillis(when);
  if (t === null) return 'never';
  const opts = { weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' };
  try {
    return new Date(t).toLocaleString(undefined, { ...opts, timeZone: timeZone || 'UTC' });
  } catch {
    return `${new Date(t).toLocaleString(undefined, { ...opts, timeZone: 'UTC' })} (unknown zone ${timeZone})`;
  }
}

/**
 * A cron descriptor in words ("@hourly" → "once an hour"); "" for anything
 * else, "@every 30s" included (those speak for themselves).
 */
export function cronWords(expr) {
  const e = (expr || '').trim();
  return { '@yearly': 'once a year', '@annually': 'once a year', '@monthly': 'once a month', '@weekly': 'once a week', '@daily': 'once a day', '@midnight': 'once a day', '@hourly': 'once an hour' }[e] ?? '';
}

/** Time zones offered in the schedule form (any IANA name may be typed). */
export const COMMON_ZONES = [
  'UTC',
  'Europe/London', 'Europe/Dublin', 'Europe/Lisbon', 'Europe/Paris', 'Europe/Berlin', 'Europe/Madrid', 'Europe/Rome',
  'Europe/Amsterdam', 'Europe/Stockholm', 'Europe/Warsaw', 'Europe/Athens', 'Europe/Istanbul', 'Europe/Moscow',
  'Africa/Cairo', 'Africa/Johannesburg', 'Africa/Lagos', 'Africa/Nairobi',
  'America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Anchorage', 'America/Toronto',
  'America/Mexico_City', 'America/Bogota', 'America/Lima', 'America/Sao_Paulo', 'America/Argentina/Buenos_Aires',
  'Asia/Dubai', 'Asia/Karachi', 'Asia/Kolkata', 'Asia/Dhaka', 'Asia/Bangkok', 'Asia/Jakarta', 'Asia/Singapore',
  'Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Seoul', 'Asia/Tokyo',
  'Australia/Perth', 'Australia/Adelaide', 'Australia/Sydney', 'Pacific/Auckland', 'Pacific/Honolulu',
];

/** A run time: tenths of a second under a minute ("1.5 s"), else as duration. */
export function runTime(seconds) {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  return duration(seconds);
}
