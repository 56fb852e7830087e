// INI reader with the exact semantics of the two Python parsers net2ban has to agree with:
// CPython 2.7 ConfigParser (the original net2ban.cfg reader) and Python 3 ConfigParser as
// fail2ban 1.0.2 configures it (action.d files). Values come back raw; interpolation is separate.

import {
  assertFunction,
  assertNonNegativeInteger,
  assertObject,
  assertOneOf,
  assertString,
} from "./assert.js";

export type IniFlavor = "python2" | "fail2ban";
export const INI_FLAVORS: readonly IniFlavor[] = ["python2", "fail2ban"];

export interface IniOptions {
  /** Used in error messages, as given (callers pass the base name). */
  fileName: string;
  flavor: IniFlavor;
}

/** A raw value (multi-line values joined with `\n`, not interpolated) and the line of its key. */
export interface IniEntry {
  value: string;
  line: number;
}

/** Keys are lower-cased (as Python's `optionxform`); the map keeps first-insertion order. */
export interface IniSection {
  name: string;
  line: number;
  entries: Map<string, IniEntry>;
}

/** `[DEFAULT]` goes to `defaults`; section names keep their case. */
export interface IniDocument {
  fileName: string;
  defaults: Map<string, IniEntry>;
  sections: Map<string, IniSection>;
}

export interface IniProblem {
  line: number;
  message: string;
}

/** The text is not a valid INI document; every problem found is listed as `file:line: what`. */
export class IniSyntaxError extends Error {
  override readonly name = "IniSyntaxError";
  readonly fileName: string;
  /** Line of the first problem. */
  readonly line: number;
  readonly problems: readonly IniProblem[];

  constructor(fileName: string, problems: readonly IniProblem[], options?: { cause?: unknown }) {
    super(problems.map((p) => `${fileName}:${p.line}: ${p.message}`).join("\n"), options);
    this.fileName = fileName;
    this.line = problems[0]?.line ?? 0;
    this.problems = problems;
  }
}

/** Where a value being interpolated came from, for error messages. */
export interface InterpolationSite {
  fileName: string;
  section: string;
  key: string;
}

/** Base class of the interpolation failures (Python's InterpolationError family). */
export class InterpolationError extends Error {
  override readonly name: string = "InterpolationError";
  readonly fileName: string;
  readonly section: string;
  readonly key: string;

  constructor(where: InterpolationSite, what: string, options?: { cause?: unknown }) {
    super(`${where.fileName}: [${where.section}] ${where.key}: ${what}`, options);
    this.fileName = where.fileName;
    this.section = where.section;
    this.key = where.key;
  }
}

/** `%(name)s` names an option that neither the section nor its fallbacks define. */
export class InterpolationMissingOptionError extends InterpolationError {
  override readonly name = "InterpolationMissingOptionError";
  readonly missingName: string;

  constructor(where: InterpolationSite, missingName: string, options?: { cause?: unknown }) {
    super(where, `%(${missingName})s refers to an unknown option "${missingName}"`, options);
    this.missingName = missingName;
  }
}

/** References nest deeper than allowed, which in practice means a reference loop. */
export class InterpolationDepthError extends InterpolationError {
  override readonly name = "InterpolationDepthError";
  readonly maxDepth: number;

  constructor(where: InterpolationSite, maxDepth: number, options?: { cause?: unknown }) {
    super(where, `references nest deeper than ${maxDepth} levels (a reference loop?)`, options);
    this.maxDepth = maxDepth;
  }
}

/** A `%` that is neither `%%` nor a complete `%(name)s`. */
export class InterpolationSyntaxError extends InterpolationError {
  override readonly name = "InterpolationSyntaxError";
}

// Python 2 reads bytes: only ASCII whitespace counts and only ASCII letters are lower-cased.
const PY2_SPACE = new Set([" ", "\t", "\n", "\r", "\x0b", "\x0c"]);
// Python 3 str.isspace() (the same set as `\s` in a str regex), checked against CPython 3.11.
const PY3_SPACE = new Set([
  "\t",
  "\n",
  "\x0b",
  "\x0c",
  "\r",
  "\x1c",
  "\x1d",
  "\x1e",
  "\x1f",
  " ",
  "\x85",
  "\xa0",
  "\u1680",
  "\u2000",
  "\u2001",
  "\u2002",
  "\u2003",
  "\u2004",
  "\u2005",
  "\u2006",
  "\u2007",
  "\u2008",
  "\u2009",
  "\u200a",
  "\u2028",
  "\u2029",
  "\u202f",
  "\u205f",
  "\u3000",
]);

