// Reads an action as fail2ban reads action.d: NAME.conf, NAME.d/*.conf, NAME.local, NAME.d/*.local,
// each expanded by [INCLUDES] before/after (with their .local), merged later-wins into one store.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, isAbsolute, join } from "node:path";
import { type IniDocument, IniSyntaxError, parseIni } from "@net2ban/config";
import { assertNonEmptyString } from "./assert.js";
import { ConfigMiss, configGet, type MergedConfig, type StoredSection } from "./config-store.js";
import { ActionConfigError, ActionNotFoundError, ParamRefusedError } from "./errors.js";

/** An action's files, read and merged; the input of every rendering. */
export interface LoadedAction {
  /** The action name (file name without `.conf`). */
  readonly name: string;
  readonly actionsDir: string;
  /** Files merged, in order (an include may appear more than once, as in fail2ban). */
  readonly files: readonly string[];
  readonly config: MergedConfig;
  /** What the files looked like when read; `actionChanged` compares against it. */
  readonly fingerprint: string;
  /** Paths whose appearance, change or removal changes the action. */
  readonly watched: readonly string[];
}

// A message names the action file: nothing that could leave the actions directory.
const ACTION_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@+-]*$/;

/** Checks an action name as it comes in a message: a plain file name, no path. */
export function assertActionName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !ACTION_NAME_RE.test(name) || name.includes("..")) {
    throw new ParamRefusedError(
      "file",
      `action name must match ${ACTION_NAME_RE} without "..", got ${JSON.stringify(name)}`,
    );
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

// Python's glob('%s/*.ext' % dir), sorted: no hidden entries.
function globSorted(dir: string, extension: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith(".") && n.endsWith(extension) && n.length > 0)
    .map((n) => join(dir, n))
    .sort(compareCodePoints);
}

function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

// os.path.splitext(path)[0] + ".local"
function localSibling(path: string): string {
  const base = basename(path);
  let dot = base.lastIndexOf(".");
  let lead = 0;
  while (lead < base.length && base[lead] === ".") lead++;
  if (dot < lead) dot = -1;
  const stem = dot === -1 ? path : path.slice(0, path.length - (base.length - dot));
  return `${stem}.local`;
}

// Python os.path.join keeps a trailing "" as "dir/".
function joinPython(dir: string, name: string): string {
  if (isAbsolute(name)) return name;
  if (name === "") return dir.endsWith("/") ? dir : `${dir}/`;
  return dir === "" ? name : `${dir.endsWith("/") ? dir : `${dir}/`}${name}`;
}

class Reader {
  readonly parsed = new Map<string, IniDocument | null>();
  readonly watched = new Set<string>();

  /** One file parsed alone, or null when it cannot be opened (Python skips it). */
  parse(path: string): IniDocument | null {
    this.watched.add(path);
    const cached = this.parsed.get(path);
    if (cached !== undefined) return cached;
    let document: IniDocument | null = null;
    let bytes: Buffer | undefined;
    try {
      if (statSync(path).isFile()) bytes = readFileSync(path);
    } catch {
      bytes = undefined;
    }
    if (bytes !== undefined) {
      let text: string;
      try {
        text = UTF8.decode(bytes);
      } catch (error) {
        throw new ActionConfigError(path, undefined, "not valid UTF-8", { cause: error });
      }
      if (text.includes("\0")) throw new ActionConfigError(path, undefined, "contains a NUL character");
      try {
        document = parseIni(text, { fileName: path, flavor: "fail2ban" });
      } catch (error) {
        if (error instanceof IniSyntaxError) {
          throw new ActionConfigError(path, undefined, error.message, { cause: error });
        }
        throw error;
      }
    }
    this.parsed.set(path, document);
    return document;
  }

  // SafeConfigParserWithIncludes._getIncludes
  includes(files: string[], seen: readonly string[]): string[] {
    const expanded: string[] = [];
    for (const file of files) {
      expanded.push(file);
      const local = localSibling(file);
      this.watched.add(local);
      if (!files.includes(local) && isFile(local)) expanded.push(local);
    }
    const out: string[] = [];
    for (const file of expanded) out.push(...this.includesOf(file, seen));
    return out;
  }

