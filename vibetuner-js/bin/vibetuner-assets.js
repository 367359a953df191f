#!/usr/bin/env node
// vibetuner-assets: build or watch a Vibetuner app's CSS (Tailwind CLI) and JS (esbuild).
//
//   vibetuner-assets dev          watch CSS and JS until Ctrl-C / SIGTERM
//   vibetuner-assets build        one unminified build
//   vibetuner-assets build-prod   one minified build, then .br and .gz beside each
//                                 compressible file under assets/statics
//
// Paths default to the layout of a generated app and are relative to the
// current directory (npm and bun run scripts from the package root).
// Tailwind and esbuild are resolved from this package, so they work even when
// they are not hoisted into the app's own node_modules.

import { spawn } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { brotliCompressSync, constants as zlib, gzipSync } from "node:zlib";

const require = createRequire(import.meta.url);

const USAGE = `usage: vibetuner-assets <dev|build|build-prod> [options]

options:
  --css-in PATH    Tailwind entry       (default assets/config.css)
  --css-out PATH   compiled CSS         (default assets/statics/css/bundle.css)
  --js-in PATH     esbuild entry        (default assets/config.js)
  --js-out PATH    bundled JS           (default assets/statics/js/bundle.js)
  --statics DIR    build-prod compresses the files under it (default assets/statics)
  --no-css         skip the CSS build
  --no-js          skip the JS build`;

function parseCli(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      "css-in": { type: "string", default: "assets/config.css" },
      "css-out": { type: "string", default: "assets/statics/css/bundle.css" },
      "js-in": { type: "string", default: "assets/config.js" },
      "js-out": { type: "string", default: "assets/statics/js/bundle.js" },
      statics: { type: "string", default: "assets/statics" },
      "no-css": { type: "boolean", default: false },
      "no-js": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const mode = positionals[0];
  if (values.help || !["dev", "build", "build-prod"].includes(mode) || positionals.length > 1) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  return { mode, ...values };
}

const PKG_NAME = "@alltuner/vibetuner";
const PKG_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// The framework's templates must be visible at <this package>/templates so the
// app's config.css can `@source` them. A registry install ships a copy. When
// the app depends on a local checkout ("file:/path/to/vibetuner-js"), npm
// (install-links) and bun copy the package without its `templates` symlink, so
// we link it back to the checkout's templates here.
function ensureFrameworkTemplates() {
  const dest = path.join(PKG_ROOT, "templates");
  if (existsSync(dest)) return;
  let spec;
  try {
    const app = JSON.parse(readFileSync("package.json", "utf8"));
    spec = app.dependencies?.[PKG_NAME] ?? app.devDependencies?.[PKG_NAME];
  } catch {
    spec = undefined;
  }
  const src = spec?.startsWith("file:") ? path.resolve(spec.slice(5), "templates") : null;
  if (!src || !existsSync(src)) {
    console.warn(`vibetuner-assets: framework templates not found at ${dest}; their classes will be missing`);
    return;
  }
  if (lstatSync(dest, { throwIfNoEntry: false })) rmSync(dest, { force: true }); // dangling link
  symlinkSync(realpathSync(src), dest, "dir");
}

function tailwindBin() {
  const pkgPath = require.resolve("@tailwindcss/cli/package.json");
  const bin = require(pkgPath).bin;
  const rel = typeof bin === "string" ? bin : bin.tailwindcss;
  return path.join(path.dirname(pkgPath), rel);
}

function startTailwind(opts, { watch, minify }) {
  mkdirSync(path.dirname(path.resolve(opts["css-out"])), { recursive: true });
  const args = [tailwindBin(), "--input", opts["css-in"], "--output", opts["css-out"]];
  if (watch) args.push("--watch");
  if (minify) args.push("--minify");
  // In watch mode Tailwind stops when its stdin closes. We hand it a pipe that
  // we never close: it keeps watching while we live and exits if we die.
  return spawn(process.execPath, args, {
    stdio: [watch ? "pipe" : "ignore", "inherit", "inherit"],
  });
}

function esbuildOptions(opts, { minify, watch }) {
  return {
    entryPoints: [opts["js-in"]],
    outfile: opts["js-out"],
    bundle: true,
    format: "iife",
    target: "es2022",
    minify,
    sourcemap: watch ? "linked" : false,
    logLevel: "info",
  };
}

