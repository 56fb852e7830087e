// INI reader: Python 2.7 ConfigParser quirks, fail2ban's Python 3 parser, interpolation, properties.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type IniDocument,
  type IniFlavor,
  IniSyntaxError,
  InterpolationDepthError,
  InterpolationError,
  InterpolationMissingOptionError,
  InterpolationSyntaxError,
  interpolate,
  parseIni,
  serializeIni,
} from "./ini.js";

const py2 = (text: string) => parseIni(text, { fileName: "net2ban.cfg", flavor: "python2" });
const f2b = (text: string) => parseIni(text, { fileName: "x.conf", flavor: "fail2ban" });

/** Section name -> key -> value, the shape Python's `_sections` would print. */
function values(doc: IniDocument): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  if (doc.defaults.size > 0)
    out["DEFAULT"] = Object.fromEntries([...doc.defaults].map(([k, e]) => [k, e.value]));
  for (const s of doc.sections.values()) {
    out[s.name] = Object.fromEntries([...s.entries].map(([k, e]) => [k, e.value]));
  }
  return out;
}

function syntaxError(fn: () => unknown): IniSyntaxError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(IniSyntaxError);
    return error as IniSyntaxError;
  }
  throw new Error("expected an IniSyntaxError");
}

describe("parseIni python2 (CPython 2.7 ConfigParser._read)", () => {
  it("reads sections, lower-cases keys, keeps section case and line numbers", () => {
    const doc = py2("[Global]\nServer = 10.0.0.1\nMODE: server\n\n[client1]\nkey = k1\n");
    expect(values(doc)).toEqual({ Global: { server: "10.0.0.1", mode: "server" }, client1: { key: "k1" } });
    expect(doc.sections.get("Global")?.line).toBe(1);
    expect(doc.sections.get("Global")?.entries.get("mode")?.line).toBe(3);
    expect(doc.sections.get("client1")?.entries.get("key")?.line).toBe(6);
  });

  it("splits on the first '=' or ':' whichever comes first", () => {
    expect(values(py2("[s]\na = b:c\nd:e = f\nurl = amqp://u:p@h:5672/\n"))).toEqual({
      s: { a: "b:c", d: "e = f", url: "amqp://u:p@h:5672/" },
    });
  });

  it("skips '#', ';' and 'rem' comment lines only at column 0", () => {
    // "rem = 1" is a comment too: Py2 only checks that the first word is "rem".
    const doc = py2("# c\n; c\nrem c\nREM\n[s]\nrem = 1\nRem\t= 2\nremark = 3\nrem=4\n#x = 5\n");
    expect(values(doc)).toEqual({ s: { remark: "3", rem: "4" } });
  });

  it("treats only the first ';' as a comment, and only after whitespace", () => {
    expect(values(py2("[s]\na = b ;c\nb = b;c\nc = b ; c ; d\nd = b;c ;d\ne = x # not a comment\n"))).toEqual(
      {
        s: { a: "b", b: "b;c", c: "b", d: "b;c ;d", e: "x # not a comment" },
      },
    );
  });

  it("looks at the last character when ';' starts the value (Python's value[-1])", () => {
    expect(values(py2("[s]\na = ;x \nb = ;x\n"))).toEqual({ s: { a: "", b: ";x" } });
    // "\r" of a CRLF line is part of the Py2 line, so it is the whitespace before the wrap-around.
    expect(values(py2("[s]\na = ;x\r\nb = v\r\n"))).toEqual({ s: { a: "", b: "v" } });
  });

  it('turns a value of exactly "" into an empty string', () => {
    expect(values(py2('[s]\na = ""\nb = "" \nc = "x"\n'))).toEqual({ s: { a: "", b: "", c: '"x"' } });
  });

  it("joins continuation lines with \\n, skipping blank and column-0 comment lines", () => {
    const doc = py2("[s]\na = 1\n  2 ; not stripped\n# comment\n\n\t3\n  # kept: indented\nb = x\n");
    expect(doc.sections.get("s")?.entries.get("a")?.value).toBe("1\n2 ; not stripped\n3\n# kept: indented");
    expect(doc.sections.get("s")?.entries.get("b")?.value).toBe("x");
  });

  it("merges duplicate sections; a later key wins but keeps its first position", () => {
    const doc = py2("[a]\nx = 1\ny = 2\n[b]\nz = 3\n[a]\nx = 9\n");
    expect([...doc.sections.keys()]).toEqual(["a", "b"]);
    expect([...doc.sections.get("a")!.entries]).toEqual([
      ["x", { value: "9", line: 7 }],
      ["y", { value: "2", line: 3 }],
    ]);
  });

  it("puts [DEFAULT] into defaults", () => {
    const doc = py2("[DEFAULT]\nrounds = 5\n[s]\na = 1\n");
    expect(doc.defaults.get("rounds")).toEqual({ value: "5", line: 2 });
    expect(doc.sections.has("DEFAULT")).toBe(false);
  });

  it("reads a header up to its first ']' and ignores what follows", () => {
    expect([...py2("[sec] trailing\na = 1\n[x]y]\n").sections.keys()]).toEqual(["sec", "x"]);
  });

  it("lower-cases only ASCII letters, as Python 2 does on bytes", () => {
    expect([...py2("[s]\nKÉY = 1\n").sections.get("s")!.entries.keys()]).toEqual(["kÉy"]);
  });

  it("rejects an option before any section header with file:line", () => {
    const error = syntaxError(() => py2("# hello\n\nserver = 1.2.3.4\n[global]\n"));
    expect(error.message).toBe('net2ban.cfg:3: option before any [section] header: "server = 1.2.3.4"');
    expect(error.line).toBe(3);
  });

  it("collects every bad line, like Python's ParsingError", () => {
    const error = syntaxError(() => py2("[s]\n  indented first\nnot an option\na = 1\n[]\n"));
    expect(error.problems.map((p) => p.line)).toEqual([2, 3, 5]);
    expect(error.message).toBe(
      [
        'net2ban.cfg:2: expected "key = value", a [section] or a comment: "  indented first"',
        'net2ban.cfg:3: expected "key = value", a [section] or a comment: "not an option"',
        'net2ban.cfg:5: expected "key = value", a [section] or a comment: "[]"',
      ].join("\n"),
    );
  });

  it("rejects an option line starting with the delimiter", () => {
    expect(syntaxError(() => py2("[s]\n= 1\n")).problems[0]?.line).toBe(2);
  });
});

