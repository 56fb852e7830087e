// `pnpm build` step after tsc: bundles net2banctl into dist/net2banctl.cjs and writes its V8 code cache.
// Why: resolving and compiling ~150 ESM modules cost more start-up time than the whole send (measured in
// docs/benchmarks.md); one CommonJS file can be compiled with a code cache (Node 20 has no module
// compile cache), and yargs (--help and the other commands) stays lazy inside it.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { BUNDLE, CODE_CACHE, loadBundle } from "../bin/load-bundle.cjs";
import { startStandInBroker } from "./standin-broker.mjs";

// zod re-exports every locale as z.locales (300 KB); net2ban only uses the default English messages, which
// zod imports on its own. Nothing else in the bundle may reach z.locales.
const zodWithoutLocales = {
  name: "zod-without-locales",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes("/zod/") ? { path: "zod-locales", namespace: "net2ban-stub" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "net2ban-stub" }, () => ({ contents: "export {};", loader: "js" }));
  },
};

await build({
  entryPoints: [new URL("../dist/bundle-entry.js", import.meta.url).pathname],
  outfile: BUNDLE,
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  // Smaller source reads and hashes faster; names are kept so that stack traces stay readable.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "external",
  plugins: [zodWithoutLocales],
  // ESM dependencies (yargs) ask for import.meta.url: in the CommonJS bundle that is the bundle's own URL.
  banner: { js: 'var __net2banImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  define: { "import.meta.url": "__net2banImportMetaUrl" },
  logLevel: "warning",
});

// The bin runs the bundle in a vm.Script, where import() of a module outside the bundle fails at run time
// ("A dynamic import callback was not specified"): such an import must be static.
if ((await readFile(BUNDLE, "utf8")).includes("import(")) {
  throw new Error(
    "bundle: dist/net2banctl.cjs keeps a dynamic import() of a module outside the bundle (a node: builtin?); import it statically",
  );
}

// The cache holds the functions compiled so far, so first run the send path: exec (what fail2ban's action
// runs) and ban, against a stand-in broker on loopback, so that connect, publish, confirm and close are in
// the cache too. Without the stand-in (it failed to start or to answer) a config pointing at a closed
// port still warms config, guard, derivation and seal.
const dir = await mkdtemp(join(tmpdir(), "net2banctl-build-"));
const standIn = await startStandInBroker().catch((error) => {
  process.stderr.write(
    `bundle: no stand-in broker for the warm-up (${error.message}); warming without one\n`,
  );
  return undefined;
});
try {
  const config = join(dir, "net2ban.cfg");
  await writeFile(
    config,
    [
      "[global]",
      `url = ${standIn?.url ?? "amqp://127.0.0.1:1/"}`,
      "rounds = 1000",
      "secret = build-time-secret",
      "authkey = build-time-authkey",
      "mode = server",
      "",
      "[server]",
      "input = net2ban_input",
      "key = build-time-key",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  const { exports, script } = loadBundle({ useCache: false });
  const errors = [];
  const quiet = { out() {}, err: (line) => errors.push(line) };
  const codes = [
    await exports.run(
      ["--config", config, "exec", "net2ban-demo", "actionban", "name=sshd", "ip=192.0.2.1"],
      quiet,
    ),
    await exports.run(["--config", config, "ban", "192.0.2.1", "--action", "net2ban-demo"], quiet),
  ];
  if (standIn !== undefined && codes.some((code) => code !== 0)) {
    process.stderr.write(`bundle: the warm-up against the stand-in broker failed (${errors.join("; ")})\n`);
  }
  await writeFile(CODE_CACHE, script.createCachedData());
} finally {
  await standIn?.close();
  await rm(dir, { recursive: true, force: true });
}
