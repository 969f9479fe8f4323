// A tiny, safe parser for the colours spiders print (ANSI SGR escape codes).
// It turns one log line into text segments, each with CSS class names; the
// log viewer puts every segment in a <span> with textContent, so nothing in a
// log can become markup. Pure functions, no DOM: they run under Node's test
// runner too.
//
// Understood: reset (0), bold (1), dim (2), italic (3), underline (4), their
// resets (22, 23, 24), foreground 30–37 and 90–97, 39 (default foreground),
// background 40–47 and 100–107, 49 (default background). 38/48 with 5;n pick
// from the 16 basic colours when n < 16 and are otherwise ignored, as is
// 38/48;2;r;g;b (their arguments are skipped, never misread as other codes).
// Every other escape sequence (cursor movement, OSC titles and hyperlinks…)
// and control character is dropped.

/**
 * @typedef {object} Segment
 * @property {string} text
 * @property {string} cls space-separated class names; "" for plain text
 */

/**
 * @typedef {object} Style
 * @property {number} fg -1 for the default, else 0–15
 * @property {number} bg -1 for the default, else 0–15
 * @property {boolean} bold
 * @property {boolean} dim
 * @property {boolean} italic
 * @property {boolean} underline
 */

const ESC = '\u001b';

/** @returns {Style} */
export function plainStyle() {
  return { fg: -1, bg: -1, bold: false, dim: false, italic: false, underline: false };
}

/**
 * Split a line into styled segments. Adjacent text with the same style is
 * merged. A line with no escape codes comes back as one plain segment (or
 * none when it is empty).
 *
 * @param {string} line
 * @returns {Segment[]}
 */
export function parseAnsi(line) {
  line = String(line ?? '');
  line = carriageReturns(line);
  /** @type {Segment[]} */
  const out = [];
  if (!line.includes(ESC) && !hasControl(line)) {
    if (line) out.push({ text: line, cls: '' });
    return out;
  }
  let style = plainStyle();
  let cls = '';
  let text = '';
  const flush = () => {
    if (!text) return;
    const last = out[out.length - 1];
    if (last && last.cls === cls) last.text += text;
    else out.push({ text, cls });
    text = '';
  };
  let i = 0;
  while (i < line.length) {
    const ch = line[i];
    if (ch === ESC) {
      const seq = escapeAt(line, i);
      if (seq.sgr !== null) {
        flush();
        style = applySGR(style, seq.sgr);
        cls = classesOf(style);
      }
      i = seq.end;
      continue;
    }
    const code = ch.charCodeAt(0);
    if (code === 9) text += ch; // tab
    else if (code >= 32 && code !== 127 && !(code >= 0x80 && code < 0xa0)) text += ch;
    i++;
  }
  flush();
  return out;
}

/** The text of a line without any escape codes (for downloads and search). */
export function stripAnsi(line) {
  return parseAnsi(line).map((s) => s.text).join('');
}

/**
 * A progress bar redraws its line with "\r": keep what a terminal would show
 * last. A trailing "\r" (CRLF output) is just removed.
 */
function carriageReturns(line) {
  if (!line.includes('\r')) return line;
  line = line.replace(/\r+$/, '');
  const at = line.lastIndexOf('\r');
  return at < 0 ? line : line.slice(at + 1);
}

function hasControl(line) {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(line);
}

/**
 * The escape sequence starting at line[i] (an ESC): where it ends and, for an
 * SGR sequence (CSI … m), its numeric parameters.
 * @returns {{ end: number, sgr: number[] | null }}
 */
function escapeAt(line, i) {
  const next = line[i + 1];
  if (next === '[') {
    // CSI: parameter bytes 0x30–0x3f, intermediate bytes 0x20–0x2f, one final byte 0x40–0x7e.
    let j = i + 2;
    while (j < line.length && line.charCodeAt(j) >= 0x30 && line.charCodeAt(j) <= 0x3f) j++;
    const params = line.slice(i + 2, j);
    while (j < line.length && line.charCodeAt(j) >= 0x20 && line.charCodeAt(j) <= 0x2f) j++;
    if (j >= line.length) return { end: line.length, sgr: null }; // cut off: drop it
    const final = line[j];
    const isSGR = final === 'm' && /^[0-9;:]*$/.test(params);
    return { end: j + 1, sgr: isSGR ? sgrParams(params) : null };
  }
  if (next === ']' || next === 'P' || next === '_' || next === '^' || next === 'X') {
    // OSC, DCS, APC, PM, SOS: a string up to BEL or ST (ESC \).
    for (let j = i + 2; j < line.length; j++) {
      if (line[j] === '\u0007') return { end: j + 1, sgr: null };
      if (line[j] === ESC && line[j + 1] === '\\') return { end: j + 2, sgr: null };
    }
    return { end: line.length, sgr: null };
  }
  // Two-character escapes (ESC 7, ESC =, …), or a lone ESC at the end.
  return { end: Math.min(line.length, i + 2), sgr: null };
}

function sgrParams(params) {
  if (params === '') return [0];
  // Colons separate sub-parameters (38:5:n); treat them like semicolons.
  return params.split(/[;:]/).map((p) => (p === '' ? 0 : Number.parseInt(p, 10)));
}

/**
 * The style after applying SGR parameters. Never throws, whatever the input.
 * @param {Style} style
 * @param {number[]} params
 * @returns {Style}
 */
export function applySGR(style, params) {
  const s = { ...style };
  for (let k = 0; k < params.length; k++) {
    const p = params[k];
    if (p === 0) Object.assign(s, plainStyle());
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 22) s.bold = s.dim = false;
    else if (p === 23) s.italic = false;
    else if (p === 24) s.underline = false;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p === 39) s.fg = -1;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p === 49) s.bg = -1;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    else if (p === 38 || p === 48) {
      // Extended colour: 5;n (256 colours) or 2;r;g;b (true colour).
      const key = p === 38 ? 'fg' : 'bg';
      if (params[k + 1] === 5) {
        const n = params[k + 2];
        if (Number.isInteger(n) && n >= 0 && n < 16) s[key] = n;
        k += 2;
      } else if (params[k + 1] === 2) {
        k += 4;
      } else {
        k = params.length; // malformed: ignore the rest
      }
    }
    // Anything else (blink, reverse, fonts…) is ignored.
  }
  return s;
}

/** Class names for a style: "ansi-fg-1 ansi-bold", or "" for plain. */
export function classesOf(style) {
  const c = [];
  if (style.fg >= 0) c.push(`ansi-fg-${style.fg}`);
  if (style.bg >= 0) c.push(`ansi-bg-${style.bg}`);
  if (style.bold) c.push('ansi-bold');
  if (style.dim) c.push('ansi-dim');
  if (style.italic) c.push('ansi-italic');
  if (style.underline) c.push('ansi-underline');
  return c.join(' ');
}
