// Differential test: the "fail2ban" flavor and interpolate() against the real thing, fail2ban
// 1.0.2's parser class and Python 3's BasicInterpolation run by the system /usr/bin/python3.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IniSyntaxError, InterpolationError, interpolate, parseIni } from "./ini.js";

const PYTHON = "/usr/bin/python3";

// Reads each text from a real file (utf-8, universal newlines) as fail2ban does, and interpolates
// each value with BasicInterpolation. Prints one JSON result per case.
const SCRIPT = `
import json, sys, os, tempfile, configparser
from fail2ban.client.configparserinc import SafeConfigParserWithIncludes as P
cases = json.load(sys.stdin)
out = {"ini": [], "interp": []}
d = tempfile.mkdtemp()
for i, text in enumerate(cases["ini"]):
    path = os.path.join(d, "c%d.conf" % i)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    p = P()
    try:
        p.read(path, get_includes=False)
        secs = [[n, list(s.items())] for n, s in p._sections.items()]
        out["ini"].append({"ok": True, "defaults": list(p._defaults.items()), "sections": secs})
    except configparser.MissingSectionHeaderError as e:
        out["ini"].append({"ok": False, "fatal": e.lineno})
    except configparser.ParsingError as e:
        out["ini"].append({"ok": False, "lines": [n for n, _ in e.errors]})
    except configparser.Error as e:
        out["ini"].append({"ok": False, "fatal": e.lineno})
    os.unlink(path)
os.rmdir(d)
parser = configparser.ConfigParser(interpolation=None)
parser.add_section("s")
for value, table in cases["interp"]:
    try:
        r = configparser.BasicInterpolation().before_get(parser, "s", "k", value, table)
        out["interp"].append({"ok": r})
    except configparser.InterpolationMissingOptionError as e:
        out["interp"].append({"error": "missing", "name": e.reference})
    except configparser.InterpolationDepthError:
        out["interp"].append({"error": "depth"})
    except configparser.InterpolationSyntaxError:
        out["interp"].append({"error": "syntax"})
json.dump(out, sys.stdout)
`;

interface PyIni {
  ok: boolean;
  defaults?: [string, string][];
  sections?: [string, [string, string][]][];
  lines?: number[];
  fatal?: number;
}
type PyInterp = { ok: string } | { error: "missing"; name: string } | { error: "depth" | "syntax" };

function runPython(cases: { ini: string[]; interp: [string, Record<string, string>][] }) {
  if (!existsSync(PYTHON))
    throw new Error(`${PYTHON} is missing: install python3 and fail2ban (apt-get install fail2ban)`);
  let stdout: string;
  try {
    stdout = execFileSync(PYTHON, ["-c", SCRIPT], {
      input: JSON.stringify(cases),
      maxBuffer: 64 << 20,
    }).toString();
  } catch (error) {
    throw new Error(`fail2ban's Python parser could not run (apt-get install fail2ban): ${String(error)}`, {
      cause: error,
    });
  }
  return JSON.parse(stdout) as { ini: PyIni[]; interp: PyInterp[] };
}

const iniText = fc.string({
  unit: fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom("[", "]", "=", ":", ";", "#", " ", "  ", "\t", "\n", "\n", "\r\n", "\r"),
    },
    {
      weight: 4,
      arbitrary: fc.constantFrom("a", "B", "key", "DEFAULT", "%(a)s", "x", "É", "\u2028", "\x0b", "\ufeff"),
    },
    { weight: 2, arbitrary: fc.constantFrom("[s]\n", "[t]\n", "\n  ", "\n    ", "a = 1", " ; c", "\n#") },
  ),
  maxLength: 60,
});

describe("fail2ban flavor matches fail2ban 1.0.2's parser", () => {
  it("gives the same values or fails on the same lines for random text", () => {
    const texts = fc.sample(iniText, { numRuns: 3000, seed: 20240601 });
    texts.push(
      "[Definition]\nactionban = a ; b\n  # c\n\n  d;e ;f\n\n[Init]\nname = default\n",
      "[s]\na = 1\na = 2\n",
      "x\n[s]\n",
    );
    const python = runPython({ ini: texts, interp: [] }).ini;
    texts.forEach((text, i) => {
      const expected = python[i]!;
      let actual: PyIni;
      try {
        const doc = parseIni(text, { fileName: "c.conf", flavor: "fail2ban" });
        actual = {
          ok: true,
          defaults: [...doc.defaults].map(([k, e]) => [k, e.value]),
          sections: [...doc.sections.values()].map((s) => [
            s.name,
            [...s.entries].map(([k, e]) => [k, e.value]),
          ]),
        };
      } catch (error) {
        expect(error).toBeInstanceOf(IniSyntaxError);
        const lines = (error as IniSyntaxError).problems.map((p) => p.line);
        actual = expected.fatal !== undefined ? { ok: false, fatal: lines.at(-1)! } : { ok: false, lines };
      }
      expect(actual, JSON.stringify(text)).toEqual(expected);
    });
  });
});

describe("interpolate matches Python 3 BasicInterpolation", () => {
  it("gives the same result or the same kind of error", () => {
    const nameArb = fc.constantFrom("a", "b", "c", "A");
    const pieceArb = fc.oneof(
      fc.constantFrom("%", "%%", "(", ")", "s", "x", " ", "%(", ")s"),
      nameArb.map((n) => `%(${n})s`),
    );
    const valueArb = fc.array(pieceArb, { maxLength: 8 }).map((p) => p.join(""));
    const tableArb = fc.record({ a: valueArb, b: valueArb, c: valueArb }, { requiredKeys: [] });
    const cases = fc.sample(fc.tuple(valueArb, tableArb), { numRuns: 2000, seed: 7 }) as [
      string,
      Record<string, string>,
    ][];
    const python = runPython({ ini: [], interp: cases }).interp;
    cases.forEach(([value, table], i) => {
      let actual: PyInterp;
      try {
        actual = { ok: interpolate(value, (n) => table[n], { fileName: "f", section: "s", key: "k" }) };
      } catch (error) {
        expect(error).toBeInstanceOf(InterpolationError);
        const name = (error as Error).name;
        actual =
          name === "InterpolationMissingOptionError"
            ? { error: "missing", name: (error as { missingName: string }).missingName }
            : { error: name === "InterpolationDepthError" ? "depth" : "syntax" };
      }
      expect(actual, JSON.stringify([value, table])).toEqual(python[i]);
    });
  });
});
