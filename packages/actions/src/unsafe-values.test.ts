// Property test: caller options and ticket values full of shell syntax are run as data. The action
// prints its arguments into a file; a canary file that every payload tries to create never appears.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ParamRefusedError } from "./errors.js";
import { loadAction } from "./load.js";
import { renderOperation } from "./render.js";
import { runCommand } from "./run.js";

let dir: string;
let canary: string;
let out: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "n2b-unsafe-"));
  canary = join(dir, "CANARY");
  out = join(dir, "out");
  // Caller options unquoted, in double quotes and inside a word; ticket values double-quoted.
  writeFileSync(
    join(dir, "print.conf"),
    [
      "[Definition]",
      `actionban = printf '%%s\\0' <name> "<port>" f2b-<name>-x <ip> "<matches>" "<F-USER>" "<ip-host>" >> <out>`,
      `actionunban = printf '%%s\\0' '<name>' >> <out>`,
      "[Init]",
      "name = default",
      "port = ssh",
      `out = ${out}`,
      "",
    ].join("\n"),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const payloads = (): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(
          "; touch CANARY",
          "| touch CANARY",
          "&& touch CANARY",
          "$(touch CANARY)",
          "`touch CANARY`",
          "' ; touch CANARY ; '",
          '" ; touch CANARY ; "',
          "\ntouch CANARY\n",
          "\r\ntouch CANARY",
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell payload, not a template
          "${IFS}touch${IFS}CANARY",
          "<(touch CANARY)",
          "$((1+1))",
          "*",
          "~",
          "\\",
          "ünïcødé ✓ 🐟",
          " ",
          "%",
          "<name>",
          "<ip>",
        ),
        fc.string({ unit: "grapheme", maxLength: 6 }),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((parts) => parts.join("").replaceAll("CANARY", "__CANARY__").replaceAll("\0", ""));

const SPECIAL_RE = /[\\#&;`|*?~<>^()[\]{}$'"\n\r]/;
// values without a shell special are inlined as fail2ban does (word splitting included): checked
// against fail2ban in property.int.test.ts; here every caller option carries at least one special
const unsafe = (): fc.Arbitrary<string> => payloads().filter((v) => SPECIAL_RE.test(v));

describe("unsafe values", () => {
  it("run as data: the canary is never created and each value arrives intact", async () => {
    await fc.assert(
      fc.asyncProperty(unsafe(), unsafe(), payloads(), payloads(), async (name, port, matches, user) => {
        const payloadsFor = (v: string) => v.replaceAll("__CANARY__", canary);
        const params = {
          name: payloadsFor(name),
          port: payloadsFor(port),
          ip: "192.0.2.7",
          matches: payloadsFor(matches),
          "F-USER": payloadsFor(user),
        };
        rmSync(out, { force: true });
        const command = renderOperation(loadAction(dir, "print"), "actionban", params, {
          hostname: { fq: "h.example", short: "h" },
        });
        expect(command).not.toBeNull();
        expect(typeof command === "object" && command !== null && "commands" in command).toBe(false);
        const result = await runCommand(command as string | [string, ...string[]], { timeoutMs: 10_000 });
        expect(result.stderr).toBe("");
        expect(result.exitCode).toBe(0);
        expect(existsSync(canary)).toBe(false);
        const printed = readFileSync(out, "utf8").split("\0").slice(0, -1);
        expect(printed).toEqual([
          params.name,
          params.port,
          `f2b-${params.name}-x`,
          "192.0.2.7",
          params.matches,
          params["F-USER"],
          "None",
        ]);
      }),
      { seed: 4711, numRuns: 150 },
    );
  });

  it("are refused where the action puts the option in single quotes; nothing runs", () => {
    fc.assert(
      fc.property(unsafe(), (name) => {
        expect(() =>
          renderOperation(
            loadAction(dir, "print"),
            "actionunban",
            { name, ip: "192.0.2.7" },
            { hostname: { fq: "h", short: "h" } },
          ),
        ).toThrow(ParamRefusedError);
      }),
      { seed: 4712, numRuns: 100 },
    );
    expect(existsSync(canary)).toBe(false);
  });
});

describe("unsafe values in tag names", () => {
  it("are refused: fail2ban would have looked up another tag", () => {
    writeFileSync(
      join(dir, "nested.conf"),
      "[Definition]\nactionban = echo <<which>> <ip>\n[Init]\nwhich = chain\nchain = INPUT\n",
    );
    const render = (which: string) =>
      renderOperation(
        loadAction(dir, "nested"),
        "actionban",
        { which, ip: "192.0.2.7" },
        { hostname: { fq: "h", short: "h" } },
      );
    expect(render("chain")).toBe("echo INPUT 192.0.2.7");
    expect(() => render("x;y")).toThrow(/inside a tag name/);
  });
});

describe("many unsafe values", () => {
  it("reach the shell intact from the 11th on, where sh reads $10 as $1 and a 0", async () => {
    const names = Array.from({ length: 14 }, (_, i) => `opt${i + 1}`);
    writeFileSync(
      join(dir, "many.conf"),
      [
        "[Definition]",
        `actionban = printf '%%s\\0' ${names.map((n) => `"<${n}>"`).join(" ")} "<ip>" > <out>`,
        "actionunban = true",
        "[Init]",
        ...names.map((n) => `${n} = x`),
        `out = ${out}`,
        "",
      ].join("\n"),
    );
    const values = names.map((_n, i) => `v${i + 1};$(touch ${canary})'"\``);
    const params: Record<string, string> = { ip: "192.0.2.7" };
    names.forEach((n, i) => {
      params[n] = values[i] as string;
    });
    rmSync(out, { force: true });
    const command = renderOperation(loadAction(dir, "many"), "actionban", params, {
      hostname: { fq: "h", short: "h" },
    });
    expect(Array.isArray(command) && command.length).toBe(names.length + 1);
    const result = await runCommand(command as [string, ...string[]], { timeoutMs: 10_000 });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(existsSync(canary)).toBe(false);
    expect(readFileSync(out, "utf8").split("\0").slice(0, -1)).toEqual([...values, "192.0.2.7"]);
  });
});
