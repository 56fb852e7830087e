// Acts out a systemd unit's [Service] sandbox without systemd as PID 1: builds the command line that
// starts its ExecStart as systemd would, so a unit whose settings keep the daemon from starting fails a
// test here instead of restarting every 2 s on an operator's host. The chain, run as root:
//   unshare --mount --propagation private     a mount namespace of the service's own
//   python3 host-tools/service-sandbox.py     StateDirectory=, ProtectSystem=strict + ReadWritePaths=,
//                                             ProtectKernelTunables=, ProtectControlGroups=,
//                                             ProtectHome=, PrivateTmp=, UMask=, RestrictAddressFamilies=
//                                             (a seccomp filter: EAFNOSUPPORT for every other family),
//                                             SystemCallFilter= + SystemCallErrorNumber= (a second one,
//                                             from systemd-analyze's own lists of the @groups)
//   setpriv                                   User=, Group=, CapabilityBoundingSet=,
//                                             AmbientCapabilities=, NoNewPrivileges=
//   the ExecStart command, with systemd's PATH and environment
// Every other [Service] setting is reported back in `notActedOut`, for the caller to account for.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { type UnitFile, unitCapabilities, unitExecStart, unitValue } from "./systemd-unit.js";

/** The search path systemd uses for a bare ExecStart name, and gives the service as PATH. */
export const SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** [Service] settings the sandbox acts out (a unit's other settings come back as `notActedOut`). */
export const ACTED_OUT: readonly string[] = [
  "ExecStart",
  "User",
  "Group",
  "CapabilityBoundingSet",
  "AmbientCapabilities",
  "NoNewPrivileges",
  "RestrictAddressFamilies",
  "SystemCallFilter",
  "SystemCallErrorNumber",
  "ProtectSystem",
  "ReadWritePaths",
  "ProtectKernelTunables",
  "ProtectControlGroups",
  "ProtectHome",
  "PrivateTmp",
  "StateDirectory",
  "StateDirectoryMode",
  "UMask",
  "KillSignal",
];

/** A setting the sandbox would have to act out differently from what it can (a value it does not know). */
export class UnsupportedUnitSettingError extends Error {
  override name = "UnsupportedUnitSettingError";
}

export interface UnitSandboxOptions {
  /** host-tools/service-sandbox.py (a path outside the overlays, readable by root). */
  sandboxScript: string;
  /** Debian's python3 with python3-seccomp (default /usr/bin/python3, not a PATH lookup: pyenv's lacks it). */
  python?: string;
  /** The file a bare ExecStart name runs (default: the first match on systemd's search path). */
  resolveCommand?: (name: string) => string;
  /**
   * Copy-on-write overlays mounted first, standing for a test host's own /etc and /var (`upperDir` holds
   * what the host added: its users, /etc/net2ban, /var/lib/net2ban); none by default.
   */
  overlays?: readonly { target: string; upperDir: string; workDir: string }[];
  /**
   * Directories that stay visible through PrivateTmp=: where the test's programs are installed when that
   * is under /tmp (a fresh checkout in CI), as a real host has them in /usr. None by default.
   */
  keepVisible?: readonly string[];
}

export interface ActedOutUnit {
  /** The command line to spawn, as root: `argv[0]` with the rest as its arguments. */
  argv: string[];
  /** The environment to spawn it with (systemd's PATH and locale; the sandbox adds HOME, USER, ...). */
  env: Record<string, string>;
  /** KillSignal=: what stopping the service sends. */
  killSignal: NodeJS.Signals;
  /** [Service] settings of this unit that are not acted out, in file order. */
  notActedOut: string[];
}

/** The JSON spec service-sandbox.py reads (argv[1]). */
interface SandboxSpec {
  overlays: { target: string; upper: string; work: string }[];
  stateDirectories: { path: string; user: string; group: string; mode: string }[];
  protectSystem: "strict" | null;
  readWritePaths: { path: string; optional: boolean }[];
  protectKernelTunables: boolean;
  protectControlGroups: boolean;
  protectHome: "yes" | "read-only" | "tmpfs" | null;
  privateTmp: boolean;
  keepVisible: string[];
  user: string | null;
  umask: string | null;
  addressFamilies: string[] | null;
  systemCallFilter: { allow: string[]; errno: string | null } | null;
}

const TRUE = new Set(["1", "yes", "true", "on"]);
const FALSE = new Set(["0", "no", "false", "off"]);

function unitBoolean(unit: UnitFile, key: string): boolean {
  const value = unitValue(unit, "Service", key);
  if (value === undefined || FALSE.has(value)) return false;
  if (TRUE.has(value)) return true;
  throw new UnsupportedUnitSettingError(`${key}=${value}: not a boolean`);
}

/** Values of a list setting as systemd accumulates them: assignments add up, an empty one resets. */
function unitList(unit: UnitFile, key: string): string[] {
  let list: string[] = [];
  for (const value of unit.get("Service")?.get(key) ?? []) {
    list = value === "" ? [] : [...list, ...value.split(/\s+/)];
  }
  return list;
}

function defaultResolve(name: string): string {
  const found = SYSTEMD_PATH.split(":")
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path));
  if (found === undefined) throw new Error(`${name} is not on systemd's search path (${SYSTEMD_PATH})`);
  return found;
}

