// Reading action files: what exists, what is refused, when a cached action is stale.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActionConfigError, ActionNotFoundError, ParamRefusedError } from "./errors.js";
import { actionChanged, loadAction } from "./load.js";
import { renderOperation } from "./render.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "n2b-load-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ban = (name: string) =>
  renderOperation(
    loadAction(dir, name),
    "actionban",
    { ip: "192.0.2.1" },
    { hostname: { fq: "h", short: "h" } },
  );

describe("loadAction", () => {
  it("names the directory and the action when no file exists", () => {
    expect(() => loadAction(dir, "nope")).toThrow(ActionNotFoundError);
    expect(() => loadAction(dir, "nope")).toThrow(new RegExp(`"nope" not found in ${dir}`));
  });

  it("refuses names that could leave the directory", () => {
    for (const name of ["../x", "a/b", "..", ".hidden", ""])
      expect(() => loadAction(dir, name)).toThrow(ParamRefusedError);
  });

  it("reads an action made only of NAME.local or NAME.d/*.conf", () => {
    writeFileSync(join(dir, "only.local"), "[Definition]\nactionban = local <ip>\n");
    expect(ban("only")).toBe("local 192.0.2.1");
    mkdirSync(join(dir, "dee.d"));
    writeFileSync(join(dir, "dee.d", "b.conf"), "[Definition]\nactionban = b <ip>\n");
    writeFileSync(join(dir, "dee.d", "a.conf"), "[Definition]\nactionban = a <ip>\nactionunban = a\n");
    expect(ban("dee")).toBe("b 192.0.2.1");
    expect(loadAction(dir, "dee").files.map((f) => f.slice(dir.length + 1))).toEqual([
      "dee.d/a.conf",
      "dee.d/b.conf",
    ]);
  });

  it("survives include cycles and ignores missing includes", () => {
    writeFileSync(
      join(dir, "a.conf"),
      "[INCLUDES]\nbefore = b.conf\n  nothing.conf\n[Definition]\nactionban = a <x>\n",
    );
    writeFileSync(join(dir, "b.conf"), "[INCLUDES]\nbefore = a.conf\n[Init]\nx = from-b\n");
    expect(ban("a")).toBe("a from-b");
  });

  it("reports syntax errors, invalid UTF-8 and NUL as ActionConfigError naming the file", () => {
    writeFileSync(join(dir, "syntax.conf"), "[Definition]\nthis line has no delimiter\n");
    expect(() => loadAction(dir, "syntax")).toThrow(ActionConfigError);
    expect(() => loadAction(dir, "syntax")).toThrow(/syntax\.conf/);
    writeFileSync(join(dir, "latin.conf"), Buffer.from([0x5b, 0x44, 0x5d, 0x0a, 0x61, 0x3d, 0xe9, 0x0a]));
    expect(() => loadAction(dir, "latin")).toThrow(/not valid UTF-8/);
    writeFileSync(join(dir, "nul.conf"), "[Definition]\nactionban = a\0b\n");
    expect(() => loadAction(dir, "nul")).toThrow(/NUL/);
  });

  it("knows when a file was changed, added or removed", () => {
    writeFileSync(join(dir, "w.conf"), "[Definition]\nactionban = one\n");
    const loaded = loadAction(dir, "w");
    expect(actionChanged(loaded)).toBe(false);
    writeFileSync(join(dir, "w.local"), "[Definition]\nactionban = two\n");
    expect(actionChanged(loaded)).toBe(true);
    const again = loadAction(dir, "w");
    mkdirSync(join(dir, "w.d"));
    writeFileSync(join(dir, "w.d", "x.conf"), "[Init]\n");
    expect(actionChanged(again)).toBe(true);
    const third = loadAction(dir, "w");
    rmSync(join(dir, "w.local"));
    expect(actionChanged(third)).toBe(true);
  });
});
