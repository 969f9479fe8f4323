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

// esbuild's [hash]: eight characters of base32.
const HASH = '[A-Z2-7]{8}';

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

const find = (files, re) => files.find((f) => re.test(f));

const INDEX = `<!doctype html><html><head>
<link rel="stylesheet" href="style.css">
<link rel="icon" href="icon.svg">
<script type="module" src="app.js"></script>
</head><body><a href="https://example.org/x.js">x</a><a href="#/nodes">n</a></body></html>`;

const SMALL = {
  'index.html': INDEX,
  'style.css': 'body { color: red; }\n.logo { background: url(img/logo.svg); }\n',
  'icon.svg': '<svg/>',
  'img/logo.svg': '<svg id="logo"/>',
  'app.js': "import { a } from './lib/a.js';\nimport('./lib/lazy.js').then((m) => console.log(m.lazyMarker));\nconsole.log('appMarker', a);\n",
  'lib/a.js': "export { b as a } from './b.js';\n",
  'lib/b.js': "export const b = 'bMarker';\n",
  'lib/lazy.js': "export const lazyMarker = 'lazyMarker';\n",
};

test('bundles, minifies and hashes JS and CSS with source maps, rewrites the page, keeps the placeholder and drops stale files', async () => {
  const { src, dist } = await tree(SMALL);
  await writeFile(path.join(dist, '.placeholder'), 'keep');
  await mkdir(path.join(dist, 'assets'));
  await writeFile(path.join(dist, 'assets', 'old.0000000000.js'), 'stale');

  await build({ src, dist });
  const files = await list(dist);

  assert.equal(await readFile(path.join(dist, '.placeholder'), 'utf8'), 'keep');
  assert.ok(!files.includes('assets/old.0000000000.js'), 'stale output survived');
  assert.ok(files.includes('icon.svg'), 'files the page names are copied as they are');

  const app = find(files, new RegExp(`^assets/app-${HASH}\\.js$`));
  const css = find(files, new RegExp(`^assets/style-${HASH}\\.css$`));
  const logo = find(files, new RegExp(`^assets/img/logo-${HASH}\\.svg$`));
  assert.ok(app && css && logo, `missing hashed outputs in ${files}`);
  assert.ok(files.includes(`${app}.map`) && files.includes(`${css}.map`), `no source maps in ${files}`);
  // One bundle: the modules are inside it, not beside it.
  assert.deepEqual(files.filter((f) => f.endsWith('.js')), [app], 'modules were emitted separately');

  const code = await readFile(path.join(dist, app), 'utf8');
  for (const marker of ['appMarker', 'bMarker', 'lazyMarker']) assert.ok(code.includes(marker), `bundle lacks ${marker}`);
  assert.ok(code.trimEnd().split('\n').length <= 3, `bundle is not minified:\n${code}`);
  assert.match(code, new RegExp(`//# sourceMappingURL=app-${HASH}\\.js\\.map\\s*$`));
  const map = JSON.parse(await readFile(path.join(dist, `${app}.map`), 'utf8'));
  for (const mod of ['app.js', 'lib/b.js', 'lib/lazy.js']) {
    const i = map.sources.findIndex((s) => s.endsWith(`src/${mod}`));
    assert.ok(i >= 0, `map has no source ${mod}: ${map.sources}`);
    assert.equal(map.sourcesContent[i], SMALL[mod], `map holds the wrong text for ${mod}`);
  }
  const style = await readFile(path.join(dist, css), 'utf8');
  assert.match(style, new RegExp(`url\\(["']?(?:\\./)?img/logo-${HASH}\\.svg["']?\\)`), 'CSS url() does not name the hashed image');

  const html = await readFile(path.join(dist, 'index.html'), 'utf8');
  assert.ok(html.includes(`href="./${css}"`), html);
  assert.ok(html.includes(`src="./${app}"`), html);
  assert.match(html, /href="icon\.svg"/, 'unhashed files keep their references');
  assert.match(html, /href="https:\/\/example\.org\/x\.js"/, 'absolute URLs are left alone');
  assert.match(html, /href="#\/nodes"/);

  await assertReferencesResolve(dist);
});

test('a change in a module renames the bundle that holds it and nothing else', async () => {
  const first = await tree(SMALL);
  const second = await tree({ ...SMALL, 'lib/b.js': "export const b = 'changed';\n" });
  await build(first);
  await build(second);
  const one = await list(first.dist);
  const two = await list(second.dist);
  const changed = (name) => !two.includes(find(one, new RegExp(`^assets/${name}-${HASH}\\.`)));
  assert.ok(changed('app'), 'the bundle kept its name');
  assert.ok(!changed('style'), 'an unrelated file changed its name');
  assert.ok(!changed('img/logo'), 'an unrelated image changed its name');
});

