"use strict";
// Loads dist/net2banctl.cjs (the esbuild bundle of net2banctl) with the V8 code cache that `pnpm build`
// wrote beside it: compiling the ~800 KB bundle is otherwise the largest start-up cost. The cache is only
// ever read from the package itself (never from a shared or temporary directory: it is code), and V8
// checks it against its own version and flags; when it does not fit, the bundle is compiled as usual.
// CommonJS, as the bin: an ES module entry costs Node its ESM loader at start-up (measured in
// docs/benchmarks.md), which a command that runs on every ban should not pay.
const { readFileSync } = require("node:fs");
const { createRequire } = require("node:module");
const { dirname, join } = require("node:path");
const vm = require("node:vm");

const BUNDLE = join(__dirname, "..", "dist", "net2banctl.cjs");
const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * Compiles and runs the bundle as a CommonJS module; returns its exports and the compiled script (the build
 * calls `createCachedData()` on it after a warm-up). `useCache: false` ignores the cache (measurements).
 */
function loadBundle({ useCache = true } = {}) {
  const source = readFileSync(BUNDLE, "utf8");
  let cachedData;
  if (useCache) {
    try {
      cachedData = readFileSync(CODE_CACHE);
    } catch {
      // No cache (a build without it): compile.
    }
  }
  // The same wrapper as Node's CommonJS loader, so the bundle sees the usual module scope.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: BUNDLE,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(BUNDLE), module, BUNDLE, dirname(BUNDLE));
  return { exports: module.exports, script };
}

module.exports = { BUNDLE, CODE_CACHE, loadBundle };
