// fail2ban's tag substitution, ported line by line from fail2ban 1.0.2 (helpers.substituteRecursiveTags,
// CommandAction.replaceTag / replaceDynamicTags / escapeTag, Utils.buildShellCmd): `<name>` tags,
// recursion, `?family=` conditionals, and ticket values passed as `f2bV_*` shell variables.

import { ActionConfigError } from "./errors.js";

/** helpers.TAG_CRE: a tag is `<` + anything but space and angle brackets + `>`. */
export const TAG_RE = /<([^ <>]+)>/g;
const MAX_TAG_REPLACE_COUNT = 25;

/** Tags whose (config) value fail2ban backslash-escapes and never substitutes recursively. */
export const ESCAPED_TAGS: ReadonlySet<string> = new Set(["matches", "ipmatches", "ipjailmatches"]);

/** CommandAction.ESCAPE_CRE: a value with any of these is never inlined into a script. */
export const SHELL_SPECIAL_RE = /[\\#&;`|*?~<>^()[\]{}$'"\n\r]/;

/** Host names for `<fq-hostname>` / `<sh-hostname>`. */
export interface HostNames {
  readonly fq: string;
  readonly short: string;
}

/** ADD_REPL_TAGS: the fallback for tags nothing else defines. */
export function builtinTag(tag: string, hostname: HostNames): string | undefined {
  switch (tag) {
    case "br":
      return "\n";
    case "sp":
      return " ";
    case "fq-hostname":
      return hostname.fq;
    case "sh-hostname":
      return hostname.short;
    default:
      return undefined;
  }
}

function searchTag(value: string, from: number): RegExpExecArray | null {
  const re = new RegExp(TAG_RE.source, "g");
  re.lastIndex = from;
  return re.exec(value);
}

/**
 * helpers.substituteRecursiveTags: resolves `<tag>` references between the values of `tags`
 * (conditional `tag?family=...` variants first), leaving unknown tags in place. Throws
 * ActionConfigError on self-reference. `lookup` is fail2ban's `addrepl`.
 */
export function substituteRecursiveTags(
  tags: ReadonlyMap<string, string>,
  options: {
    conditional?: string;
    ignore?: ReadonlySet<string>;
    lookup?: (tag: string) => string | undefined;
    file: string;
  },
): Map<string, string> {
  const { conditional = "", ignore = new Set<string>(), lookup, file } = options;
  const out = new Map(tags);
  const done = new Set<string>();
  const repCounts = new Map<string, Map<string, number>>();
  const keys = [...tags.keys()];
  for (;;) {
    let again = false;
    for (const tag of keys) {
      if (ignore.has(tag) || done.has(tag)) continue;
      const original = out.get(tag)!;
      let value = original;
      let m = searchTag(value, 0);
      const counts = repCounts.get(tag) ?? new Map<string, number>();
      while (m !== null) {
        const ref = m[1]!;
        if (ignore.has(ref)) {
          m = searchTag(value, m.index + m[0].length);
          continue;
        }
        if (ref === tag || (counts.get(ref) ?? 1) > MAX_TAG_REPLACE_COUNT) {
          throw new ActionConfigError(
            file,
            tag,
            `self-referencing tag definitions cannot be resolved: <${ref}> in ${JSON.stringify(value.slice(0, 200))}`,
          );
        }
        let replacement: string | undefined;
        if (conditional !== "") replacement = out.get(`${ref}?${conditional}`);
        if (replacement === undefined) {
          replacement = out.get(ref);
          if (replacement === undefined && lookup !== undefined) replacement = lookup(ref);
        }
        if (replacement === undefined) {
          m = searchTag(value, m.index + m[0].length);
          continue;
        }
        value = value.split(`<${ref}>`).join(replacement);
        counts.set(ref, (counts.get(ref) ?? 0) + 1);
        m = searchTag(value, m.index);
      }
      if (original !== value) {
        if (searchTag(value, 0) !== null) {
          repCounts.set(tag, counts);
          again = true;
        }
        out.set(tag, value);
      }
      if (!value.includes("<")) done.add(tag);
    }
    if (!again) break;
  }
  return out;
}

/** CommandAction.escapeTag: backslash before each special character, `\n`/`\r` as letters. */
export function escapeTag(value: string): string {
  return value.replace(
    /[\\#&;`|*?~<>^()[\]{}$'"\n\r]/g,
    (c) => `\\${c === "\n" ? "n" : c === "\r" ? "r" : c}`,
  );
}

/**
 * CommandAction.replaceTag with action properties: substitutes `query`'s tags from `properties`
 * (recursively, conditional variants first) until nothing changes; unknown tags stay.
 */
export function replaceTag(
  query: string,
  properties: ReadonlyMap<string, string>,
  conditional: string,
  hostname: HostNames,
  file: string,
): string {
  if (!query.includes("<")) return query;
  const info = substituteRecursiveTags(properties, { conditional, ignore: ESCAPED_TAGS, file });
  const substitute = (whole: string, tag: string): string => {
    let value: string | undefined;
    if (conditional !== "") value = info.get(`${tag}?${conditional}`);
    if (value === undefined) {
      value = info.get(tag);
      if (value === undefined) return builtinTag(tag, hostname) ?? whole;
    }
    return ESCAPED_TAGS.has(tag) ? escapeTag(value) : value;
  };
  let count = MAX_TAG_REPLACE_COUNT + 1;
  for (;;) {
    const value = query.replace(TAG_RE, substitute);
    if (value === query || !value.includes("<")) return value;
    query = value;
    count -= 1;
    if (count <= 0) {
      throw new ActionConfigError(
        file,
        undefined,
        `too long tag replacement, possibly self-referencing: ${query.slice(0, 200)}`,
      );
    }
  }
}

/** What replaceDynamicTags substitutes: ticket values and the filter's `F-*` captures. */
export interface DynamicValues {
  /** Tag -> value (ip, family, matches, ...). */
  readonly tags: ReadonlyMap<string, string>;
  /** Capture name (as mapTag2Opt gives it: lower case, id -> fid, port -> fport) -> value. */
  readonly captures: ReadonlyMap<string, string>;
}

/** A script and the shell variables its ticket values are passed in, in fail2ban's order. */
export interface DynamicResult {
  readonly script: string;
  readonly variables: ReadonlyArray<readonly [name: string, value: string]>;
}

const F_TAG_RE = /<F-([A-Z0-9_-]+)>/g;

/** failregex.mapTag2Opt: capture names as the ticket stores them. */
export function captureKey(name: string): string {
  const lower = name.toLowerCase();
  return lower === "id" ? "fid" : lower === "port" ? "fport" : lower;
}

/**
 * CommandAction.replaceDynamicTags: one non-recursive pass; a value with shell specials becomes
 * `$f2bV_<tag>` and is returned as a variable instead of being inlined. `<F-NAME>` without a
 * capture becomes empty.
 */
export function replaceDynamicTags(
  command: string,
  values: DynamicValues,
  hostname: HostNames,
): DynamicResult {
  const variables = new Map<string, string>();
  const escapeValue = (tag: string, value: string): string => {
    if (!SHELL_SPECIAL_RE.test(value)) return value;
    const name = `f2bV_${tag.replace(/[^\p{L}\p{N}_]/gu, "_")}`;
    variables.set(name, value);
    return `$${name}`;
  };
  let script = command.replace(TAG_RE, (whole, tag: string) => {
    const value = values.tags.get(tag);
    if (value === undefined) return builtinTag(tag, hostname) ?? whole;
    return escapeValue(tag, value);
  });
  if (script.includes("<")) {
    script = script.replace(F_TAG_RE, (_whole, name: string) => {
      const key = captureKey(name);
      const value = values.captures.get(key);
      return value === undefined ? "" : escapeValue(`F_${key}`, value);
    });
  }
  return { script, variables: [...variables] };
}

/**
 * Utils.buildShellCmd: `["v1=$0 v2=$1 \n" + script, value1, value2]`, or the script alone. From the
 * 11th value on the position is braced (`${10}`): sh reads `$10` as `${1}0`, a bug fail2ban has.
 */
export function buildShellCommand(
  script: string,
  variables: ReadonlyArray<readonly [string, string]>,
): string | [string, ...string[]] {
  if (variables.length === 0) return script;
  let prefix = "";
  variables.forEach(([name], index) => {
    prefix += index < 10 ? `${name}=$${index} ` : `${name}=\${${index}} `;
  });
  return [`${prefix}\n${script}`, ...variables.map(([, value]) => value)];
}
