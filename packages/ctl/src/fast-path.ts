// The fast path of net2banctl: `exec`, `ban` and `unban` (what fail2ban runs on every ban) parsed without
// yargs. It takes only argument lists whose meaning is unambiguous and identical under yargs; anything
// else (help, unknown or repeated options, numbers, `--`) is declined and goes to the full parser.
import type { CommonArgs } from "./commands.js";

export type FastCommand =
  | {
      command: "exec";
      common: CommonArgs;
      to: string[] | undefined;
      file: string;
      action: string;
      params: string[];
    }
  | {
      command: "ban" | "unban";
      common: CommonArgs;
      to: string[] | undefined;
      ip: string;
      actionFile: string;
      name: string;
      params: string[];
    };

// yargs-parser turns words that look like numbers into numbers; those go to yargs.
const NUMBER_LIKE = /^(?:0x[0-9a-f]+|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?)$/i;

// A Map, not an object literal: the command word comes from argv, and "toString" must not find a prototype member.
const STRING_OPTIONS: ReadonlyMap<string, readonly string[]> = new Map([
  ["exec", ["config"]],
  ["ban", ["config", "action", "name"]],
  ["unban", ["config", "action", "name"]],
]);

/** A plain word: not an option, not empty, not a number. */
function isWord(token: string | undefined): token is string {
  return token !== undefined && token !== "" && !token.startsWith("-") && !NUMBER_LIKE.test(token);
}

/**
 * Parses `argv` (without node and script) if it is an exec, ban or unban the fast path can take;
 * undefined means "let yargs decide" (which also reports every usage error).
 */
export function parseFastCommand(argv: readonly string[]): FastCommand | undefined {
  if (!Array.isArray(argv) || !argv.every((a) => typeof a === "string")) return undefined;
  const positionals: string[] = [];
  const strings = new Map<string, string>();
  const to: string[] = [];
  let json = false;
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith("-")) {
      if (!isWord(token)) return undefined;
      positionals.push(token);
      command ??= token;
      continue;
    }
    // `-c FILE` is --config; other short forms (`-c=FILE`, `-cj`, `-h`) go to yargs.
    if (token !== "-c" && (!token.startsWith("--") || token === "--")) return undefined;
    const eq = token === "-c" ? -1 : token.indexOf("=");
    const name = token === "-c" ? "config" : eq === -1 ? token.slice(2) : token.slice(2, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);
    if (name === "json") {
      // `--json true` would be read by yargs as a value: leave such forms to it.
      if (json || inline !== undefined || argv[i + 1] === "true" || argv[i + 1] === "false") return undefined;
      json = true;
      continue;
    }
    // Before the command word only the common options are known.
    const allowed = command === undefined ? ["config"] : [...(STRING_OPTIONS.get(command) ?? []), "to"];
    if (!allowed.includes(name)) return undefined;
    const value = inline ?? argv[++i];
    if (!isWord(value)) return undefined;
    if (name === "to") {
      // One value per --to, as yargs reads it (a string option, gathered into an array when repeated).
      to.push(value);
      continue;
    }
    if (strings.has(name)) return undefined;
    strings.set(name, value);
  }
  const common: CommonArgs = {
    ...(strings.has("config") ? { config: strings.get("config") } : {}),
    ...(json ? { json: true } : {}),
  };
  const toList = to.length === 0 ? undefined : to;
  const [word, first, second, ...rest] = positionals;
  if (word === "exec") {
    if (first === undefined || second === undefined) return undefined;
    return { command: "exec", common, to: toList, file: first, action: second, params: rest };
  }
  if (word === "ban" || word === "unban") {
    if (first === undefined) return undefined;
    return {
      command: word,
      common,
      to: toList,
      ip: first,
      actionFile: strings.get("action") ?? "iptables-multiport",
      name: strings.get("name") ?? "default",
      params: second === undefined ? rest : [second, ...rest],
    };
  }
  return undefined;
}
