// Tests of web/build.mjs on small throwaway trees and on the real web/src.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BuildError, build } from '../build.mjs';

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const temps = [];

afterEach(async () => {
  await Promise.all(temps.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A temp dir with src/ holding `files` and an empty dist/. */
async function tree(files) {
  const root = await mkdtemp(path.join(tmpdir(), 'crawlhub-build-'));
  temps.push(root);
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  await mkdir(dist, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(src, name)), { recursive: true });
    await writeFile(path.join(src, name), content);
  }
  return { src, dist };
}

async function list(dir, prefix = '') {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix + e.name;
    if (e.isDirectory()) out.push(...(await list(path.join(dir, e.name), `${rel}/`)));
    else out.push(rel);
  }
  return out.sort();
}

const INDEX = `<!doctype html><html><head>
<link rel="stylesheet" href="style.css">
<link rel="icon" href="icon.svg">
<script type="module" src="app.js"></script>
</head><body><a href="https://example.org/x.js">x</a><a href="#/nodes">n</a></body></html>`;

const SMALL = {
  'index.html': INDEX,
  'style.css': 'body { color: red; }\n',
  'icon.svg': '<svg/>',
  'app.js': "import { a } from './lib/a.js';\nimport('./lib/lazy.js');\nconsole.log(a);\n",
  'lib/a.js': "export { b as a } from './b.js';\n",
  'lib/b.js': 'export const b = 1;\n',
  'lib/lazy.js': "import './b.js';\n",
};

test('hashes JS and CSS, rewrites references, keeps the placeholder and drops stale files', async () => {
  const { src, dist } = await tree(SMALL);
  await writeFile(path.join(dist, '.placeholder'), 'keep');
  await mkdir(path.join(dist, 'assets'));
  await writeFile(path.join(dist, 'assets', 'old.0000000000.js'), 'stale');

  await build({ src, dist });
  const files = await list(dist);

  assert.equal(await readFile(path.join(dist, '.placeholder'), 'utf8'), 'keep');
  assert.ok(!files.includes('assets/old.0000000000.js'), 'stale output survived');
  assert.ok(files.includes('icon.svg'), 'other files are copied as they are');
  for (const name of ['app', 'style', 'lib/a', 'lib/b', 'lib/lazy']) {
    assert.ok(
      files.some((f) => new RegExp(`^assets/${name}\\.[0-9a-f]{10}\\.(js|css)$`).test(f)),
      `no hashed output for ${name} in ${files}`,
    );
  }

  const html = await readFile(path.join(dist, 'index.html'), 'utf8');
  assert.match(html, /href="\.\/assets\/style\.[0-9a-f]{10}\.css"/);
  assert.match(html, /src="\.\/assets\/app\.[0-9a-f]{10}\.js"/);
  assert.match(html, /href="icon\.svg"/, 'unhashed files keep their references');
  assert.match(html, /href="https:\/\/example\.org\/x\.js"/, 'absolute URLs are left alone');
  assert.match(html, /href="#\/nodes"/);
  // modulepreload for every module app.js reaches, not for app.js itself.
  const preloads = [...html.matchAll(/rel="modulepreload" href="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(preloads.length, 3, `preloads: ${preloads}`);
  assert.ok(preloads.every((p) => /^\.\/assets\/lib\/(a|b|lazy)\.[0-9a-f]{10}\.js$/.test(p)));
  assert.ok(html.indexOf('modulepreload') < html.indexOf('</head>'));

  await assertReferencesResolve(dist);
});

test('a change in a module renames it and everything that imports it', async () => {
  const first = await tree(SMALL);
  const second = await tree({ ...SMALL, 'lib/b.js': 'export const b = 2;\n' });
  await build(first);
  await build(second);
  const one = await list(first.dist);
  const two = await list(second.dist);
  const changed = (name) => !two.includes(one.find((f) => f.startsWith(`assets/${name}.`)));
  assert.ok(changed('lib/b'));
  assert.ok(changed('lib/a'), 'importer of the changed module kept its name');
  assert.ok(changed('app'), 'transitive importer kept its name');
  assert.ok(!changed('style'), 'an unrelated file changed its name');
});

test('the same sources build to the same names', async () => {
  const { src, dist } = await tree(SMALL);
  await build({ src, dist });
  const one = await list(dist);
  await build({ src, dist });
  assert.deepEqual(await list(dist), one);
});

for (const [name, files, message] of [
  ['an import cycle', { ...SMALL, 'lib/b.js': "import './a.js';\nexport const b = 1;\n" }, /import cycle/],
  ['a bare import', { ...SMALL, 'lib/b.js': "import x from 'lodash';\nexport const b = x;\n" }, /bare import "lodash"/],
  ['a missing module', { ...SMALL, 'lib/b.js': "import './nope.js';\nexport const b = 1;\n" }, /nope\.js does not exist/],
  ['a missing HTML reference', { ...SMALL, 'index.html': INDEX.replace('icon.svg', 'gone.svg') }, /gone\.svg does not exist/],
  ['a local url() in CSS', { ...SMALL, 'style.css': 'body { background: url(bg.png); }' }, /url\(\) are not supported/],
]) {
  test(`${name} fails the build and leaves the previous build alone`, async () => {
    const { src, dist } = await tree(files);
    await writeFile(path.join(dist, 'index.html'), 'previous');
    await assert.rejects(build({ src, dist }), (err) => err instanceof BuildError && message.test(err.message));
    assert.equal(await readFile(path.join(dist, 'index.html'), 'utf8'), 'previous');
  });
}

test('the dashboard itself builds and every reference resolves', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'crawlhub-build-'));
  temps.push(root);
  const dist = path.join(root, 'dist');
  await build({ src: path.join(web, 'src'), dist });
  const files = await list(dist);
  assert.ok(files.includes('index.html'));
  assert.ok(files.some((f) => /^assets\/app\.[0-9a-f]{10}\.js$/.test(f)));
  assert.ok(files.some((f) => /^assets\/style\.[0-9a-f]{10}\.css$/.test(f)));
  assert.ok(!files.some((f) => /^(app|style)\.(js|css)$/.test(f)), 'unhashed copies of hashed files');
  await assertReferencesResolve(dist);
});

/** Every relative reference in HTML and every relative import in JS names a built file. */
async function assertReferencesResolve(dist) {
  const files = new Set(await list(dist));
  for (const file of files) {
    const text = await readFile(path.join(dist, file), 'utf8');
    const refs = file.endsWith('.html')
      ? [...text.matchAll(/\s(?:src|href)="(\.\/[^"]+|assets\/[^"]+)"/g)].map((m) => m[1])
      : file.endsWith('.js')
        ? [...text.matchAll(/(?:from\s*|import\s*\(?\s*)['"](\.{1,2}\/[^'"]+)['"]/g)].map((m) => m[1])
        : [];
    for (const ref of refs) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref));
      assert.ok(files.has(target), `${file} refers to ${ref}, which was not built`);
    }
  }
}
