'use strict';
// A fake of the agent's items endpoint, for the Node SDK tests: the same
// contract as fake_endpoint.py (see there). fail503 answers 503 that many
// times; gone answers 403; an item with the key "server_rejects" is a bad
// line; a body over maxBody gets 413.

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const RESERVED = ['_id', '_task_id', '_n', '_key', '_outcome', '_current', '_saved', '_json'];
const SECRET = 's3cr3t';

class FakeEndpoint {
  constructor({ maxBody = 16 << 20 } = {}) {
    this.maxBody = maxBody;
    this.fail503 = 0;
    this.gone = false;
    this.items = [];
    this.requests = []; // [status, lines]
    this._waiters = [];
    this.server = http.createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const [status, obj, lines] = this._answer(req.url, Buffer.concat(chunks));
        this.requests.push([status, lines]);
        const body = JSON.stringify(obj);
        res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
        res.end(body);
        this._notify();
      });
    });
  }

  async start(port = 0) {
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}/items/${SECRET}?task=t1`;
    return this;
  }

  async startUnix() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crawlhub-sdk-'));
    const sock = path.join(this.dir, 'items.sock');
    await new Promise((resolve) => this.server.listen(sock, resolve));
    this.url = `http+unix://${encodeURIComponent(sock)}/items/${SECRET}`;
    return this;
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  _answer(url, body) {
    if (this.fail503 > 0) {
      this.fail503--;
      return [503, { error: 'busy, try again' }, 0];
    }
    if (!url.startsWith(`/items/${SECRET}`) || this.gone) return [403, { error: 'no such task or wrong secret' }, 0];
    if (body.length > this.maxBody) return [413, { error: `body over ${this.maxBody} bytes` }, 0];
    const text = body.toString('utf8');
    if (text && !text.endsWith('\n')) return [400, { error: 'the body must end with a newline' }, 0];
    const lines = text ? text.split('\n').slice(0, -1) : [];
    const kept = [];
    for (let i = 0; i < lines.length; i++) {
      const n = i + 1;
      let item;
      try {
        item = JSON.parse(lines[i]);
      } catch (e) {
        return [400, { error: `line ${n}: not JSON: ${e.message}`, line: n }, lines.length];
      }
      if (item === null || typeof item !== 'object' || Array.isArray(item)) {
        return [400, { error: `line ${n}: not a JSON object`, line: n }, lines.length];
      }
      if ('server_rejects' in item || RESERVED.some((k) => k in item)) {
        return [400, { error: `line ${n}: refused`, line: n }, lines.length];
      }
      kept.push(item);
    }
    this.items.push(...kept);
    return [200, { accepted: kept.length, total: this.items.length }, lines.length];
  }

  _notify() {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once cond() holds, checked after every request; rejects
   * after timeout ms saying what was awaited. */
  async until(what, cond, timeout = 10000) {
    const deadline = Date.now() + timeout;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`waited ${timeout} ms for ${what}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this._waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

module.exports = { FakeEndpoint, SECRET };
