#!/usr/bin/env node
// Builds the dashboard: web/src → web/dist, which the Go binary embeds.
//
// Zero dependencies on purpose: `make run` calls `npm run build` on a fresh
// machine where nothing has been installed, so this uses only Node itself.
//
// What it does:
// - every .js and .css file goes to dist/assets/ with a content hash in its
//   name (app.js → assets/app.3fa2c81b9d.js), so the server can cache
//   assets/ forever and a new build is never hidden by a stale cache;
// - relative imports between modules are rewritten to the hashed names, and
//   since a module's hash covers its rewritten imports, a change anywhere
//   changes the names of everything that depends on it;
// - references in HTML (src=, href=) are rewritten the same way, and each
//   module script gets <link rel="modulepreload"> for the modules it imports,
//   so the browser fetches them in parallel rather than level by level;
// - everything else is copied as it is;
// - dist/ is emptied first, except .placeholder (kept in git so go:embed
//   compiles before the first build). Outputs are computed in memory before
//   dist/ is touched, so a failed build leaves the previous one in place.
//
// Usage: node web/build.mjs            (from anywhere)
//        build({ src, dist })          (from a test)

import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Files in dist/ that a build never deletes. */
export const KEEP = new Set(['.placeholder']);

const ASSETS = 'assets';
const HASH_LENGTH = 10;

