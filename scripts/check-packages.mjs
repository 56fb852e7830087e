// `pnpm lint` step after `pnpm build`: every published package packs as its package.json promises
// (publint on the packed file list), and @net2ban/protocol's public surface matches the committed
// API reports (api-extractor, one report per entry point). `--update` rewrites the reports after an
// intended change of the surface; review their diff like code.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Extractor, ExtractorConfig } from "@microsoft/api-extractor";
import { publint } from "publint";
import { formatMessage } from "publint/utils";

const root = fileURLToPath(new URL("..", import.meta.url));
const update = process.argv.includes("--update");
const API_REPORTS = [
  "packages/protocol/api-extractor.json",
  "packages/protocol/api-extractor.fleet.json",
  "packages/protocol/api-extractor.testing.json",
];

let failed = false;

for (const name of (await readdir(join(root, "packages"))).sort()) {
  const dir = join(root, "packages", name);
  const pkg = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
  if (pkg.private === true) continue;
  // strict: a warning (an export without types, a file missing from the tarball) fails too.
  const { messages } = await publint({ pkgDir: dir, pack: "pnpm", strict: true });
  for (const message of messages) {
    failed = true;
    process.stderr.write(`${pkg.name}: ${formatMessage(message, pkg, { color: false })}\n`);
  }
}

for (const configPath of API_REPORTS) {
  const config = ExtractorConfig.loadFileAndPrepare(join(root, configPath));
  const result = Extractor.invoke(config, { localBuild: update, showVerboseMessages: false });
  if (!result.succeeded) {
    failed = true;
    process.stderr.write(
      `${configPath}: ${result.apiReportChanged ? "the public API differs from the committed report (run `pnpm api:update` if intended)" : `${result.errorCount} errors`}\n`,
    );
  }
}

if (failed) process.exitCode = 1;
