'use strict';
// Where batches go: the task's items endpoint over HTTP (TCP or a unix
// socket), or NDJSON to a file or stdout when the spider runs outside
// crawlhub. Messages never show the URL: it holds the task's secret.

const fs = require('fs');
const http = require('http');

class HTTPSink {
  constructor(url, { timeout = 30000 } = {}) {
    let u;
    try {
      u = new URL(url);
    } catch {
      throw new Error('CRAWLHUB_ITEMS_URL is not a URL');
    }
    this._target = { path: (u.pathname || '/') + u.search };
    if (u.protocol === 'http:') {
      this._target.host = u.hostname.replace(/^\[(.*)\]$/, '$1');
      this._target.port = u.port || 80;
    } else if (u.protocol === 'http+unix:') {
      this._target.socketPath = decodeURIComponent(u.host);
      if (!this._target.socketPath) throw new Error('CRAWLHUB_ITEMS_URL has no socket path');
    } else {
      throw new Error(`CRAWLHUB_ITEMS_URL has the scheme '${u.protocol.replace(/:$/, '')}': expected http or http+unix`);
    }
    this._timeout = timeout;
    // One kept-alive connection: batches go one at a time, in order. Idle
    // sockets do not keep the process alive.
    this._agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  /** Resolves to {status, reply} (reply: the JSON object, or {error: text});
   * rejects when no reply came. */
  async post(body) {
    try {
      return await this._request(body);
    } catch (e) {
      // A kept-alive connection the server closed while idle fails on first
      // use, before the server read anything: try a new one once.
      if (e.reusedSocket) return this._request(body);
      throw e;
    }
  }

  _request(body) {
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this._target,
        method: 'POST',
        agent: this._agent,
        headers: { 'Content-Type': 'application/x-ndjson', 'Content-Length': body.length },
      });
      req.setTimeout(this._timeout, () => req.destroy(new Error(`no answer in ${this._timeout} ms`)));
      req.on('error', (e) => {
        e.reusedSocket = req.reusedSocket;
        reject(e);
      });
      req.on('response', (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let reply;
          try {
            reply = JSON.parse(text);
          } catch {
            reply = null;
          }
          if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) {
            reply = { error: text.trim() || res.statusMessage };
          }
          resolve({ status: res.statusCode, reply });
        });
      });
      req.end(body);
    });
  }

  close() {
    this._agent.destroy();
  }
}

/** Appends NDJSON to a file (path), or to stdout (path undefined): a
 * spider run outside crawlhub still has its items, in the format the
 * endpoint takes. */
class FileSink {
  constructor(path) {
    this._fd = path === undefined ? undefined : fs.openSync(path, 'a');
  }

  // Answers like the endpoint; status 0 when writing failed (a closed pipe,
  // a full disk), which no retry would mend.
  async post(body) {
    try {
      await this._write(body);
    } catch (e) {
      return { status: 0, reply: { error: `writing items to ${this._fd === undefined ? 'stdout' : 'the items file'} failed: ${e.message}` } };
    }
    return { status: 200, reply: { accepted: body.toString('utf8').split('\n').length - 1 } };
  }

  async _write(body) {
    if (this._fd !== undefined) {
      for (let off = 0; off < body.length; ) off += fs.writeSync(this._fd, body, off);
    } else {
      // Through process.stdout, so that lines keep their place among the
      // spider's console.log output.
      await new Promise((resolve, reject) => process.stdout.write(body, (e) => (e ? reject(e) : resolve())));
    }
  }

  close() {
    if (this._fd !== undefined) fs.closeSync(this._fd);
    this._fd = undefined;
  }
}

module.exports = { HTTPSink, FileSink };
