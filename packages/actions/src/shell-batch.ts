// Several rendered commands of stock actions in ONE /bin/sh, each in its own subshell with its own exit
// status, stdout and stderr: a backlog of bans then pays one process start, not one per ban. The
// driver script is fixed; every command's script and its values are positional parameters, so no value
// ever enters a script text that it did not already enter under fail2ban.

import { randomBytes } from "node:crypto";
import type { RenderedCommand } from "./render.js";
import { OUTPUT_LIMIT_BYTES, type RunOptions, type RunResult } from "./run.js";

type Command = Exclude<RenderedCommand, null>;

/**
 * `$1` is the nonce of the markers; then per command: its index, the number of its values, its script
 * (its `f2bV_x=$N` prefix counting from 1), its values. Each script is eval'd in a subshell (an `exit`,
 * `set -e` or a variable stays there) with the driver's own variables unset first; after each, a
 * marker with the exit status goes to stdout and to stderr; the first failure ends the driver, so
 * that the failed command goes through check and repair before the next one runs, as fail2ban orders
 * them.
 */
export const SHELL_BATCH_DRIVER = `net2ban_n=$1; shift
while [ $# -gt 0 ]; do
  net2ban_i=$1; net2ban_c=$2; net2ban_s=$3; shift 3
  (eval "unset net2ban_n net2ban_i net2ban_c net2ban_r net2ban_s
$net2ban_s")
  net2ban_r=$?
  shift "$net2ban_c"
  printf '\\036%s %s %s\\036' "$net2ban_n" "$net2ban_i" "$net2ban_r"
  printf '\\036%s %s %s\\036' "$net2ban_n" "$net2ban_i" "$net2ban_r" >&2
  [ "$net2ban_r" -eq 0 ] || exit 0
done
`;

// buildShellCommand's prefix: `name=$0 name=$1 ... \n`.
const PREFIX_RE = /^((?:[A-Za-z_][A-Za-z0-9_]*=\$\d+ )+)\n/;
// A script that reads positional parameters itself would see other values in a batch.
const POSITIONAL_RE = /\$(?:\d|\{\d|[@*#])/;

/** The command as a batch entry (its script with the prefix counted from $1), or undefined if it cannot be one. */
export function batchEntry(command: Command): { script: string; values: string[] } | undefined {
  const [script, ...values] = typeof command === "string" ? [command] : command;
  if (values.length === 0) return POSITIONAL_RE.test(script) ? undefined : { script, values };
  const prefix = PREFIX_RE.exec(script);
  if (prefix === null) return undefined;
  const assignments = prefix[1]!.trim().split(" ");
  if (assignments.length !== values.length) return undefined;
  let shifted = "";
  for (const [index, assignment] of assignments.entries()) {
    const [name, reference] = assignment.split("=") as [string, string];
    if (reference !== `$${index}`) return undefined;
    shifted += `${name}=$${index + 1} `;
  }
  const body = script.slice(prefix[0].length);
  if (POSITIONAL_RE.test(body)) return undefined;
  return { script: `${shifted}\n${body}`, values };
}

/** What one command of a batch did; `ran: false` when the driver never reported it. */
export interface ShellBatchResult {
  ran: boolean;
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (command: Command, options: RunOptions) => Promise<RunResult>;

/**
 * Runs `commands` (each accepted by batchEntry) in one shell. Results are in order; after the first
 * failure, and for any command the driver did not report (killed on timeout, output cut), `ran` is
 * false and the caller runs it the single way. `timeoutMs` is per command (the whole batch gets n times it).
 */
export async function runShellBatch(
  commands: readonly Command[],
  run: CommandRunner,
  options: Omit<RunOptions, "outputLimitBytes">,
): Promise<{ results: ShellBatchResult[]; run: RunResult }> {
  const nonce = randomBytes(16).toString("hex");
  const args: string[] = ["net2ban-batch", nonce];
  commands.forEach((command, index) => {
    const entry = batchEntry(command);
    if (entry === undefined) throw new TypeError(`"commands[${index}]" cannot run in a batch`);
    args.push(String(index), String(entry.values.length), entry.script, ...entry.values);
  });
  const result = await run([SHELL_BATCH_DRIVER, ...args], {
    ...options,
    timeoutMs: Math.min(options.timeoutMs * commands.length, 2 ** 31 - 1),
    outputLimitBytes: Math.min(OUTPUT_LIMIT_BYTES * commands.length, 16 * 1024 * 1024),
  });
  const stdout = split(result.stdout, nonce);
  const stderr = split(result.stderr, nonce);
  const results = commands.map((_, index): ShellBatchResult => {
    const out = stdout.get(index);
    const err = stderr.get(index);
    if (out === undefined || err === undefined || out.status !== err.status) {
      return { ran: false, exitCode: null, stdout: "", stderr: "" };
    }
    return { ran: true, exitCode: out.status, stdout: out.text, stderr: err.text };
  });
  return { results, run: result };
}

// The text of each command before its marker, by index.
function split(output: string, nonce: string): Map<number, { status: number; text: string }> {
  const found = new Map<number, { status: number; text: string }>();
  const marker = new RegExp(`\\u001e${nonce} (\\d+) (\\d+)\\u001e`, "g");
  let from = 0;
  for (const match of output.matchAll(marker)) {
    found.set(Number(match[1]), { status: Number(match[2]), text: output.slice(from, match.index) });
    from = match.index + match[0].length;
  }
  return found;
}