test('the same sources build to the same files', async () => {
  const { src, dist } = await tree(SMALL);
  await build({ src, dist });
  const one = await list(dist);
  const bytes = await Promise.all(one.map((f) => readFile(path.join(dist, f))));
  await build({ src, dist });
  assert.deepEqual(await list(dist), one);
  for (const [i, f] of one.entries()) assert.ok(bytes[i].equals(await readFile(path.join(dist, f))), `${f} differs`);
});

for (const [name, files, message] of [
  ['a bare import', { ...SMALL, 'lib/b.js': "import x from 'lodash';\nexport const b = x;\n" }, /lib\/b\.js:1:.*bare import "lodash"/],
  ['a missing module', { ...SMALL, 'lib/b.js': "import './nope.js';\nexport const b = 1;\n" }, /lib\/b\.js:1:.*\.\/nope\.js/],
  ['a syntax error', { ...SMALL, 'lib/b.js': 'export const b = ;\n' }, /lib\/b\.js:1:/],
  ['a missing HTML reference', { ...SMALL, 'index.html': INDEX.replace('icon.svg', 'gone.svg') }, /gone\.svg does not exist/],
  ['a missing image in CSS', { ...SMALL, 'style.css': 'body { background: url(bg.png); }' }, /style\.css:1:.*bg\.png/],
]) {
  test(`${name} fails the build and leaves the previous build alone`, async () => {
    const { src, dist } = await tree(files);
    await writeFile(path.join(dist, 'index.html'), 'previous');
    await assert.rejects(build({ src, dist }), (err) => {
      assert.ok(err instanceof BuildError, `not a BuildError: ${err}`);
      assert.match(err.message, message);
      return true;
    });
    assert.equal(await readFile(path.join(dist, 'index.html'), 'utf8'), 'previous');
  });
}

test('the dashboard itself builds and every reference resolves', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'crawlhub-build-'));
  temps.push(root);
  const dist = path.join(root, 'dist');
  const src = path.join(web, 'src');
  await build({ src, dist });
  const files = await list(dist);
  assert.ok(files.includes('index.html'));
  const app = find(files, new RegExp(`^assets/app-${HASH}\\.js$`));
  assert.ok(app, `no app bundle in ${files}`);
  assert.ok(find(files, new RegExp(`^assets/style-${HASH}\\.css$`)), `no stylesheet in ${files}`);
  assert.ok(!files.some((f) => /\.(js|css)$/.test(f) && !f.startsWith('assets/')), `unbundled modules in ${files}`);
  // The map lets the browser's tools show every module the app runs, as written.
  const map = JSON.parse(await readFile(path.join(dist, `${app}.map`), 'utf8'));
  for (const mod of ['app.js', 'lib/ws.js', 'data/tasks.js', 'pages/task.js']) {
    const i = map.sources.findIndex((s) => s.endsWith(`src/${mod}`));
    assert.ok(i >= 0, `map has no source ${mod}`);
    assert.equal(map.sourcesContent[i], await readFile(path.join(src, mod), 'utf8'));
  }
  await assertReferencesResolve(dist);
});

/**
 * Every relative reference in HTML, every source map comment and every CSS
 * url() names a built file.
 */
async function assertReferencesResolve(dist) {
  const files = new Set(await list(dist));
  for (const file of files) {
    if (file.endsWith('.map')) continue;
    const text = await readFile(path.join(dist, file), 'utf8');
    const refs = [];
    if (file.endsWith('.html')) refs.push(...[...text.matchAll(/\s(?:src|href)="(\.\/[^"]+|assets\/[^"]+)"/g)].map((m) => m[1]));
    if (/\.(js|css)$/.test(file)) refs.push(...[...text.matchAll(/[#@] sourceMappingURL=(\S+?)(?:\s*\*\/)?\s*$/gm)].map((m) => m[1]));
    if (file.endsWith('.css')) refs.push(...[...text.matchAll(/url\(["']?([^"')]+)["']?\)/g)].map((m) => m[1]).filter((u) => !/^(data|https?):/.test(u)));
    if (file.endsWith('.js')) {
      assert.doesNotMatch(text, /(?:from\s*|import\s*\(?\s*)['"]\.{1,2}\//, `${file} still imports a module`);
    }
    for (const ref of refs) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref));
      assert.ok(files.has(target), `${file} refers to ${ref}, which was not built`);
    }
  }
}
