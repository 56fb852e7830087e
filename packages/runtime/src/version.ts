// The version a CLI prints for --version: its own package's, read beside the running module.
import { readFileSync } from "node:fs";

/**
 * The `version` of the package.json one directory above `moduleUrl` (`import.meta.url` of a module in the
 * package's src/ or dist/, or of net2banctl's bundle in dist/); "unknown" when it cannot be read, so that
 * --version never stops a daemon.
 */
export function packageVersion(moduleUrl: string): string {
  try {
    const json: unknown = JSON.parse(readFileSync(new URL("../package.json", moduleUrl), "utf8"));
    const version = (json as { version?: unknown } | null)?.version;
    return typeof version === "string" ? version : "unknown";
  } catch {
    return "unknown";
  }
}
