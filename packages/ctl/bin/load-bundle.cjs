// Loads dist/net2banctl.cjs (the esbuild bundle of net2banctl) with the V8 code cache that `pnpm build`
// wrote beside it: compiling the ~800 KB bundle is otherwise the largest start-up cost. The cache is only
// ever read from the package itself (never from a shared or temporary directory: it is code), and V8
// checks it against its own version and flags; when it does not fit, the bundle is compiled as usual.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

export const BUNDLE = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "net2banctl.cjs");
export const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * Compiles and runs the bundle as a CommonJS module; returns its exports and the compiled script (the build
 * calls `createCachedData()` on it after a warm-up). `useCache: false` ignores the cache (measurements).
 */
export function loadBundle({ useCache = true } = {}) {
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
