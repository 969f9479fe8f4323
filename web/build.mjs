#!/usr/bin/env node
// Builds the dashboard: web/src → web/dist, which the Go binary embeds.
//
// esbuild does the work (package.json pins its version; `make web` runs
// `npm ci` first when it is not installed). This file only decides what goes
// in and where it lands:
//
// - every local <script src> and <link href> to a .js or .css file in an HTML
//   page is an entry point; esbuild bundles each (the JS with everything it
//   imports), minifies it and writes it to dist/assets/ with a content hash in
//   its name (app.js → assets/app-4KJ2QX7A.js), so the server can cache
//   assets/ forever and a new build is never hidden by a stale cache;
// - each bundle gets a linked source map beside it (app-4KJ2QX7A.js.map,
//   sources included), so the browser's tools show the code as written;
// - images and fonts that CSS or JS refer to are hashed into assets/ too;
// - the HTML's references are rewritten to the hashed names; other files
//   are copied as they are;
// - dist/ is emptied first, except .placeholder (kept in git so go:embed
//   compiles before the first build). Outputs are computed in memory before
//   dist/ is touched, so a failed build leaves the previous one in place.
//
// Usage: node web/build.mjs            (from anywhere)
//        build({ src, dist })          (from a test)

import { readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Files in dist/ that a build never deletes. */
export const KEEP = new Set(['.placeholder']);

const ASSETS = 'assets';

// What the bundles are allowed to use. The dashboard's own code is written for
// current browsers; this only stops esbuild emitting syntax older ones lack.
const TARGET = ['es2022', 'chrome111', 'firefox111', 'safari16.4'];

// Files that CSS url() or a JS import may point at, hashed like the bundles.
const FILE_LOADERS = Object.fromEntries(
  ['.png', '.jpg', '.jpeg', '.gif', '.webp', '.svg', '.ico', '.woff', '.woff2'].map((ext) => [ext, 'file']),
);

// src= and href= in HTML; the entry points are the ones naming .js and .css.
const HTML_REF_RE = /(\s(?:src|href)\s*=\s*)(["'])([^"']+)\2/gi;

export class BuildError extends Error {}

/**
 * Build src into dist. Returns the list of files written, as
 * { path, bytes } relative to dist.
 * @param {{ src: string, dist: string }} dirs
 */
export async function build({ src, dist }) {
  src = path.resolve(src);
  dist = path.resolve(dist);
  const files = (await walk(src)).sort();
  if (!files.includes('index.html')) throw new BuildError(`${src} has no index.html`);

  const pages = new Map();
  for (const f of files.filter((x) => x.endsWith('.html'))) pages.set(f, await readFile(path.join(src, f), 'utf8'));

  // Entry points: the local scripts and stylesheets the pages name.
  const entries = new Set();
  for (const [page, html] of pages) {
    for (const [, , , ref] of html.matchAll(HTML_REF_RE)) {
      if (!isLocal(ref)) continue;
      const target = resolve(page, ref);
      if (!files.includes(target)) throw new BuildError(`${page}: ${ref} does not exist in ${src}`);
      if (isBundled(target)) entries.add(target);
    }
  }
  if (entries.size === 0) throw new BuildError(`${src}: no page names a local .js or .css file to build`);

  const result = await bundle(src, dist, [...entries].sort());

  /** output path → content, both relative to dist with "/" separators */
  const outputs = new Map();
  for (const f of result.outputFiles) outputs.set(toPosix(path.relative(dist, f.path)), Buffer.from(f.contents));

  /** entry source path → its bundle's output path */
  const outName = new Map();
  // The metafile's paths are relative to absWorkingDir, which is src.
  for (const [out, meta] of Object.entries(result.metafile.outputs)) {
    if (!meta.entryPoint) continue;
    const entry = toPosix(path.relative(src, path.resolve(src, meta.entryPoint)));
    outName.set(entry, toPosix(path.relative(dist, path.resolve(src, out))));
  }

  for (const [page, html] of pages) {
    const rewritten = html.replace(HTML_REF_RE, (whole, lead, quote, ref) => {
      if (!isLocal(ref)) return whole;
      const out = outName.get(resolve(page, ref));
      return out ? `${lead}${quote}${relativeRef(page, out)}${quote}` : whole;
    });
    outputs.set(page, Buffer.from(rewritten));
  }

  // Everything else, unchanged. Modules and stylesheets are not: those that
  // matter are inside a bundle, and the rest are not used by any page.
  for (const f of files) {
    if (!pages.has(f) && !isBundled(f)) outputs.set(f, await readFile(path.join(src, f)));
  }

  await clean(dist);
  const written = [];
  for (const [rel, content] of [...outputs].sort(([a], [b]) => a.localeCompare(b))) {
    const file = path.join(dist, ...rel.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, content);
    written.push({ path: rel, bytes: content.length });
  }
  return written;
}

/** Runs esbuild on the entry points, in memory; throws BuildError on any error. */
async function bundle(src, dist, entries) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new BuildError('esbuild is not installed: run `npm ci` at the repository root (`make web` does it when needed)');
  }
  try {
    return await esbuild.build({
      absWorkingDir: src,
      entryPoints: entries,
      outbase: src,
      outdir: dist,
      entryNames: `${ASSETS}/[dir]/[name]-[hash]`,
      assetNames: `${ASSETS}/[dir]/[name]-[hash]`,
      loader: FILE_LOADERS,
      bundle: true,
      format: 'esm',
      target: TARGET,
      minify: true,
      sourcemap: 'linked',
      charset: 'utf8',
      plugins: [noBareImports],
      metafile: true,
      write: false,
      logLevel: 'silent',
    });
  } catch (err) {
    if (!Array.isArray(err?.errors)) throw err;
    const lines = err.errors.map((e) => {
      const at = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : '';
      return `${at}${e.text}`;
    });
    throw new BuildError(lines.join('\n'));
  }
}

// The dashboard's runtime dependencies are the packages package.json lists
// under "dependencies" (the charting library); node_modules otherwise holds
// only build and test tools. A bare import of anything else would quietly
// bundle one of those, so it fails the build instead.
const runtimeDependencies = new Set(
  Object.keys(JSON.parse(readFileSync(path.join(here, '..', 'package.json'), 'utf8')).dependencies ?? {}),
);

const noBareImports = {
  name: 'no-bare-imports',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.kind === 'entry-point' || /^(?:https?|data):/.test(args.path)) return undefined;
      if (args.kind === 'url-token' || args.kind === 'import-rule') return undefined; // CSS: left to esbuild
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0];
      if (runtimeDependencies.has(name)) return undefined;
      return {
        errors: [
          {
            text: `bare import "${args.path}": not one of the dashboard's runtime dependencies (package.json "dependencies"); import a relative path`,
          },
        ],
      };
    });
  },
};

