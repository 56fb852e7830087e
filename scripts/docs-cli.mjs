// `pnpm docs:cli`: rewrites the generated reference of docs/cli.md from the built command definitions
// (packages/fleet/src/cli-reference.ts; its test fails when the file is not current).
import { readFile, writeFile } from "node:fs/promises";
import { cliReference, withReference } from "../packages/fleet/dist/cli-reference.js";

const path = new URL("../docs/cli.md", import.meta.url);
const before = await readFile(path, "utf8");
const after = withReference(before, await cliReference());
if (after !== before) await writeFile(path, after);
process.stdout.write(`docs/cli.md: ${after === before ? "already current" : "updated"}\n`);
