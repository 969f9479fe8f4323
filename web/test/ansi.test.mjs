// Unit tests of the ANSI SGR parser behind the log viewer.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applySGR, classesOf, parseAnsi, plainStyle, stripAnsi } from '../src/lib/ansi.js';

const E = '\u001b';

test('plain text is one plain segment; empty is none', () => {
  assert.deepEqual(parseAnsi('line 1: crawling page 1'), [{ text: 'line 1: crawling page 1', cls: '' }]);
  assert.deepEqual(parseAnsi(''), []);
  assert.deepEqual(parseAnsi(undefined), []);
});

test('the sample spider: green, cyan, yellow and red lines with reset', () => {
  assert.deepEqual(parseAnsi(`${E}[32mline 3: fetched https://example.com/page/3 (200 OK)${E}[0m`), [
    { text: 'line 3: fetched https://example.com/page/3 (200 OK)', cls: 'ansi-fg-2' },
  ]);
  assert.deepEqual(parseAnsi(`${E}[31mERROR: page 40 answered 503; will retry later${E}[0m`), [
    { text: 'ERROR: page 40 answered 503; will retry later', cls: 'ansi-fg-1' },
  ]);
  assert.deepEqual(parseAnsi(`${E}[33mWARNING${E}[0m: slow`), [
    { text: 'WARNING', cls: 'ansi-fg-3' },
    { text: ': slow', cls: '' },
  ]);
});

test('30–37, 90–97, bold, reset, default foreground, combined parameters', () => {
  for (let i = 0; i < 8; i++) {
    assert.deepEqual(parseAnsi(`${E}[${30 + i}mx`), [{ text: 'x', cls: `ansi-fg-${i}` }]);
    assert.deepEqual(parseAnsi(`${E}[${90 + i}mx`), [{ text: 'x', cls: `ansi-fg-${8 + i}` }]);
  }
  assert.deepEqual(parseAnsi(`${E}[1;31mbold red${E}[22m red${E}[39m plain`), [
    { text: 'bold red', cls: 'ansi-fg-1 ansi-bold' },
    { text: ' red', cls: 'ansi-fg-1' },
    { text: ' plain', cls: '' },
  ]);
  assert.deepEqual(parseAnsi(`${E}[1mA${E}[mB`), [
    { text: 'A', cls: 'ansi-bold' },
    { text: 'B', cls: '' },
  ]);
  assert.deepEqual(parseAnsi(`${E}[01;032mX`), [{ text: 'X', cls: 'ansi-fg-2 ansi-bold' }]);
});

test('adjacent segments of one style merge; redundant codes add nothing', () => {
  assert.deepEqual(parseAnsi(`${E}[32mab${E}[32mcd${E}[0m${E}[0m`), [{ text: 'abcd', cls: 'ansi-fg-2' }]);
});

test('backgrounds and 256-colour / true-colour codes do not misparse', () => {
  assert.deepEqual(parseAnsi(`${E}[41;97m!`), [{ text: '!', cls: 'ansi-fg-15 ansi-bg-1' }]);
  assert.deepEqual(parseAnsi(`${E}[38;5;9mx`), [{ text: 'x', cls: 'ansi-fg-9' }]);
  // 38;5;200 is outside the 16 colours: ignored, and "200" is not read as a code.
  assert.deepEqual(parseAnsi(`${E}[38;5;200;1mx`), [{ text: 'x', cls: 'ansi-bold' }]);
  // 38;2;r;g;b: the r,g,b (here 1, 31, 4) must not turn bold, red or underline on.
  assert.deepEqual(parseAnsi(`${E}[38;2;1;31;4mx`), [{ text: 'x', cls: '' }]);
  assert.deepEqual(parseAnsi(`${E}[38:5:2mx`), [{ text: 'x', cls: 'ansi-fg-2' }]);
});

test('other escape sequences and control characters are dropped', () => {
  assert.deepEqual(parseAnsi(`a${E}[2Kb${E}[1Ac`), [{ text: 'abc', cls: '' }]);
  assert.deepEqual(parseAnsi(`${E}]0;window title\u0007text`), [{ text: 'text', cls: '' }]);
  assert.deepEqual(parseAnsi(`${E}]8;;https://x.example${E}\\link${E}]8;;${E}\\`), [{ text: 'link', cls: '' }]);
  assert.deepEqual(parseAnsi(`bell\u0007 nul\u0000 del\u007f tab\tok`), [{ text: 'bell nul del tab\tok', cls: '' }]);
  assert.deepEqual(parseAnsi(`cut ${E}[3`), [{ text: 'cut ', cls: '' }]);
  assert.deepEqual(parseAnsi(`lone ${E}`), [{ text: 'lone ', cls: '' }]);
  assert.deepEqual(parseAnsi(`${E}[?25lhidden cursor`), [{ text: 'hidden cursor', cls: '' }]);
});

test('markup in a log stays text', () => {
  const evil = '<img src=x onerror=alert(1)><script>alert(2)</script>';
  assert.deepEqual(parseAnsi(`${E}[31m${evil}`), [{ text: evil, cls: 'ansi-fg-1' }]);
});

test('carriage returns keep what a terminal shows last', () => {
  assert.deepEqual(parseAnsi('progress 10%\rprogress 100%'), [{ text: 'progress 100%', cls: '' }]);
  assert.deepEqual(parseAnsi('windows line\r'), [{ text: 'windows line', cls: '' }]);
});

test('stripAnsi, applySGR and classesOf', () => {
  assert.equal(stripAnsi(`${E}[1;33mWARNING:${E}[0m slow`), 'WARNING: slow');
  const s = applySGR(plainStyle(), [1, 3, 4, 2, 94]);
  assert.equal(classesOf(s), 'ansi-fg-12 ansi-bold ansi-dim ansi-italic ansi-underline');
  assert.equal(classesOf(applySGR(s, [0])), '');
  assert.equal(classesOf(applySGR(plainStyle(), [NaN, 38])), '');
});