// Module specifiers in import/export statements and dynamic import().
// Regular expressions, not a parser: good for the code we write, and the
// build fails loudly on anything it cannot resolve.
const IMPORT_RE = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s*)(['"])([^'"\n]+)\2/g;

// src= and href= in HTML.
const HTML_REF_RE = /(\s(?:src|href)\s*=\s*)(["'])([^"']+)\2/gi;
const MODULE_SCRIPT_RE = /<script\b[^>]*\btype\s*=\s*["']module["'][^>]*\bsrc\s*=\s*["']([^"']+)["'][^>]*>\s*<\/script>/gi;

export class BuildError extends Error {}

/**
 * Build src into dist. Returns the list of files written, as
 * { path, bytes } relative to dist.
 * @param {{ src: string, dist: string }} dirs
 */
export async function build({ src, dist }) {
  const files = (await walk(src)).sort();
  if (!files.includes('index.html')) throw new BuildError(`${src} has no index.html`);

  const sources = new Map();
  for (const f of files) sources.set(f, await readFile(path.join(src, f)));

  /** source path → output path, both relative and with "/" separators */
  const outName = new Map();
  /** output path → content */
  const outputs = new Map();

  const emitHashed = (file, content) => {
    const { dir, name, ext } = path.posix.parse(file);
    const hash = createHash('sha256').update(content).digest('hex').slice(0, HASH_LENGTH);
    const out = path.posix.join(ASSETS, dir, `${name}.${hash}${ext}`);
    outName.set(file, out);
    outputs.set(out, content);
  };

  // JavaScript modules, dependencies first.
  const modules = files.filter((f) => /\.m?js$/.test(f));
  const deps = new Map(modules.map((m) => [m, moduleImports(m, sources.get(m).toString('utf8'), sources)]));
  for (const m of topologicalOrder(modules, deps)) {
    const code = sources.get(m).toString('utf8').replace(IMPORT_RE, (whole, lead, quote, spec) => {
      if (!isRelative(spec)) return whole;
      const target = resolve(m, spec);
      return `${lead}${quote}${relativeRef(outName.get(m) ?? path.posix.join(ASSETS, m), outName.get(target))}${quote}`;
    });
    emitHashed(m, Buffer.from(code));
  }

  // Stylesheets: hashed as they are; they must not point at other local files,
  // whose relative paths would break once the stylesheet moves into assets/.
  for (const f of files.filter((x) => x.endsWith('.css'))) {
    const css = sources.get(f).toString('utf8');
    const local = /@import\s+(?!url\(\s*["']?(?:https?:|data:))|url\(\s*["']?(?!(?:https?:|data:|#))/i.exec(css);
    if (local) {
      throw new BuildError(`${f}: local @import and url() are not supported by web/build.mjs; inline the resource or teach the build to rewrite it`);
    }
    emitHashed(f, sources.get(f));
  }

  // HTML: rewrite references, add modulepreload hints.
  for (const f of files.filter((x) => x.endsWith('.html'))) {
    let html = sources.get(f).toString('utf8');
    const preload = new Set();
    for (const [, spec] of html.matchAll(MODULE_SCRIPT_RE)) {
      if (!isRelative(spec, true)) continue;
      const entry = resolve(f, spec);
      for (const dep of transitive(entry, deps)) preload.add(dep);
    }
    html = html.replace(HTML_REF_RE, (whole, lead, quote, ref) => {
      if (!isRelative(ref, true)) return whole;
      const target = resolve(f, ref);
      if (!outName.has(target)) {
        if (!sources.has(target)) throw new BuildError(`${f}: ${ref} does not exist in ${src}`);
        return whole; // copied unchanged below
      }
      return `${lead}${quote}${relativeRef(f, outName.get(target))}${quote}`;
    });
    if (preload.size) {
      const links = [...preload]
        .map((m) => `  <link rel="modulepreload" href="${relativeRef(f, outName.get(m))}">\n`)
        .join('');
      if (!/<\/head>/i.test(html)) throw new BuildError(`${f}: no </head> to put modulepreload links before`);
      html = html.replace(/<\/head>/i, `${links}</head>`);
    }
    outputs.set(f, Buffer.from(html));
  }

  // Everything else, unchanged.
  for (const f of files) {
    if (!outName.has(f) && !outputs.has(f)) outputs.set(f, sources.get(f));
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

/** Relative local modules imported by a module, resolved to source paths. */
function moduleImports(file, code, sources) {
  const found = [];
  for (const [, , , spec] of code.matchAll(IMPORT_RE)) {
    if (!isRelative(spec)) {
      if (/^[\w@]/.test(spec) && !/^(https?|data|node):/.test(spec)) {
        throw new BuildError(`${file}: bare import "${spec}": the dashboard has no runtime dependencies; import a relative path`);
      }
      continue;
    }
    const target = resolve(file, spec);
    if (!sources.has(target)) throw new BuildError(`${file}: imports "${spec}", but ${target} does not exist`);
    if (!/\.m?js$/.test(target)) throw new BuildError(`${file}: imports "${spec}", which is not a JavaScript module`);
    found.push(target);
  }
  return found;
}

/** Modules in an order where each comes after everything it imports. */
function topologicalOrder(modules, deps) {
  const order = [];
  const state = new Map(); // module → "visiting" | "done"
  const visit = (m, trail) => {
    if (state.get(m) === 'done') return;
    if (state.get(m) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(m)), m].join(' → ');
      throw new BuildError(`import cycle ${cycle}: content hashing needs modules that do not import each other in a circle`);
    }
    state.set(m, 'visiting');
    for (const d of deps.get(m)) visit(d, [...trail, m]);
    state.set(m, 'done');
    order.push(m);
  };
  for (const m of modules) visit(m, []);
  return order;
}

function transitive(entry, deps) {
  const seen = new Set();
  const walkDeps = (m) => {
    for (const d of deps.get(m) ?? []) {
      if (!seen.has(d)) {
        seen.add(d);
        walkDeps(d);
      }
    }
  };
  walkDeps(entry);
  return [...seen].sort();
}

function isRelative(spec, htmlStyle = false) {
  if (spec.startsWith('./') || spec.startsWith('../')) return true;
  // In HTML "app.js" is relative too; URLs with a scheme, "//", "/", "#" or "?" are not ours.
  return htmlStyle && !/^(?:[a-z][a-z0-9+.-]*:|\/|#|\?)/i.test(spec);
}

/** Source path that `spec`, written in source file `from`, points at. */
function resolve(from, spec) {
  const clean = spec.split(/[?#]/)[0];
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), clean));
}

/** Reference from output file `from` to output file `to`, as "./x" or "../x". */
function relativeRef(from, to) {
  const rel = path.posix.relative(path.posix.dirname(from), to);
  return rel.startsWith('../') ? rel : `./${rel}`;
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
