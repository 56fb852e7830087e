// Reads the few settings of a systemd unit file that the checks need to act the unit out without
// systemd: who it runs as, what it runs, and with which capabilities.

/** One `[Section]` of a unit file: each key with its values in file order (keys may repeat). */
export type UnitFile = Map<string, Map<string, string[]>>;

/** Parses unit-file syntax: sections, `Key=value`, comments (`#`, `;`) and backslash continuations. */
export function parseUnitFile(text: string): UnitFile {
  const unit: UnitFile = new Map();
  let section: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      const name = header[1] ?? "";
      section = unit.get(name) ?? new Map();
      unit.set(name, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (eq <= 0 || section === undefined) {
      throw new SyntaxError(
        `unit file line ${index + 1}: expected [Section] or Key=value, got ${JSON.stringify(raw)}`,
      );
    }
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    section.set(key, [...(section.get(key) ?? []), value]);
  }
  return unit;
}

/** The last value of a key (what systemd uses for single-valued settings), or undefined. */
export function unitValue(unit: UnitFile, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

/**
 * A capability list setting as systemd accumulates it: values add up, an empty assignment resets.
 * Returns lower-case names without the CAP_ prefix, as setpriv takes them (`net_admin`).
 */
export function unitCapabilities(unit: UnitFile, key: string): string[] {
  let caps: string[] = [];
  for (const value of unit.get("Service")?.get(key) ?? []) {
    if (value === "") caps = [];
    else caps.push(...value.split(/\s+/).map((cap) => cap.replace(/^CAP_/i, "").toLowerCase()));
  }
  return [...new Set(caps)];
}

/** ExecStart split into words (no quoting or specifiers are used in net2ban's units; refuse them). */
export function unitExecStart(unit: UnitFile): string[] {
  const value = unitValue(unit, "Service", "ExecStart");
  if (value === undefined) throw new Error("unit has no ExecStart");
  if (/["'%$]/.test(value)) throw new Error(`ExecStart uses quoting or specifiers: ${value}`);
  return value.replace(/^[-@:+!]+/, "").split(/\s+/);
}