function addressFamilies(unit: UnitFile): string[] | null {
  const families = unitList(unit, "RestrictAddressFamilies");
  if (unit.get("Service")?.get("RestrictAddressFamilies") === undefined) return null;
  for (const family of families) {
    if (!/^AF_[A-Z0-9]+$/.test(family)) {
      // `~AF_...` (a deny list) and `none` are systemd syntax these units do not use.
      throw new UnsupportedUnitSettingError(`RestrictAddressFamilies: ${family} is not acted out`);
    }
  }
  return families;
}

function systemCallFilter(unit: UnitFile): SandboxSpec["systemCallFilter"] {
  if (unit.get("Service")?.get("SystemCallFilter") === undefined) return null;
  const allow = unitList(unit, "SystemCallFilter");
  for (const entry of allow) {
    if (!/^@?[a-z0-9_-]+$/.test(entry)) {
      // `~...` (a deny list) and `:errno` suffixes are systemd syntax these units do not use.
      throw new UnsupportedUnitSettingError(`SystemCallFilter: ${entry} is not acted out (allow lists only)`);
    }
  }
  const errno = unitValue(unit, "Service", "SystemCallErrorNumber") ?? null;
  if (errno !== null && !/^E[A-Z0-9]+$/.test(errno)) {
    throw new UnsupportedUnitSettingError(
      `SystemCallErrorNumber=${errno} is not acted out (errno names only)`,
    );
  }
  return { allow, errno };
}

function protectSystem(unit: UnitFile): "strict" | null {
  const value = unitValue(unit, "Service", "ProtectSystem");
  if (value === undefined || FALSE.has(value)) return null;
  if (value === "strict") return value;
  throw new UnsupportedUnitSettingError(`ProtectSystem=${value} is not acted out (only strict)`);
}

function protectHome(unit: UnitFile): SandboxSpec["protectHome"] {
  const value = unitValue(unit, "Service", "ProtectHome");
  if (value === undefined || FALSE.has(value)) return null;
  if (TRUE.has(value)) return "yes";
  if (value === "read-only" || value === "tmpfs") return value;
  throw new UnsupportedUnitSettingError(`ProtectHome=${value} is not acted out`);
}

function readWritePaths(unit: UnitFile): SandboxSpec["readWritePaths"] {
  return unitList(unit, "ReadWritePaths").map((entry) => {
    const optional = entry.startsWith("-");
    const path = optional ? entry.slice(1) : entry;
    if (!path.startsWith("/")) {
      throw new UnsupportedUnitSettingError(
        `ReadWritePaths: ${entry} is not acted out (absolute paths only)`,
      );
    }
    return { path, optional };
  });
}

function stateDirectories(unit: UnitFile, user: string, group: string): SandboxSpec["stateDirectories"] {
  const mode = unitValue(unit, "Service", "StateDirectoryMode") ?? "0755";
  if (!/^[0-7]{3,4}$/.test(mode)) throw new UnsupportedUnitSettingError(`StateDirectoryMode=${mode}`);
  return unitList(unit, "StateDirectory").map((name) => {
    if (name.startsWith("/") || name.includes("..") || name.includes(":")) {
      throw new UnsupportedUnitSettingError(`StateDirectory: ${name} is not acted out (plain names only)`);
    }
    return { path: `/var/lib/${name}`, user, group, mode };
  });
}