function isBundled(file) {
  return /\.(?:m?js|css)$/.test(file);
}

/** A reference in HTML to a file of ours: not a URL with a scheme, "//", "/", "#" or "?". */
function isLocal(ref) {
  return !/^(?:[a-z][a-z0-9+.-]*:|\/|#|\?)/i.test(ref);
}

/** Source path that `ref`, written in source file `from`, points at. */
function resolve(from, ref) {
  const clean = ref.split(/[?#]/)[0];
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), clean));
}

/** Reference from output file `from` to output file `to`, as "./x" or "../x". */
function relativeRef(from, to) {
  const rel = path.posix.relative(path.posix.dirname(from), to);
  return rel.startsWith('../') ? rel : `./${rel}`;
}

function toPosix(p) {
  return p.split(path.sep).join('/');
}

async function walk(root, dir = '') {
  const out = [];
  for (const entry of await readdir(path.join(root, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await walk(root, rel)));
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

async function clean(dist) {
  await mkdir(dist, { recursive: true });
  for (const entry of await readdir(dist)) {
    if (!KEEP.has(entry)) await rm(path.join(dist, entry), { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const src = path.join(here, 'src');
  const dist = path.join(here, 'dist');
  try {
    const written = await build({ src, dist });
    const total = written.reduce((n, f) => n + f.bytes, 0);
    for (const f of written) console.log(`  ${f.path.padEnd(44)} ${String(f.bytes).padStart(7)} B`);
    console.log(`built ${path.relative(process.cwd(), dist) || dist}: ${written.length} files, ${(total / 1024).toFixed(1)} KiB`);
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    console.error(`web/build.mjs: ${err.message}`);
    process.exit(1);
  }
}
