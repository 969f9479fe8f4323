// Environment variables typed as KEY=VALUE lines, as in a .env file, turned
// into the JSON object the API takes. Pure: runs under Node's test runner.

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parse KEY=VALUE lines. Blank lines and lines starting with # are skipped,
 * a leading "export " is allowed, the value is everything after the first
 * "=" (surrounding spaces removed, and one pair of matching quotes).
 *
 * @param {string} text
 * @returns {{ env: Record<string, string>, count: number, error: string | null }}
 *   error names the first bad line, for a person to fix
 */
export function parseEnv(text) {
  /** @type {Record<string, string>} */
  const env = {};
  const seen = new Map();
  const lines = String(text ?? '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    let line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    if (line.startsWith('export ')) line = line.slice(7).trimStart();
    const eq = line.indexOf('=');
    if (eq < 0) return fail(`Line ${n}: "${short(line)}" has no "=". Write KEY=VALUE, one per line.`);
    const key = line.slice(0, eq).trim();
    if (!KEY.test(key)) {
      return fail(`Line ${n}: "${short(key)}" is not a valid variable name (letters, digits and _, not starting with a digit).`);
    }
    if (seen.has(key)) return fail(`Line ${n}: ${key} is already set on line ${seen.get(key)}.`);
    seen.set(key, n);
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) {
      value = value.slice(1, -1);
    }
    env[key] = value;
  }
  return { env, count: seen.size, error: null };
}

function fail(error) {
  return { env: {}, count: 0, error };
}

function short(s) {
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}