function isSpace(ch: string | undefined, space: ReadonlySet<string>): boolean {
  return ch !== undefined && space.has(ch);
}

function lstrip(s: string, space: ReadonlySet<string>): string {
  let start = 0;
  while (start < s.length && space.has(s[start]!)) start++;
  return s.slice(start);
}

function rstrip(s: string, space: ReadonlySet<string>): string {
  let end = s.length;
  while (end > 0 && space.has(s[end - 1]!)) end--;
  return s.slice(0, end);
}

function strip(s: string, space: ReadonlySet<string>): string {
  return lstrip(rstrip(s, space), space);
}

function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/** Quotes a source line for an error message, shortened so one bad line stays one short message. */
function quoteLine(line: string): string {
  const shown = line.length > 60 ? `${line.slice(0, 57)}...` : line;
  return JSON.stringify(shown);
}

interface DraftEntry {
  line: number;
  parts: string[];
}

interface DraftSection {
  name: string;
  line: number;
  entries: Map<string, DraftEntry>;
}

class Draft {
  readonly defaults = new Map<string, DraftEntry>();
  readonly sections = new Map<string, DraftSection>();

  finish(fileName: string, join: (parts: string[]) => string): IniDocument {
    const convert = (entries: Map<string, DraftEntry>): Map<string, IniEntry> => {
      const out = new Map<string, IniEntry>();
      for (const [key, draft] of entries) out.set(key, { value: join(draft.parts), line: draft.line });
      return out;
    };
    const sections = new Map<string, IniSection>();
    for (const [name, draft] of this.sections) {
      sections.set(name, { name, line: draft.line, entries: convert(draft.entries) });
    }
    return { fileName, defaults: convert(this.defaults), sections };
  }
}

const DEFAULT_SECTION = "DEFAULT";

// CPython 2.7 ConfigParser._read, line by line. Lines split on "\n" only (Py2 opens the file
// without universal newlines, so a "\r" stays part of the line and counts as whitespace).
function parsePython2(text: string, fileName: string): IniDocument {
  const draft = new Draft();
  const problems: IniProblem[] = [];
  let current: Map<string, DraftEntry> | undefined;
  let optionName: string | undefined;
  const lines = text.split("\n");

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const lineNo = index + 1;
    if (strip(line, PY2_SPACE) === "" || line[0] === "#" || line[0] === ";") continue;
    if ((line[0] === "r" || line[0] === "R") && /^rem(?:[ \t\n\r\x0b\x0c]|$)/i.test(line)) continue;

    if (isSpace(line[0], PY2_SPACE) && current !== undefined && optionName !== undefined) {
      // Continuation line: no inline-comment handling here, exactly as Py2.
      const value = strip(line, PY2_SPACE);
      if (value !== "") current.get(optionName)!.parts.push(value);
      continue;
    }

    const headerEnd = line[0] === "[" ? line.indexOf("]", 1) : -1;
    if (headerEnd > 1) {
      const name = line.slice(1, headerEnd);
      if (name === DEFAULT_SECTION) {
        current = draft.defaults;
      } else {
        let section = draft.sections.get(name);
        if (section === undefined) {
          section = { name, line: lineNo, entries: new Map() };
          draft.sections.set(name, section);
        }
        current = section.entries;
      }
      optionName = undefined;
      continue;
    }

    if (current === undefined) {
      problems.push({ line: lineNo, message: `option before any [section] header: ${quoteLine(line)}` });
      throw new IniSyntaxError(fileName, problems);
    }

    // OPTCRE: (?P<option>[^:=\s][^:=]*)\s*(?P<vi>[:=])\s*(?P<value>.*)$
    const delimiter = line.search(/[:=]/);
    if (delimiter < 1 || isSpace(line[0], PY2_SPACE)) {
      problems.push({
        line: lineNo,
        message: `expected "key = value", a [section] or a comment: ${quoteLine(line)}`,
      });
      continue;
    }
    optionName = asciiLower(rstrip(line.slice(0, delimiter), PY2_SPACE));
    let value = lstrip(line.slice(delimiter + 1), PY2_SPACE);
    const semicolon = value.indexOf(";");
    // Py2 quirk: only the first ";" can start a comment, and only after whitespace; at position 0
    // Python's value[-1] looks at the LAST character instead.
    if (semicolon !== -1) {
      const before = semicolon === 0 ? value[value.length - 1] : value[semicolon - 1];
      if (isSpace(before, PY2_SPACE)) value = value.slice(0, semicolon);
    }
    value = strip(value, PY2_SPACE);
    if (value === '""') value = "";
    current.set(optionName, { line: lineNo, parts: [value] });
  }

  if (problems.length > 0) throw new IniSyntaxError(fileName, problems);
  return draft.finish(fileName, (parts) => parts.join("\n"));
}