  // __getIncludesUncached: before-includes, the file, after-includes.
  includesOf(resource: string, seen: readonly string[]): string[] {
    const document = this.parse(resource);
    if (document === null) return [];
    const lists: Record<"before" | "after", string[]> = { before: [], after: [] };
    const includes = document.sections.get("INCLUDES");
    if (includes !== undefined) {
      const single = singleFileConfig(document, resource);
      for (const option of ["before", "after"] as const) {
        if (!includes.entries.has(option) && !document.defaults.has(option)) continue;
        let value: string;
        try {
          value = configGet(single, "INCLUDES", option);
        } catch (error) {
          if (error instanceof ConfigMiss) continue;
          throw error;
        }
        for (const include of value.split("\n")) {
          const path = joinPython(dirname(resource), include);
          if (seen.includes(path)) continue;
          lists[option].push(...this.includes([path], [...seen, resource]));
        }
      }
    }
    return [...lists.before, resource, ...lists.after];
  }
}

function toSection(
  entries: Map<string, { value: string; line: number }>,
  file: string,
  suffix = "",
): StoredSection {
  const out: StoredSection = new Map();
  for (const [key, entry] of entries) out.set(key + suffix, { value: entry.value, line: entry.line, file });
  return out;
}

function singleFileConfig(document: IniDocument, file: string): MergedConfig {
  const sections = new Map<string, StoredSection>();
  for (const [name, section] of document.sections) sections.set(name, toSection(section.entries, file));
  return { defaults: toSection(document.defaults, file), sections, mainFile: file };
}

// Python \w+ then "?..." : [Init?family=inet6] merges into [Init] as key?family=inet6.
const CONDITIONAL_SECTION_RE = /^([\p{L}\p{N}_]+)(\?.+)$/u;

function merge(reader: Reader, files: readonly string[], mainFile: string): MergedConfig {
  const defaults: StoredSection = new Map();
  const sections = new Map<string, StoredSection>();
  for (const file of files) {
    const document = reader.parse(file);
    if (document === null) continue;
    for (const [key, entry] of document.defaults)
      defaults.set(key, { value: entry.value, line: entry.line, file });
    for (const [rawName, section] of document.sections) {
      const conditional = CONDITIONAL_SECTION_RE.exec(rawName);
      const name = conditional ? conditional[1]! : rawName;
      const values = toSection(section.entries, file, conditional ? conditional[2]! : "");
      const existing = sections.get(name);
      if (existing === undefined) {
        sections.set(name, values);
        continue;
      }
      // keep what this file overrides, for %(known/x)s and <known/x>
      const knownName = `KNOWN/${name}`;
      let known = sections.get(knownName);
      if (known === undefined) {
        known = new Map();
        sections.set(knownName, known);
      }
      for (const [key, value] of existing) if (values.has(key)) known.set(key, value);
      for (const [key, value] of values) existing.set(key, value);
    }
  }
  return { defaults, sections, mainFile };
}

function candidates(actionsDir: string, name: string): { files: string[]; dotD: string } {
  const base = join(actionsDir, name);
  const dotD = `${base}.d`;
  return {
    files: [`${base}.conf`, ...globSorted(dotD, ".conf"), `${base}.local`, ...globSorted(dotD, ".local")],
    dotD,
  };
}

function fingerprintOf(paths: readonly string[], dotD: string): string {
  const parts: string[] = [];
  for (const path of paths) {
    try {
      const s = statSync(path);
      parts.push(`${path}\t${s.mtimeMs}\t${s.size}\t${s.ino}`);
    } catch {
      parts.push(`${path}\t-`);
    }
  }
  let listing: string[] = [];
  try {
    listing = readdirSync(dotD).sort();
  } catch {
    listing = [];
  }
  parts.push(`${dotD}/\t${listing.join("/")}`);
  return parts.join("\n");
}

/**
 * Reads action `name` from `actionsDir` exactly as fail2ban's ActionReader would (minus the
 * `action.d/` it appends to its base directory). Throws ActionNotFoundError when no file exists,
 * ActionConfigError for a file fail2ban would fail to parse.
 */
export function loadAction(actionsDir: string, name: string): LoadedAction {
  assertNonEmptyString(actionsDir, "actionsDir");
  assertActionName(name);
  const { files: all, dotD } = candidates(actionsDir, name);
  const present = all.filter(exists);
  if (present.length === 0) throw new ActionNotFoundError(actionsDir, name);
  const reader = new Reader();
  for (const path of all) reader.watched.add(path);
  const ordered = reader.includes(present, []);
  const files = ordered.filter((file) => reader.parse(file) !== null);
  if (files.length === 0) throw new ActionNotFoundError(actionsDir, name);
  const config = merge(reader, files, files[0]!);
  const watched = [...reader.watched];
  return { name, actionsDir, files, config, watched, fingerprint: fingerprintOf(watched, dotD) };
}

/** True when a file of the action was added, changed or removed since it was loaded. */
export function actionChanged(action: LoadedAction): boolean {
  const { dotD } = candidates(action.actionsDir, action.name);
  return fingerprintOf(action.watched, dotD) !== action.fingerprint;
}