function waitExit(child) {
  return new Promise((resolve) => {
    child.on("error", (err) => {
      console.error(`vibetuner-assets: cannot start tailwindcss: ${err.message}`);
      resolve(1);
    });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function buildOnce(opts, minify) {
  const jobs = [];
  if (!opts["no-css"]) jobs.push(waitExit(startTailwind(opts, { watch: false, minify })));
  if (!opts["no-js"]) {
    const esbuild = await import("esbuild");
    jobs.push(
      esbuild
        .build(esbuildOptions(opts, { minify, watch: false }))
        .then(() => 0)
        .catch(() => 1),
    );
  }
  const codes = await Promise.all(jobs);
  return codes.some((c) => c !== 0) ? 1 : 0;
}

async function watchAll(opts) {
  let tailwind = null;
  let ctx = null;
  let stopping = false;

  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    if (tailwind && tailwind.exitCode === null && tailwind.signalCode === null) {
      tailwind.kill("SIGTERM");
    }
    if (ctx) await ctx.dispose().catch(() => {});
    process.exit(code);
  };

  process.on("SIGINT", () => stop(130));
  process.on("SIGTERM", () => stop(143));
  process.on("SIGHUP", () => stop(129));
  // `npm run` hands SIGTERM to its `sh -c`, which does not pass it on: if
  // whoever started us goes away, stop instead of lingering as an orphan.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop(143);
  }, 500).unref();

  if (!opts["no-css"]) {
    tailwind = startTailwind(opts, { watch: true, minify: false });
    tailwind.on("exit", (code, signal) => {
      if (signal === "SIGINT" || signal === "SIGTERM") stop(signal === "SIGINT" ? 130 : 143);
    });
    waitExit(tailwind).then((code) => {
      if (!stopping) {
        console.error(`vibetuner-assets: tailwindcss exited (${code}); stopping`);
        stop(code || 1);
      }
    });
  }
  if (!opts["no-js"]) {
    const esbuild = await import("esbuild");
    ctx = await esbuild.context(esbuildOptions(opts, { minify: false, watch: true }));
    await ctx.watch();
  }
  if (!tailwind && !ctx) await stop(0);
}

// Text-like files worth compressing; images, woff/woff2 and archives are compressed already.
const COMPRESSIBLE = new Set([
  ".css", ".js", ".mjs", ".map", ".json", ".svg", ".html", ".txt", ".xml", ".webmanifest",
  ".wasm", ".ttf", ".otf", ".eot", ".ico",
]);
const CODINGS = [
  [".br", (data) => brotliCompressSync(data, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: zlib.BROTLI_MAX_QUALITY, [zlib.BROTLI_PARAM_SIZE_HINT]: data.length },
  })],
  [".gz", (data) => gzipSync(data, { level: zlib.Z_BEST_COMPRESSION })],
];

function* filesUnder(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* filesUnder(full);
    else if (entry.isFile()) yield full;
  }
}

// The app sends `file.br` or `file.gz` to clients that accept them (it skips one older than
// its file). Each is written after its file, and only when it is smaller; a leftover one
// whose file is gone, or no longer gains, is removed.
function compressStatics(dir) {
  if (!existsSync(dir)) return 0;
  let count = 0;
  let before = 0;
  let after = 0;
  for (const file of filesUnder(dir)) {
    const suffix = CODINGS.find(([s]) => file.endsWith(s))?.[0];
    if (suffix) {
      if (!existsSync(file.slice(0, -suffix.length))) rmSync(file, { force: true });
      continue;
    }
    if (!COMPRESSIBLE.has(path.extname(file).toLowerCase())) continue;
    const data = readFileSync(file);
    for (const [ext, compress] of CODINGS) {
      const packed = compress(data);
      if (packed.length < data.length) {
        writeFileSync(file + ext, packed);
        if (ext === ".br") {
          count += 1;
          before += data.length;
          after += packed.length;
        }
      } else {
        rmSync(file + ext, { force: true });
      }
    }
  }
  if (count) {
    const kb = (n) => (n / 1024).toFixed(1);
    const files = `${count} file${count === 1 ? "" : "s"}`;
    console.log(`vibetuner-assets: wrote .br and .gz for ${files} in ${dir} (${kb(before)} kB, ${kb(after)} kB as br)`);
  }
  return count;
}

const opts = parseCli(process.argv.slice(2));
if (!opts["no-css"]) ensureFrameworkTemplates();
if (opts.mode === "dev") {
  await watchAll(opts);
} else {
  const code = await buildOnce(opts, opts.mode === "build-prod");
  if (code === 0 && opts.mode === "build-prod") compressStatics(opts.statics);
  process.exit(code);
}
