'use strict';
// Turning one item into the line crawlhub stores, or a clear ItemError.
// Items are checked where the spider saves them, because the endpoint
// refuses a whole request for one bad line: checked late, one bad item
// would cost the good ones sent with it.

// The same limits the endpoint applies (store.MaxItemBytes and
// store.ReservedItemKeys on the crawlhub side, which sdk/limits_test.go
// holds these to).
const MAX_ITEM_BYTES = 1 << 20;
const RESERVED_KEYS = Object.freeze(['_id', '_task_id', '_n', '_key', '_outcome', '_current', '_saved', '_json']);

/** An item crawlhub cannot take: nothing of it was saved. `index` is its
 * position in the saveItems call (undefined for saveItem). */
class ItemError extends Error {
  constructor(message, index) {
    super(message);
    this.name = 'ItemError';
    this.index = index;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// JSON.stringify's replacer: `this[key]` is the value before its toJSON,
// so a Buffer is still a Buffer here.
function replacer(key, value) {
  const raw = this[key];
  if (typeof raw === 'bigint') return raw.toString(); // exact, as text
  if (raw instanceof Map) return Object.fromEntries(raw);
  if (raw instanceof Set) return Array.from(raw);
  if (raw instanceof Uint8Array) {
    try {
      return utf8.decode(raw);
    } catch {
      throw new TypeError('bytes that are not UTF-8 text: decode them, or base64-encode them, before saving');
    }
  }
  return value;
}

function preview(line, limit = 120) {
  return line.length <= limit ? line : line.slice(0, limit) + '…';
}

/** Returns the item as one line of compact JSON (no newline); throws
 * ItemError when it is not an object, has a reserved key, cannot be JSON,
 * or is over MAX_ITEM_BYTES. */
function encodeItem(item, index) {
  const where = index === undefined ? 'item' : `item ${index}`;
  if (item instanceof Map) item = Object.fromEntries(item);
  if (item !== null && typeof item === 'object' && typeof item.toJSON === 'function' && !(item instanceof Date)) {
    item = item.toJSON();
  }
  if (item === null || typeof item !== 'object' || Array.isArray(item) || item instanceof Date || item instanceof Uint8Array) {
    const kind = item === null ? 'null' : Array.isArray(item) ? 'an array' : item instanceof Date ? 'a Date' : typeof item;
    throw new ItemError(`${where} is ${kind}: an item must be a JSON object`, index);
  }
  for (const k of RESERVED_KEYS) {
    if (Object.prototype.hasOwnProperty.call(item, k)) {
      throw new ItemError(
        `${where} has the reserved key '${k}': crawlhub keeps its own fields under ${RESERVED_KEYS.join(', ')}; rename it`,
        index,
      );
    }
  }
  let line;
  try {
    line = JSON.stringify(item, replacer);
  } catch (e) {
    if (/circular/i.test(e.message)) throw new ItemError(`${where} contains itself (a circular reference)`, index);
    throw new ItemError(`${where} is not JSON: ${e.message}`, index);
  }
  const size = Buffer.byteLength(line, 'utf8');
  if (size > MAX_ITEM_BYTES) {
    throw new ItemError(
      `${where} is ${size} bytes as JSON, over the limit of ${MAX_ITEM_BYTES} bytes (1 MiB): ${preview(line, 80)}`,
      index,
    );
  }
  return line;
}

module.exports = { MAX_ITEM_BYTES, RESERVED_KEYS, ItemError, encodeItem, preview };
