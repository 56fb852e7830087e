// net2banctl's entry (the bin runs the esbuild bundle of this file): exec/ban/unban go straight to the
// broker; every other command, --help and every usage error load the yargs CLI on demand.
import { describeError, EXIT_USAGE, exitCodeFor, UsageError } from "@net2ban/runtime";
import { banRequestSpec, type CliIo, parseParams, sendExec, toList } from "./commands.js";
import { type FastCommand, parseFastCommand } from "./fast-path.js";
import { escapeControls } from "./terminal-text.js";

const defaultIo: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

function sendFast(io: CliIo, fast: FastCommand): Promise<number> {
  const args = { ...fast.common, to: toList(fast.to) };
  if (fast.command === "exec") {
    const request = { file: fast.file, action: fast.action, params: parseParams(fast.params) };
    return sendExec(io, args, request, `exec/${fast.file} ${fast.action}`);
  }
  // A ban goes to the server's ledger (ban.ts); checked here first, as the full CLI does.
  banRequestSpec(fast.command, fast.ip, { actionFile: fast.actionFile, name: fast.name, params: {} });
  const ban = { ip: fast.ip, actionFile: fast.actionFile, name: fast.name, params: parseParams(fast.params) };
  return import("./ban.js").then(({ sendBan }) => sendBan(io, args, ban));
}

/** Runs net2banctl with `argv` (without node and script); resolves with the exit code. */
export async function run(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const fast = parseFastCommand(argv);
  // unban without --action/--name means every ban of the address, which the fast path cannot tell apart.
  if (fast === undefined || fast.command === "unban") {
    const { runFull } = await import("./cli.js");
    return runFull(argv, io);
  }
  try {
    return await sendFast(io, fast);
  } catch (error) {
    // The same lines and exit codes as the full CLI (cli.ts).
    for (const line of describeError(error)) io.err(`net2banctl: ${escapeControls(line)}`);
    return error instanceof UsageError ? EXIT_USAGE : exitCodeFor(error);
  }
}