function killSignal(unit: UnitFile): NodeJS.Signals {
  const value = unitValue(unit, "Service", "KillSignal") ?? "SIGTERM";
  const name = value.startsWith("SIG") ? value : `SIG${value}`;
  if (!/^SIG[A-Z0-9]+$/.test(name)) throw new UnsupportedUnitSettingError(`KillSignal=${value}`);
  return name as NodeJS.Signals;
}

/** The setpriv arguments for User=, Group=, the capability sets and NoNewPrivileges=. */
function setprivArgs(unit: UnitFile, user: string | undefined, group: string | undefined): string[] {
  const set = (caps: readonly string[]) => ["-all", ...caps.map((cap) => `+${cap}`)].join(",");
  const ambient = unitCapabilities(unit, "AmbientCapabilities");
  const args: string[] = [];
  if (user !== undefined) args.push(`--reuid=${user}`, `--regid=${group ?? user}`, "--init-groups");
  else if (group !== undefined) args.push(`--regid=${group}`);
  // Ambient capabilities must be inheritable too; without AmbientCapabilities= a non-root service has none.
  args.push(`--inh-caps=${set(ambient)}`, `--ambient-caps=${set(ambient)}`);
  // No CapabilityBoundingSet= keeps systemd's full bounding set.
  if (unit.get("Service")?.has("CapabilityBoundingSet")) {
    args.push(`--bounding-set=${set(unitCapabilities(unit, "CapabilityBoundingSet"))}`);
  }
  if (unitBoolean(unit, "NoNewPrivileges")) args.push("--no-new-privs");
  return args;
}

/** Builds the command line that starts `unit`'s ExecStart inside its acted-out sandbox. */
export function actOutUnit(unit: UnitFile, options: UnitSandboxOptions): ActedOutUnit {
  const service = unit.get("Service");
  if (service === undefined) throw new UnsupportedUnitSettingError("unit has no [Service] section");
  const user = unitValue(unit, "Service", "User");
  const group = unitValue(unit, "Service", "Group") ?? user;
  const umask = unitValue(unit, "Service", "UMask") ?? null;
  if (umask !== null && !/^[0-7]{3,4}$/.test(umask)) throw new UnsupportedUnitSettingError(`UMask=${umask}`);
  const states = unitList(unit, "StateDirectory");
  if (states.length > 0 && (user === undefined || group === undefined)) {
    throw new UnsupportedUnitSettingError("StateDirectory= without User= is not acted out");
  }
  const spec: SandboxSpec = {
    overlays: (options.overlays ?? []).map((o) => ({ target: o.target, upper: o.upperDir, work: o.workDir })),
    stateDirectories: user !== undefined && group !== undefined ? stateDirectories(unit, user, group) : [],
    protectSystem: protectSystem(unit),
    readWritePaths: readWritePaths(unit),
    protectKernelTunables: unitBoolean(unit, "ProtectKernelTunables"),
    protectControlGroups: unitBoolean(unit, "ProtectControlGroups"),
    protectHome: protectHome(unit),
    privateTmp: unitBoolean(unit, "PrivateTmp"),
    keepVisible: [...(options.keepVisible ?? [])],
    user: user ?? null,
    umask,
    addressFamilies: addressFamilies(unit),
    systemCallFilter: systemCallFilter(unit),
  };
  const [command = "", ...commandArgs] = unitExecStart(unit);
  const file = command.startsWith("/") ? command : (options.resolveCommand ?? defaultResolve)(command);
  return {
    argv: [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      options.python ?? "/usr/bin/python3",
      options.sandboxScript,
      JSON.stringify(spec),
      "setpriv",
      ...setprivArgs(unit, user, group),
      "--",
      file,
      ...commandArgs,
    ],
    env: { PATH: SYSTEMD_PATH, LANG: "C.UTF-8" },
    killSignal: killSignal(unit),
    notActedOut: [...service.keys()].filter((key) => !ACTED_OUT.includes(key)),
  };
}

/**
 * The command line that runs `argv` as root with only `options.overlays` mounted: for preparing a test
 * host (useradd, /etc/net2ban) the way its operator would, without touching this machine's /etc or /var.
 */
export function inHostOverlays(options: UnitSandboxOptions, argv: readonly string[]): string[] {
  const overlays = (options.overlays ?? []).map((o) => ({
    target: o.target,
    upper: o.upperDir,
    work: o.workDir,
  }));
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    options.python ?? "/usr/bin/python3",
    options.sandboxScript,
    JSON.stringify({ overlays }),
    ...argv,
  ];
}
