'use strict';
/**
 * crawlhub: save a spider's items to crawlhub.
 *
 *     const { saveItem } = require('crawlhub');
 *     saveItem({ url, title });
 *
 * Items are JSON objects, at most 1 MiB each as JSON. They are sent to the
 * task's items endpoint (CRAWLHUB_ITEMS_URL, set by crawlhub for every
 * task) in batches of up to 500, or one second after the first of a batch
 * was saved, and whatever is left is sent when the event loop empties
 * (beforeExit). A spider that calls process.exit() must `await flush()`
 * first. Outside crawlhub (no CRAWLHUB_ITEMS_URL) items are written as
 * NDJSON to stdout, or appended to the file named by CRAWLHUB_ITEMS_FILE.
 *
 * No dependencies; Node.js 18+. The "Saving results" page of crawlhub's
 * docs says what happens on each kind of error.
 */
const { MAX_ITEM_BYTES, RESERVED_KEYS, ItemError } = require('./items');
const { Saver, SaveError } = require('./saver');

let defaultSaver = null;

function saver() {
  if (defaultSaver) return defaultSaver;
  const url = process.env.CRAWLHUB_ITEMS_URL;
  const file = process.env.CRAWLHUB_ITEMS_FILE;
  if (url) {
    defaultSaver = new Saver(url);
  } else {
    process.stderr.write(
      file
        ? `crawlhub: CRAWLHUB_ITEMS_URL is not set (not a crawlhub task): appending items to ${file} as NDJSON\n`
        : 'crawlhub: CRAWLHUB_ITEMS_URL is not set (not a crawlhub task): writing items to stdout as NDJSON ' +
            '(set CRAWLHUB_ITEMS_FILE to append them to a file instead)\n',
    );
    defaultSaver = new Saver(undefined, { file: file || undefined });
  }
  flushOnSigterm(defaultSaver);
  return defaultSaver;
}

// crawlhub cancels a task with SIGTERM. Node's default is to die at once,
// losing the items of the last second: flush first, then die of the signal
// as the default would. Only when nobody handles SIGTERM already; whoever
// does should await flush() in their handler.
function flushOnSigterm(s) {
  if (process.listenerCount('SIGTERM') > 0) return;
  const onTerm = () => {
    s.flush()
      .catch(() => {}) // failures were written on stderr as they happened
      .finally(() => {
        process.removeListener('SIGTERM', onTerm);
        if (process.listenerCount('SIGTERM') === 0) process.kill(process.pid, 'SIGTERM');
      });
  };
  process.on('SIGTERM', onTerm);
}

/** Saves one item (an object). Throws ItemError when crawlhub cannot take
 * it (nothing of it is saved; the spider can go on), SaveError when earlier
 * items could not be saved (this one is not taken either). Returns a
 * promise that resolves when the buffer has room; it never rejects. */
function saveItem(item) {
  return saver().saveItem(item);
}

/** Saves every item of an iterable, or — when one is bad — none of them,
 * throwing ItemError that names its index. */
function saveItems(items) {
  return saver().saveItems(items);
}

/** Sends the buffered items now; rejects with SaveError if any item saved
 * so far could not be saved. */
function flush() {
  return defaultSaver ? defaultSaver.flush() : Promise.resolve();
}

exports.saveItem = saveItem;
exports.saveItems = saveItems;
exports.flush = flush;
exports.Saver = Saver;
exports.ItemError = ItemError;
exports.SaveError = SaveError;
exports.MAX_ITEM_BYTES = MAX_ITEM_BYTES;
exports.RESERVED_KEYS = RESERVED_KEYS;
