// docs/cli.md's reference is what the command definitions print: run `pnpm docs:cli` after changing them.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { cliReference, REFERENCE_END, REFERENCE_START, withReference } from "./cli-reference.js";

const DOC = new URL("../../../docs/cli.md", import.meta.url);

describe("docs/cli.md", () => {
  it("holds the reference the command definitions print (pnpm docs:cli rewrites it)", async () => {
    const doc = await readFile(DOC, "utf8");
    expect(doc, "docs/cli.md is not current: run `pnpm docs:cli`").toBe(
      withReference(doc, await cliReference()),
    );
  });

  it("the reference has every command, each daemon, and their options", async () => {
    const reference = await cliReference();
    for (const title of [
      "net2banctl ban",
      "net2banctl list-clients",
      "net2banctl version",
      "net2ban-agent",
    ]) {
      expect(reference).toContain(`### \`${title}\``);
    }
    expect(reference).toContain("--strict");
    expect(reference).toContain("-c, --config");
  });

  it("withReference replaces only what lies between the markers", () => {
    const doc = `# t\n\nbefore\n\n${REFERENCE_START}\nold\n${REFERENCE_END}\n\nafter\n`;
    expect(withReference(doc, `${REFERENCE_START}\nnew\n${REFERENCE_END}`)).toBe(
      `# t\n\nbefore\n\n${REFERENCE_START}\nnew\n${REFERENCE_END}\n\nafter\n`,
    );
    expect(withReference("# t\n", "R")).toBe("# t\n\nR\n");
  });
});