function inlineCommentStart(line: string): number | undefined {
  let from = 0;
  for (;;) {
    const at = line.indexOf(";", from);
    if (at === -1) return undefined;
    if (at === 0 || isSpace(line[at - 1], PY3_SPACE)) return at;
    from = at + 1;
  }
}

// Python 3.11 ConfigParser._read with fail2ban's settings: inline_comment_prefixes=";",
// comment_prefixes ("#", ";"), empty_lines_in_values=True, strict=True. Lines split as a text-mode
// file does (universal newlines).
function parseFail2ban(text: string, fileName: string): IniDocument {
  const draft = new Draft();
  const problems: IniProblem[] = [];
  let current: Map<string, DraftEntry> | undefined;
  let sectionName: string | undefined;
  let optionName: string | undefined;
  let indentLevel = 0;
  const lines = text.split(/\r\n|\r|\n/);

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const lineNo = index + 1;
    const stripped = strip(line, PY3_SPACE);
    let commentStart = inlineCommentStart(line);
    if (stripped.startsWith("#") || stripped.startsWith(";")) commentStart = 0;
    const value = commentStart === undefined ? stripped : strip(line.slice(0, commentStart), PY3_SPACE);

    if (value === "") {
      // A blank line may belong to a multi-line value (trailing ones are dropped at the end);
      // a comment line never does.
      if (commentStart === undefined && current !== undefined && optionName !== undefined) {
        current.get(optionName)!.parts.push("");
      }
      continue;
    }

    let indent = 0;
    while (isSpace(line[indent], PY3_SPACE)) indent++;
    if (current !== undefined && optionName !== undefined && indent > indentLevel) {
      current.get(optionName)!.parts.push(value);
      continue;
    }
    indentLevel = indent;

    // SECTCRE: \[(?P<header>.+)\] -- greedy, so the header runs to the last "]".
    const headerEnd = value[0] === "[" ? value.lastIndexOf("]") : -1;
    if (headerEnd > 1) {
      const name = value.slice(1, headerEnd);
      if (name === DEFAULT_SECTION) {
        current = draft.defaults;
      } else {
        if (draft.sections.has(name)) {
          // fail2ban's parser is strict: it rejects the whole file (checked with fail2ban 1.0.2).
          problems.push({ line: lineNo, message: `section [${name}] appears twice in this file` });
          throw new IniSyntaxError(fileName, problems);
        }
        const section: DraftSection = { name, line: lineNo, entries: new Map() };
        draft.sections.set(name, section);
        current = section.entries;
      }
      sectionName = name;
      optionName = undefined;
      continue;
    }

    if (current === undefined) {
      problems.push({ line: lineNo, message: `option before any [section] header: ${quoteLine(line)}` });
      throw new IniSyntaxError(fileName, problems);
    }

    // OPTCRE: (?P<option>.*?)\s*(?P<vi>[=:])\s*(?P<value>.*)$ -- the first "=" or ":" splits.
    const delimiter = value.search(/[=:]/);
    if (delimiter === -1) {
      problems.push({
        line: lineNo,
        message: `expected "key = value", a [section] or a comment: ${quoteLine(line)}`,
      });
      continue;
    }
    if (delimiter === 0) {
      problems.push({
        line: lineNo,
        message: `option name missing before "${value[0]}": ${quoteLine(line)}`,
      });
    }
    // Python goes on with an empty name after that error (so a second one is a duplicate), but an
    // empty name never takes continuation lines.
    const key = rstrip(value.slice(0, delimiter), PY3_SPACE).toLowerCase();
    if (current.has(key)) {
      problems.push({
        line: lineNo,
        message: `option "${key}" appears twice in [${sectionName ?? DEFAULT_SECTION}]`,
      });
      throw new IniSyntaxError(fileName, problems);
    }
    current.set(key, { line: lineNo, parts: [strip(value.slice(delimiter + 1), PY3_SPACE)] });
    optionName = key === "" ? undefined : key;
  }

  if (problems.length > 0) throw new IniSyntaxError(fileName, problems);
  return draft.finish(fileName, (parts) => rstrip(parts.join("\n"), PY3_SPACE));
}

