'use strict';
// The Saver: buffers encoded items and sends them in batches, by count and
// by time, retrying while the endpoint is briefly away, and says loudly
// what it could not save.

const { ItemError, encodeItem, preview } = require('./items');
const { HTTPSink, FileSink } = require('./transport');

/** Items were not saved: crawlhub refused them, the task is gone, or the
 * endpoint did not answer for the whole retry time. `lost`: items dropped
 * (refused, or the task is gone); `waiting`: items kept for the next flush
 * (no answer); `status`: the HTTP status of a refusal. */
class SaveError extends Error {
  constructor(message, { lost = 0, waiting = 0, status } = {}) {
    super(message);
    this.name = 'SaveError';
    this.lost = lost;
    this.waiting = waiting;
    this.status = status;
  }
}

class Unavailable extends Error {}

// Statuses that mean the task's endpoint is gone for good: the task ended
// and was cleaned up, or the secret is wrong. Retrying cannot help.
const GONE = new Set([401, 403, 404, 410]);

const RESOLVED = Promise.resolve();

function warn(message) {
  try {
    process.stderr.write(`crawlhub: ${message}\n`);
  } catch {
    // stderr gone: nothing better to do
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Savers with items still to send, for the exit hooks.
const live = new Set();
let hooked = false;

function hookExit() {
  if (hooked) return;
  hooked = true;
  // beforeExit: the event loop is empty, so the spider is done; sending
  // keeps it alive, and it comes again once the flush is over.
  process.on('beforeExit', () => {
    for (const saver of live) saver._exitFlush();
  });
  // exit: process.exit() or an uncaught exception, where nothing
  // asynchronous can run any more: say what is lost.
  process.on('exit', () => {
    for (const saver of live) saver._exitReport();
  });
}

/**
 * Saves items to one endpoint (or stdout / a file). Items are sent when
 * batchSize of them (or batchBytes of JSON) are buffered, or interval ms
 * after the oldest buffered one was saved; flush() sends them now.
 *
 * A failure found in the background is written on stderr at once and
 * thrown as SaveError by the next saveItem or saveItems (which then take
 * nothing), or rejected by the next flush.
 */
class Saver {
  constructor(url, { file, batchSize = 500, batchBytes = 4 << 20, interval = 1000, retryFor = 60000, maxPending, timeout = 30000 } = {}) {
    this._sink = url ? new HTTPSink(url, { timeout }) : new FileSink(file);
    this._batchSize = batchSize;
    this._batchBytes = batchBytes;
    this._interval = interval;
    this._retryFor = retryFor;
    this._maxPending = maxPending || 10 * batchSize;
    this._buf = []; // encoded lines, oldest first
    this._bufBytes = 0;
    this._at = []; // when each buffered line was saved (Date.now())
    this._timer = null;
    this._sending = null; // the drain in progress
    this._waiters = []; // saveItem promises waiting for room
    this._error = null; // a SaveError not yet thrown to the spider
    this._gone = null; // the SaveError every call throws once the task is gone
    this._exitTried = false;
    this.saved = 0; // items the endpoint accepted
    this.lost = 0; // items dropped, each reported on stderr
    hookExit();
  }

  /** Saves one item (an object). Throws ItemError if crawlhub cannot take
   * it, SaveError for an earlier failure. The promise it returns resolves
   * when the buffer has room: await it in a loop that saves many items
   * without awaiting anything else, to bound memory. It never rejects. */
  saveItem(item) {
    return this._put([encodeItem(item)]);
  }

  /** Saves every item of an iterable, or — when one is bad — none of
   * them, throwing ItemError that names its index. */
  saveItems(items) {
    if (items === null || typeof items !== 'object' || typeof items[Symbol.iterator] !== 'function' || items instanceof Map) {
      throw new ItemError('saveItems takes an iterable of items (an array of objects); use saveItem for one');
    }
    const lines = [];
    let i = 0;
    for (const item of items) lines.push(encodeItem(item, i++));
    return this._put(lines);
  }

  /** Sends every buffered item now. Rejects with SaveError if any item
   * saved so far could not be saved (each failure is reported once). */
  async flush() {
    while (this._sending) await this._sending;
    if (this._buf.length && !this._gone) {
      this._kick(true);
      await this._sending;
    }
    this._throwPending();
  }

  /** Flushes, then lets go of the connection. Rejects as flush. */
  async close() {
    try {
      await this.flush();
    } finally {
      clearTimeout(this._timer);
      this._timer = null;
      live.delete(this);
      this._sink.close();
    }
  }

  _put(lines) {
    this._throwPending();
    if (!lines.length) return RESOLVED;
    const now = Date.now();
    for (const line of lines) {
      this._buf.push(line);
      this._at.push(now);
      this._bufBytes += Buffer.byteLength(line) + 1;
    }
    live.add(this);
    if (this._dueIn() <= 0) this._kick(false);
    else this._schedule();
    if (this._buf.length < this._maxPending) return RESOLVED;
    return new Promise((resolve) => this._waiters.push(resolve));
  }

  _throwPending() {
    if (this._gone) throw this._gone;
    if (this._error) {
      const e = this._error;
      this._error = null;
      throw e;
    }
  }

  _schedule() {
    if (this._timer || this._sending || !this._buf.length || this._gone) return;
    this._timer = setTimeout(() => {
      this._timer = null;
      this._kick(false);
    }, Math.max(0, this._dueIn()));
    this._timer.unref(); // a spider that is done exits; beforeExit flushes
  }

  // Milliseconds until a batch is due: 0 when a full one is buffered, or
  // when savers wait for room. The buffer is not empty.
  _dueIn() {
    const full = this._buf.length >= Math.min(this._batchSize, this._maxPending) || this._bufBytes >= this._batchBytes;
    if (full) return 0;
    return this._at[0] + this._interval - Date.now();
  }

  // Starts sending: everything, or (count and timer) the batches that are
  // due, so that a few lines saved during a send wait to make a batch of
  // their own.
  _kick(everything) {
    if (this._sending) return;
    clearTimeout(this._timer);
    this._timer = null;
    this._sending = this._drain(everything)
      .catch((e) => this._fail(new SaveError(`sending items failed: ${e && e.stack ? e.stack : e}`)))
      .finally(() => {
        this._sending = null;
        this._release();
        if (!this._buf.length && !this._waiters.length && !this.lost) live.delete(this);
        this._schedule();
      });
  }

  _release() {
    if (this._buf.length >= this._maxPending && !this._error && !this._gone) return;
    const waiters = this._waiters;
    this._waiters = [];
    for (const resolve of waiters) resolve();
  }

  async _drain(everything) {
    while (this._buf.length && !this._gone && (everything || this._dueIn() <= 0)) {
      let n = 0;
      let size = 0;
      while (n < this._buf.length && n < this._batchSize) {
        size += Buffer.byteLength(this._buf[n]) + 1;
        n++;
        if (size >= this._batchBytes) break;
      }
      const batch = this._buf.splice(0, n);
      this._at.splice(0, n);
      this._bufBytes -= size;
      const pending = [batch]; // parts not yet answered, in order
      try {
        await this._deliver(pending);
      } catch (e) {
        // Whatever was not answered goes back to the front, in order.
        const lines = pending.flat();
        this._buf.unshift(...lines);
        for (const line of lines) this._bufBytes += Buffer.byteLength(line) + 1;
        // Due again one interval from now, not at once: the endpoint has
        // just been away for the whole retry time.
        this._at.unshift(...lines.map(() => Date.now()));
        if (!(e instanceof Unavailable)) throw e;
        const waiting = this._buf.length;
        this._fail(
          new SaveError(
            `the items endpoint did not answer for ${this._retryFor / 1000} s (${e.message}); ` +
              `${waiting} items are kept and will be sent by the next flush`,
            { waiting },
          ),
        );
        return;
      }
      this._release();
    }
  }

  // Sends pending (an array of arrays of lines), removing each part once
  // answered. A refused request keeps none of its lines, so a bad line is
  // dropped and the rest sent again; a body too large is split.
  async _deliver(pending) {
    while (pending.length) {
      const part = pending[0];
      const { status, reply } = await this._post(Buffer.from(part.join('\n') + '\n'));
      pending.shift();
      const error = reply.error || `HTTP ${status}`;
      if (status === 200) {
        this.saved += part.length;
        continue;
      }
      if (GONE.has(status)) {
        this._taskGone(status, error, part.length + pending.reduce((n, p) => n + p.length, 0));
        pending.length = 0;
        return;
      }
      if (status === 413 && part.length > 1) {
        const half = part.length >> 1;
        pending.unshift(part.slice(0, half), part.slice(half));
        continue;
      }
      const line = reply.line;
      if (status === 400 && Number.isInteger(line) && line >= 1 && line <= part.length) {
        const bad = part[line - 1];
        pending.unshift(...[part.slice(0, line - 1), part.slice(line)].filter((p) => p.length));
        this._drop(1, status, `crawlhub refused an item (${error}): ${preview(bad)}`);
        continue;
      }
      const what = status ? 'crawlhub refused' : 'could not save';
      if (part.length === 1) this._drop(1, status, `${what} an item (${error}): ${preview(part[0])}`);
      else this._drop(part.length, status, `${what} ${part.length} items (${error})`);
    }
  }

  // Posts body until the endpoint answers below 500, for up to retryFor
  // ms, backing off; throws Unavailable after that.
  async _post(body) {
    const deadline = Date.now() + this._retryFor;
    let delay = 100;
    let warned = false;
    for (;;) {
      let why;
      try {
        const answer = await this._sink.post(body);
        if (answer.status < 500) return answer;
        why = `HTTP ${answer.status}: ${answer.reply.error}`;
      } catch (e) {
        why = e.code ? `${e.code}: ${e.message}` : e.message;
      }
      if (Date.now() + delay > deadline) throw new Unavailable(why);
      if (!warned) {
        warn(`the items endpoint is not answering (${why}); retrying for up to ${this._retryFor / 1000} s`);
        warned = true;
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }

  // Records a failure for the spider's next call, and says it now.
  _fail(error) {
    warn(error.message);
    if (!this._error) {
      this._error = error;
    } else {
      this._error.lost += error.lost;
      this._error.waiting = error.waiting;
    }
  }

  _drop(n, status, message) {
    this.lost += n;
    this._fail(new SaveError(message, { lost: n, status }));
  }

  _taskGone(status, error, unsent) {
    unsent += this._buf.length;
    this._buf = [];
    this._at = [];
    this._bufBytes = 0;
    this.lost += unsent;
    this._gone = new SaveError(
      `crawlhub no longer takes this task's items (${error}, HTTP ${status}): the task has ended ` +
        'or its CRAWLHUB_ITEMS_URL is wrong; items cannot be saved',
      { status },
    );
    warn(`${this._gone.message} (${unsent} items not saved)`);
  }

  _exitFlush() {
    if (!this._buf.length || this._gone || this._sending) return;
    if (this._exitTried) {
      // Flushed once at exit already and items are still here: say so and
      // let the process end rather than retry for ever.
      this._exitReport();
      live.delete(this);
      return;
    }
    this._exitTried = true;
    this.flush().catch(() => {}); // failures were written on stderr as they happened
  }

  _exitReport() {
    const waiting = this._buf.length;
    if (waiting || this.lost) {
      warn(`at exit: ${this.saved} items saved, ${waiting + this.lost} NOT saved (see above)`);
    }
    if (waiting && !this._exitTried) {
      warn('the process exited before crawlhub could send its items: await crawlhub.flush() before process.exit()');
    }
  }
}

module.exports = { Saver, SaveError };
