#!/usr/bin/env node
// Follow a crawlhub task's log over the WebSocket API, with no gap.
//
//   node follow.mjs --server http://127.0.0.1:8080 --token TOKEN TASK_ID
//
// Prints every line from the first (or --since N) until the task ends,
// reconnecting and resuming where it stopped if the connection drops.
// Exits 0 if the task finished, 1 otherwise. Needs the `ws` package.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';

const { values, positionals } = parseArgs({
  options: {
    server: { type: 'string', default: 'http://127.0.0.1:8080' },
    token: { type: 'string' },
    since: { type: 'string', default: '0' },
  },
  allowPositionals: true,
});
const [taskId] = positionals;
if (!taskId || !values.token) {
  console.error('usage: node follow.mjs --server URL --token TOKEN TASK_ID');
  process.exit(2);
}
const url = values.server.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
const channel = `task:${taskId}:log`;
let next = Number(values.since);

function followOnce() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${values.token}` } });
    let out = '';
    ws.on('open', () => {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { channel, since: next } }));
    });
    ws.on('message', (frame) => {
      const parsed = JSON.parse(frame);
      // The server may send several messages in one frame, as an array.
      for (const msg of Array.isArray(parsed) ? parsed : [parsed]) {
        if (msg.error) {
          ws.close();
          reject(Object.assign(new Error(msg.error.message), { fatal: true }));
          return;
        }
        if (msg.method !== 'publish' || msg.params.channel !== channel) continue;
        const data = msg.params.data;
        if (data.end) {
          process.stdout.write(out);
          ws.close();
          resolve(data.status);
          return;
        }
        if (data.from !== next) {
          reject(Object.assign(new Error(`expected line ${next}, got ${data.from}`), { fatal: true }));
          return;
        }
        for (const line of data.lines) out += line + '\n';
        next += data.lines.length;
      }
      if (out.length > 1 << 16) {
        process.stdout.write(out);
        out = '';
      }
    });
    ws.on('close', (code, reason) => {
      process.stdout.write(out);
      out = '';
      reject(new Error(`connection closed (${code} ${reason})`));
    });
    ws.on('error', reject);
  });
}

for (;;) {
  try {
    const status = await followOnce();
    console.error(`crawlhub: task ${taskId} ${status}`);
    process.exit(status === 'finished' ? 0 : 1);
  } catch (err) {
    if (err.fatal) {
      console.error(`crawlhub: ${err.message}`);
      process.exit(1);
    }
    console.error(`crawlhub: ${err.message}; resuming at line ${next}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
