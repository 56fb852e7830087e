// docs/configuration.md's key tables (Keys, Publishers) and the sample configs/net2ban.cfg are checked
// against the schema: every key net2ban reads is documented (with the sections the schema reads it
// from) and shown in the sample, set or commented; no documented key is missing from the schema.
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, type ConfigKey } from "./schema.js";

const root = new URL("../../../", import.meta.url);
const read = (path: string) => readFile(new URL(path, root), "utf8");

/** The lines of the docs/configuration.md section that starts with `heading`. */
function sectionOf(text: string, heading: string): string[] {
  const start = text.indexOf(`\n${heading}`);
  expect(start, `docs/configuration.md has a '${heading}' section`).toBeGreaterThan(-1);
  const end = text.indexOf("\n## ", start + 1);
  return text.slice(start, end === -1 ? undefined : end).split("\n");
}

/**
 * Key -> the kinds of section it is documented for: the "## Keys" table's sections cell, plus
 * "publisher" for the keys of the "## Publishers" table (a row may name several keys).
 */
async function documentedKeys(): Promise<Map<string, string>> {
  const text = await read("docs/configuration.md");
  const rows = new Map<string, string>();
  for (const line of sectionOf(text, "## Keys")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const key = /^`([a-z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (key !== undefined && cells.length > 3) rows.set(key, cells[2] ?? "");
  }
  for (const line of sectionOf(text, "## Publishers")) {
    const cells = line.split("|").map((cell) => cell.trim());
    if (cells.length < 4) continue;
    for (const m of (cells[1] ?? "").matchAll(/`([a-z_]+)`/g)) {
      rows.set(m[1]!, `${rows.get(m[1]!) ?? ""}, publisher`);
    }
  }
  return rows;
}

const schemaKeys = Object.keys(CONFIG_KEYS) as ConfigKey[];

describe("docs/configuration.md against the schema", () => {
  it("documents every key of the schema, and no key the schema lacks", async () => {
    const documented = await documentedKeys();
    expect(schemaKeys.filter((key) => !documented.has(key))).toEqual([]);
    expect([...documented.keys()].filter((key) => !(schemaKeys as string[]).includes(key))).toEqual([]);
  });

  it("names, for each key, every kind of section the schema reads it from", async () => {
    const documented = await documentedKeys();
    const missing = schemaKeys.flatMap((key) => {
      const cell = documented.get(key) ?? "";
      // "P" in the table is every peer section: [server] and the clients'.
      const named = (kind: string) =>
        cell.includes(kind) || ((kind === "server" || kind === "client") && /\bP\b/.test(cell));
      return CONFIG_KEYS[key].sections.filter((kind) => !named(kind)).map((kind) => `${key}: ${kind}`);
    });
    expect(missing).toEqual([]);
  });
});

describe("configs/net2ban.cfg shows every key", () => {
  it("each key of the schema appears, set or commented out", async () => {
    const sample = await read("configs/net2ban.cfg");
    const shown = new Set([...sample.matchAll(/^#?\s*([a-z_]+)\s*=/gm)].map((m) => m[1]));
    expect(schemaKeys.filter((key) => !shown.has(key))).toEqual([]);
  });
});