/**
 * Parses INI text the way the chosen Python parser would. Throws IniSyntaxError listing every bad
 * line (`file:line: what`); an option before the first header stops at once, as in Python.
 */
export function parseIni(text: string, options: IniOptions): IniDocument {
  assertString(text, "text");
  assertObject(options, "options");
  assertString(options.fileName, "options.fileName");
  assertOneOf(options.flavor, INI_FLAVORS, "options.flavor");
  return options.flavor === "python2"
    ? parsePython2(text, options.fileName)
    : parseFail2ban(text, options.fileName);
}

export const DEFAULT_MAX_INTERPOLATION_DEPTH = 10;

/**
 * Expands `%(name)s` (looked up lower-cased, expanded recursively) and `%%` as Python 3's
 * BasicInterpolation does. A missing name, nesting deeper than `maxDepth` or a stray `%` throws the
 * matching InterpolationError subclass naming file, section and key.
 */
export function interpolate(
  value: string,
  lookup: (name: string) => string | undefined,
  where: InterpolationSite,
  maxDepth: number = DEFAULT_MAX_INTERPOLATION_DEPTH,
): string {
  assertString(value, "value");
  assertFunction(lookup, "lookup");
  assertObject(where, "where");
  assertString(where.fileName, "where.fileName");
  assertString(where.section, "where.section");
  assertString(where.key, "where.key");
  assertNonNegativeInteger(maxDepth, "maxDepth");

  const out: string[] = [];
  const expand = (rest: string, depth: number): void => {
    if (depth > maxDepth) throw new InterpolationDepthError(where, maxDepth);
    let at = 0;
    while (at < rest.length) {
      const percent = rest.indexOf("%", at);
      if (percent === -1) {
        out.push(rest.slice(at));
        return;
      }
      out.push(rest.slice(at, percent));
      const next = rest[percent + 1];
      if (next === "%") {
        out.push("%");
        at = percent + 2;
      } else if (next === "(") {
        const close = rest.indexOf(")", percent + 2);
        if (close === -1 || close === percent + 2 || rest[close + 1] !== "s") {
          throw new InterpolationSyntaxError(where, `bad reference ${JSON.stringify(rest.slice(percent))}`);
        }
        const name = rest.slice(percent + 2, close).toLowerCase();
        const replacement = lookup(name);
        if (replacement === undefined) throw new InterpolationMissingOptionError(where, name);
        if (replacement.includes("%")) expand(replacement, depth + 1);
        else out.push(replacement);
        at = close + 2;
      } else {
        throw new InterpolationSyntaxError(
          where,
          `"%" must be followed by "%" or "(name)s", found ${JSON.stringify(rest.slice(percent))}`,
        );
      }
    }
  };
  expand(value, 1);
  return out.join("");
}

/**
 * Writes a document back as INI text that both flavors read to the same entries, provided each
 * value is representable (no surrounding whitespace, no ` ;`, no `""`, no lines that read as
 * comments; Python 2 also drops blank inner lines). Continuation lines are indented by four spaces.
 */
export function serializeIni(document: IniDocument): string {
  assertObject(document, "document");
  const blocks: string[] = [];
  const writeSection = (name: string, entries: Map<string, IniEntry>): void => {
    const lines = [`[${name}]`];
    for (const [key, entry] of entries) {
      const [first, ...rest] = entry.value.split("\n");
      lines.push(`${key} = ${first ?? ""}`);
      for (const continuation of rest) lines.push(continuation === "" ? "" : `    ${continuation}`);
    }
    blocks.push(`${lines.join("\n")}\n`);
  };
  if (document.defaults.size > 0) writeSection(DEFAULT_SECTION, document.defaults);
  for (const section of document.sections.values()) writeSection(section.name, section.entries);
  return blocks.join("\n");
}
