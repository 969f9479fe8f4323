// Browser test of a task page whose spider floods its output (see
// web/test/browser.mjs for the environment it needs): 1 MiB of binary data
// (every byte value, NULs, no newline) and then a 10 MB line. The agent
// keeps both as valid text in lines of at most 64 KiB, U+FFFD for the
// invalid bytes, NULs kept; the log view shows them (without the control
// characters, which it never shows), the long line as its 64 KiB pieces,
// and the line after them, without an error in the page; the task
// finished, with the line count the agent reported.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { TOKEN, api, shot, url, useBrowser, withPage, zip } from './browser.mjs';

useBrowser();

const PIECE = 64 << 10; // the longest log line
const LONG = 10 << 20; // the long line: 160 pieces

// Bytes of every value in a fixed pseudo-random order, but for '\n' (a
// line's end), and '\r' and ESC, which the log view renders as a terminal
// would (a progress bar's redraw, ANSI colours): those become NULs.
function binary(size) {
  const b = Buffer.alloc(size);
  let x = 14;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = (x >>> 16) & 0xff;
    if (b[i] === 0x0a || b[i] === 0x0d || b[i] === 0x1b) b[i] = 0;
  }
  return b;
}

let spider;

after(async () => {
  if (spider) await api('DELETE', `spiders/${spider.id}`).catch(() => {});
});

test('a flood of binary data and a 10 MB line is shown as text, in lines of 64 KiB', async (t) => {
  const bin = binary(1 << 20);
  const form = new FormData();
  form.set('name', `e2e-flood-${Date.now().toString(36)}`);
  form.set('command', `cat data.bin; echo; head -c ${LONG} /dev/zero | tr '\\0' x; echo; echo after the flood`);
  form.set('file', new Blob([zip({ 'data.bin': bin })], { type: 'application/zip' }), 'flood.zip');
  const res = await fetch(url('api/spiders'), { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` }, body: form });
  const text = await res.text();
  assert.equal(res.status, 201, `creating the spider: ${text}`);
  spider = JSON.parse(text);
  const { items } = await api('POST', 'tasks', { spider_id: spider.id });
  const id = items[0].id;

  // What the agent makes of the binary data: valid UTF-8, one U+FFFD per
  // run of invalid bytes (TextDecoder's replacement differs on some runs,
  // so only the length is a range), cut at 64 KiB.
  const binLines = Math.ceil(Buffer.byteLength(bin.toString('utf8')) / PIECE);
  await withPage(t, async (page) => {
    page.setDefaultTimeout(60_000);
    await page.goto(url(`?token=${encodeURIComponent(TOKEN)}#/tasks/${id}`));
    await page.locator('.log-end', { hasText: 'Finished' }).waitFor();
    const task = await api('GET', `tasks/${id}`);
    assert.equal(task.status, 'finished');
    const total = task.log_lines;
    assert.ok(total >= LONG / PIECE + 1 + binLines / 2 && total <= LONG / PIECE + 1 + binLines, `${total} lines`);
    await page.locator('.log-end', { hasText: `${total.toLocaleString('en-US')} lines` }).waitFor();

    // The end of the log is in view, following: the last piece of the
    // long line, then the line after it.
    const last = page.locator(`.logline[data-line="${total - 1}"]`);
    await last.filter({ hasText: 'after the flood' }).waitFor();
    const piece = await page.locator(`.logline[data-line="${total - 2}"] .lt`).textContent();
    assert.equal(piece, 'x'.repeat(PIECE), 'the long line is shown in pieces of 64 KiB');
    await shot(t, page, 'log-flood-end.png');

    // The start: the binary data, as text.
    await page.locator('.log-scroll').evaluate((el) => { el.scrollTop = 0; });
    const first = await page.locator('.logline[data-line="0"] .lt').textContent();
    const stored = (await api('GET', `tasks/${id}/log?from=0&limit=1`)).lines[0];
    assert.ok(stored.includes('\uFFFD') && stored.includes('\u0000'), 'the binary data is kept as text with U+FFFD and its NULs');
    assert.ok(Buffer.byteLength(stored) <= PIECE && Buffer.byteLength(stored) > PIECE - 4, `line 0 is ${Buffer.byteLength(stored)} bytes`);
    // eslint-disable-next-line no-control-regex
    assert.equal(first, stored.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, ''), 'line 0 is shown as stored, but for its control characters');
    await shot(t, page, 'log-flood-start.png');
  });
});