describe("parseIni fail2ban (Python 3 ConfigParser as fail2ban 1.0.2 sets it up)", () => {
  it("cuts at the first ';' after whitespace, any occurrence; '#' is never inline", () => {
    expect(values(f2b("[Definition]\na = echo a;b ; c\nb = x # y\nc = a;b;c\n"))).toEqual({
      Definition: { a: "echo a;b", b: "x # y", c: "a;b;c" },
    });
  });

  it("skips comment lines inside multi-line values and keeps inner blank lines", () => {
    const text =
      "[Definition]\nactionban = one\n    # comment\n    ; comment\n\n    two ; inline\n\n\nnext = 1\n";
    expect(values(f2b(text))).toEqual({ Definition: { actionban: "one\n\ntwo", next: "1" } });
  });

  it("continues a value only on lines indented deeper than its key", () => {
    const doc = f2b("[s]\n  a = 1\n  b = 2\n    more\n c = 3\n");
    expect(values(doc)).toEqual({ s: { a: "1", b: "2\nmore", c: "3" } });
  });

  it("accepts indented headers and comments after a header; header runs to the last ']'", () => {
    expect(values(f2b("  [Init] ; comment\nname = default\n[a]]\nx = 1\n"))).toEqual({
      Init: { name: "default" },
      "a]": { x: "1" },
    });
  });

  it("splits lines on \\r\\n, \\r and \\n", () => {
    expect(values(f2b("[s]\r\na = 1\r  more\rb = 2\n"))).toEqual({ s: { a: "1\nmore", b: "2" } });
  });

  it("rejects duplicate options and sections within one file, as fail2ban does", () => {
    expect(syntaxError(() => f2b("[s]\na = 1\nA = 2\n")).message).toBe(
      'x.conf:3: option "a" appears twice in [s]',
    );
    expect(syntaxError(() => f2b("[s]\na = 1\n[t]\n[s]\n")).message).toBe(
      "x.conf:4: section [s] appears twice in this file",
    );
    expect(values(f2b("[DEFAULT]\na = 1\n[DEFAULT]\nb = 2\n"))).toEqual({ DEFAULT: { a: "1", b: "2" } });
  });

  it("reports a missing option name and a missing header", () => {
    expect(syntaxError(() => f2b("[s]\n= 1\n")).message).toBe(
      'x.conf:2: option name missing before "=": "= 1"',
    );
    expect(syntaxError(() => f2b("; c\n a = 1\n")).message).toBe(
      'x.conf:2: option before any [section] header: " a = 1"',
    );
  });
});

