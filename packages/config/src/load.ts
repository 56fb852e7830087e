// Finding and reading net2ban.cfg from disk: the only file I/O of this package.

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { assertObject } from "./assert.js";
import { ConfigError } from "./errors.js";
import { type ParsedConfig, parseConfig } from "./resolve.js";

/** Looked at in this order when neither --config nor NET2BAN_CONFIG names a file. */
export const DEFAULT_CONFIG_PATHS: readonly string[] = [
  "/etc/net2ban/net2ban.cfg",
  "/usr/share/net2ban/net2ban.cfg",
];

export interface FindConfigOptions {
  /** From --config: used as is, never falls through to the defaults. */
  path?: string | undefined;
  /** NET2BAN_CONFIG is read from here (default: process.env). */
  env?: NodeJS.ProcessEnv | undefined;
  exists?: ((path: string) => boolean) | undefined;
}

export interface LoadConfigOptions extends FindConfigOptions {
  readFile?: ((path: string) => Promise<string>) | undefined;
}

/**
 * The config file to use: --config, else NET2BAN_CONFIG, else the first of DEFAULT_CONFIG_PATHS
 * that exists. A named file that does not exist, or no file at all, is a ConfigError naming the
 * places looked at.
 */
export function findConfigPath(options: FindConfigOptions = {}): string {
  assertObject(options, "options");
  const exists = options.exists ?? existsSync;
  const env = options.env ?? process.env;
  if (options.path !== undefined) {
    if (exists(options.path)) return options.path;
    throw new ConfigError([`${options.path}: no such file (given with --config)`]);
  }
  const fromEnv = env["NET2BAN_CONFIG"];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (exists(fromEnv)) return fromEnv;
    throw new ConfigError([`${fromEnv}: no such file (given in NET2BAN_CONFIG)`]);
  }
  const found = DEFAULT_CONFIG_PATHS.find((p) => exists(p));
  if (found !== undefined) return found;
  throw new ConfigError([
    `no net2ban.cfg found; looked at ${DEFAULT_CONFIG_PATHS.join(", ")} (use --config or NET2BAN_CONFIG)`,
  ]);
}

/** findConfigPath, read, parseConfig. `config.path` is the full path; messages use its base name. */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<ParsedConfig> {
  const path = findConfigPath(options);
  const read = options.readFile ?? ((p: string) => readFile(p, "utf8"));
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    throw new ConfigError([`${path}: cannot read: ${code ?? String(error)}`], [], { cause: error });
  }
  return parseConfig(text, path);
}
