// Temporary directories for tests, removed by the test and, as a safety net, when the process exits.

import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  path: string;
  /** Removes the directory and everything in it; safe to call twice. */
  remove(): Promise<void>;
}

const leftovers = new Set<string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const path of leftovers) rmSync(path, { recursive: true, force: true });
  });
}

/** Makes `$TMPDIR/n2b-<label>-XXXXXX`; call remove() in afterEach/afterAll (or finally). */
export async function tempDir(label: string): Promise<TempDir> {
  const safe = label.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 40) || "tmp";
  const path = await mkdtemp(join(tmpdir(), `n2b-${safe}-`));
  leftovers.add(path);
  installExitHook();
  return {
    path,
    async remove() {
      await rm(path, { recursive: true, force: true });
      leftovers.delete(path);
    },
  };
}