describe("interpolate", () => {
  const where = { fileName: "net2ban.cfg", section: "client1", key: "secret" };
  const table: Record<string, string> = { a: "A", b: "%(a)s-%(A)s", loop: "%(loop)s", pct: "50%%" };
  const lookup = (name: string) => table[name];

  it("expands references recursively, case-insensitively, and %% to %", () => {
    expect(interpolate("x %(B)s y %(pct)s %%(a)s", lookup, where)).toBe("x A-A y 50% %(a)s");
  });

  it("names file, section, key and the missing name", () => {
    const error = (() => {
      try {
        interpolate("%(nope)s", lookup, where);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InterpolationMissingOptionError);
    expect(error).toBeInstanceOf(InterpolationError);
    expect((error as InterpolationMissingOptionError).missingName).toBe("nope");
    expect((error as Error).message).toBe(
      'net2ban.cfg: [client1] secret: %(nope)s refers to an unknown option "nope"',
    );
  });

  it("stops a reference loop at the depth limit", () => {
    expect(() => interpolate("%(loop)s", lookup, where)).toThrow(InterpolationDepthError);
    expect(() => interpolate("%(loop)s", lookup, where)).toThrow(
      "net2ban.cfg: [client1] secret: references nest deeper than 10 levels (a reference loop?)",
    );
  });

  it("allows exactly maxDepth levels of nesting", () => {
    const chain: Record<string, string> = { v0: "end" };
    for (let i = 1; i <= 12; i++) chain[`v${i}`] = `%(v${i - 1})s`;
    // depth 1 is the value itself; each nested value containing "%" adds one level.
    expect(interpolate("%(v9)s", (n) => chain[n], where)).toBe("end");
    expect(() => interpolate("%(v10)s", (n) => chain[n], where)).toThrow(InterpolationDepthError);
    expect(interpolate("%(v10)s", (n) => chain[n], where, 11)).toBe("end");
  });

  it("rejects a lone % and malformed references", () => {
    for (const bad of ["50%", "%d", "%()s", "%(a)d", "%(a"]) {
      expect(() => interpolate(bad, lookup, where), bad).toThrow(InterpolationSyntaxError);
    }
  });

  it("checks its arguments", () => {
    expect(() => interpolate(1 as unknown as string, lookup, where)).toThrow(
      '"value" expected a string, got number',
    );
    expect(() => parseIni("", { fileName: "x", flavor: "py" as IniFlavor })).toThrow(
      '"options.flavor" expected one of python2, fail2ban, got "py"',
    );
  });
});

// Generators for documents both parsers read back unchanged (see serializeIni's contract).
const nameChar = fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789_-./@".split(""));
const keyArb = fc.string({ unit: nameChar, minLength: 1, maxLength: 12 });
const sectionNameArb = fc
  .string({ unit: fc.constantFrom(..."abcXYZ019_-. /?=é".split("")), minLength: 1, maxLength: 12 })
  .filter((s) => s.trim() === s && s !== "DEFAULT");
const valueLineArb = fc
  .string({ unit: fc.constantFrom(..."aZ09 =:%;#\"'<>[]/\\\tç€".split("")), minLength: 1, maxLength: 20 })
  .filter((s) => s.trim() === s && s !== "" && s !== '""' && !/(^|\s);/.test(s) && !/^[#;]/.test(s));
const valueArb = (blankLines: boolean) =>
  fc
    .tuple(
      fc.oneof(valueLineArb, fc.constant("")),
      fc.array(blankLines ? fc.oneof(valueLineArb, fc.constant("")) : valueLineArb, { maxLength: 3 }),
    )
    .map(([first, rest]) => {
      while (rest.length > 0 && rest[rest.length - 1] === "") rest.pop();
      return [first, ...rest].join("\n");
    })
    .filter((v) => v.trim() !== "" || v === "");
const entriesArb = (blankLines: boolean) =>
  fc.uniqueArray(fc.tuple(keyArb, valueArb(blankLines)), { selector: ([k]) => k, maxLength: 5 });
const documentArb = (blankLines: boolean) =>
  fc.record({
    defaults: entriesArb(blankLines),
    sections: fc.uniqueArray(fc.tuple(sectionNameArb, entriesArb(blankLines)), {
      selector: ([n]) => n,
      maxLength: 5,
    }),
  });

describe("parseIni properties", () => {
  for (const flavor of ["python2", "fail2ban"] as const) {
    it(`${flavor}: generated documents round-trip through serializeIni`, () => {
      fc.assert(
        fc.property(documentArb(flavor === "fail2ban"), (spec) => {
          const doc: IniDocument = {
            fileName: "g.cfg",
            defaults: new Map(spec.defaults.map(([k, v]) => [k, { value: v, line: 0 }])),
            sections: new Map(
              spec.sections.map(([name, entries]) => [
                name,
                { name, line: 0, entries: new Map(entries.map(([k, v]) => [k, { value: v, line: 0 }])) },
              ]),
            ),
          };
          const reparsed = parseIni(serializeIni(doc), { fileName: "g.cfg", flavor });
          expect(values(reparsed)).toEqual(values(doc));
          expect([...reparsed.sections.keys()]).toEqual(spec.sections.map(([n]) => n));
        }),
        { numRuns: 300 },
      );
    });

    it(`${flavor}: arbitrary text throws nothing but IniSyntaxError`, () => {
      const iniish = fc.string({
        unit: fc.oneof(
          fc.constantFrom(
            "[",
            "]",
            "=",
            ":",
            ";",
            "#",
            "%",
            " ",
            "\t",
            "\n",
            "\r",
            "\x0b",
            "\u2028",
            "rem ",
            "DEFAULT",
          ),
          fc.string({ unit: "binary", maxLength: 3 }),
        ),
        maxLength: 80,
      });
      fc.assert(
        fc.property(iniish, (text) => {
          try {
            const doc = parseIni(text, { fileName: "r.cfg", flavor });
            for (const s of doc.sections.values()) expect(s.name.length).toBeGreaterThan(0);
          } catch (error) {
            expect(error).toBeInstanceOf(IniSyntaxError);
            expect((error as IniSyntaxError).problems.length).toBeGreaterThan(0);
          }
        }),
        { numRuns: 1000 },
      );
    });
  }

  it("interpolate throws nothing but InterpolationError", () => {
    const table: Record<string, string> = { a: "x%(b)s", b: "%%", c: "%(c)s" };
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("%", "(", ")", "s", "a", "b", "c", "x"), maxLength: 20 }),
        (value) => {
          try {
            interpolate(value, (n) => table[n], { fileName: "f", section: "s", key: "k" });
          } catch (error) {
            expect(error).toBeInstanceOf(InterpolationError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
