// The merged view of an action's files as fail2ban's SafeConfigParserWithIncludes holds it, and its
// `get` / `get_ex` lookups (Python 3 configparser BasicInterpolation plus fail2ban's `%(sec/opt)s`).

import { InterpolationError, interpolate } from "@net2ban/config";
import { ActionConfigError } from "./errors.js";

/** A raw option value and where it was read. */
export interface StoredValue {
  readonly value: string;
  readonly file: string;
  readonly line: number;
}

export type StoredSection = Map<string, StoredValue>;

/**
 * All files of one action merged in fail2ban's order. `sections` also holds fail2ban's `KNOWN/<name>`
 * sections (the values an override replaced), and `[X?family=inet6]` keys live in `X` as `key?family=inet6`.
 */
export interface MergedConfig {
  readonly defaults: StoredSection;
  readonly sections: Map<string, StoredSection>;
  /** Main file, named in errors that no single file is to blame for. */
  readonly mainFile: string;
}

/** Python's NoSectionError / NoOptionError: expected misses, never seen by callers of this package. */
export class ConfigMiss extends Error {
  override readonly name = "ConfigMiss";
}

// fail2ban: SECTION_OPTSUBST_CRE / SECTION_OPTNAME_CRE (Python \w is Unicode-aware).
const SECTION_OPTION_RE = /^([\p{L}\p{N}_-]+)\/([^)]+)$/u;
const SECTION_OPTNAME_RE = /^([\p{L}\p{N}_-]+)\/([^\s>]+)$/u;

function lowerKeys(vars: ReadonlyMap<string, string> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (vars) for (const [key, value] of vars) out.set(key.toLowerCase(), value);
  return out;
}

/**
 * `parser.get(section, option, vars=vars)`: vars > section > [DEFAULT], then `%(x)s` interpolation with
 * fail2ban's `__name__` and `%(section/option)s`, `%(known/option)s`, `%(default/option)s` references.
 * Throws ConfigMiss when Python raises NoSectionError/NoOptionError, ActionConfigError on interpolation errors.
 */
export function configGet(
  config: MergedConfig,
  section: string,
  option: string,
  vars?: ReadonlyMap<string, string>,
): string {
  const key = option.toLowerCase();
  const sectionValues = config.sections.get(section);
  if (sectionValues === undefined && section !== "DEFAULT") throw new ConfigMiss(`no section ${section}`);
  const varValues = lowerKeys(vars);
  const stored = sectionValues?.get(key) ?? config.defaults.get(key);
  const raw = varValues.get(key) ?? stored?.value;
  if (raw === undefined) throw new ConfigMiss(`no option ${key} in ${section}`);
  const file = varValues.has(key) ? config.mainFile : (stored?.file ?? config.mainFile);
  return interpolateIn(config, section, key, raw, varValues, file);
}

function interpolateIn(
  config: MergedConfig,
  section: string,
  option: string,
  raw: string,
  varValues: Map<string, string>,
  file: string,
): string {
  if (!raw.includes("%")) return raw;
  const sectionValues = config.sections.get(section);
  // Python maps `%(sec/opt)s` under the spelling written; the lookup then uses the lower-cased name, so
  // only references written in lower case resolve. Track the texts expanded to apply the same rule.
  const texts = [raw];
  const lookup = (name: string): string | undefined => {
    if (name === "__name__") return section;
    const direct = varValues.get(name) ?? sectionValues?.get(name)?.value ?? config.defaults.get(name)?.value;
    const found = direct ?? sectionReference(config, section, name, texts);
    if (found !== undefined) texts.push(found);
    return found;
  };
  try {
    return interpolate(raw, lookup, { fileName: file, section, key: option });
  } catch (error) {
    if (error instanceof InterpolationError) {
      throw new ActionConfigError(file, `[${section}] ${option}`, error.message, { cause: error });
    }
    throw error;
  }
}

// fail2ban's _map_section_options for one `%(sec/opt)s` reference: the raw value of opt in sec (or in
// KNOWN/<current section> for `known/`), falling back to [DEFAULT]; undefined when Python maps nothing.
function sectionReference(
  config: MergedConfig,
  section: string,
  name: string,
  texts: string[],
): string | undefined {
  const match = SECTION_OPTION_RE.exec(name);
  if (match === null) return undefined;
  if (!texts.some((text) => text.includes(`%(${name})s`))) return undefined;
  const sec = match[1]!;
  const opt = match[2]!;
  const lower = sec.toLowerCase();
  let value: string | undefined;
  if (lower === "known") {
    value = config.sections.get(`KNOWN/${section}`)?.get(opt)?.value;
  } else if (lower !== "default") {
    const target = config.sections.get(sec);
    if (target === undefined) return undefined;
    value = target.get(opt)?.value;
  }
  return value ?? config.defaults.get(opt)?.value;
}

/**
 * fail2ban's `get_ex` as `getCombOption` calls it: `sec/opt` names read that section (`known/` first
 * from KNOWN/<section>), anything else reads `section` with vars. Undefined where Python gets None.
 */
export function configGetCombined(
  config: MergedConfig,
  section: string,
  option: string,
  vars: ReadonlyMap<string, string>,
): string | undefined {
  const match = option.includes("/") ? SECTION_OPTNAME_RE.exec(option) : null;
  if (match !== null) {
    const sec = match[1]!;
    const opt = match[2]!;
    const lower = sec.toLowerCase();
    const candidates =
      lower === "known" ? [`KNOWN/${section}`, section] : [lower === "default" ? "DEFAULT" : sec];
    for (const candidate of candidates) {
      try {
        return configGet(config, candidate, opt);
      } catch (error) {
        if (!(error instanceof ConfigMiss)) throw error;
      }
    }
  }
  try {
    return configGet(config, section, option, vars);
  } catch (error) {
    if (error instanceof ConfigMiss) return undefined;
    throw error;
  }
}

/** The section's own option names in their merged order (`options(section, withDefault=False)`). */
export function ownOptions(config: MergedConfig, section: string): string[] {
  return [...(config.sections.get(section)?.keys() ?? [])];
}
