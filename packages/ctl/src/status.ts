// net2banctl status [IP] [--json]: the server's active bans with their end and, per host, applied /
// failed / pending, asked over the broker (the server answers on net2banctl's reply queue).
import { formatDuration } from "@net2ban/config";
import type { StateMessage } from "@net2ban/protocol/fleet";
import { EXIT_OK, UsageError } from "@net2ban/runtime";
import { type CliIo, type CommonArgs, readConfig, senderName } from "./commands.js";
import { escapeControls, escapeJsonControls } from "./terminal-text.js";
import { NoAnswerError } from "./wait.js";

type Ban = StateMessage["bans"][number];

export interface StatusArgs extends CommonArgs {
  ip?: string | undefined;
  timeout?: string | undefined;
}

/** One ban for a terminal: address, action/jail, when it ends, and the hosts by state. */
export function describeBan(ban: Ban, nowSeconds: number): string {
  const ends =
    ban.expiresAt === null
      ? "permanent"
      : `ends in ${formatDuration(Math.max(0, Math.round(ban.expiresAt - nowSeconds)))} (${new Date(ban.expiresAt * 1000).toISOString().replace(/\.\d+Z$/, "Z")})`;
  const by = { applied: [] as string[], failed: [] as string[], pending: [] as string[] };
  for (const [host, state] of Object.entries(ban.hosts)) {
    by[state.state].push(
      state.state === "failed" && state.exitCode != null ? `${host} (exit ${state.exitCode})` : host,
    );
  }
  const total = Object.keys(ban.hosts).length;
  const hosts = [
    `applied ${by.applied.length}/${total}`,
    ...(by.failed.length === 0 ? [] : [`failed: ${by.failed.join(", ")}`]),
    ...(by.pending.length === 0 ? [] : [`pending: ${by.pending.join(", ")}`]),
  ];
  return `${ban.ip}  ${ban.file}/${escapeControls(ban.name)}  ${ends}  ${hosts.join("; ")}`;
}

/** Asks the server for its active bans (of `ip`) and prints them; exit 0 whenever the server answered. */
export async function runStatus(io: CliIo, args: StatusArgs): Promise<number> {
  const { parseDurationSeconds, DurationError } = await import("@net2ban/config");
  let timeoutSeconds: number;
  try {
    timeoutSeconds = parseDurationSeconds(args.timeout ?? "10s");
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`--timeout: ${error.message}`, { cause: error });
    throw error;
  }
  const config = await readConfig(args);
  const [{ createStatusRequest }, { openReplySession, collectState }] = await Promise.all([
    import("@net2ban/protocol"),
    import("./wait.js"),
  ]);
  const session = await openReplySession(config, "status");
  let bans: Ban[] | undefined;
  try {
    const request = createStatusRequest({
      ...(args.ip === undefined ? {} : { ip: args.ip }),
      replyTo: session.replyTo,
      sender: senderName(),
    });
    await session.send(request);
    bans = await collectState(session, request.id, Date.now() + timeoutSeconds * 1000);
  } finally {
    await session.close();
  }
  if (bans === undefined) {
    throw new NoAnswerError(
      `status: the server did not answer within ${timeoutSeconds}s (is net2ban-server running?)`,
    );
  }
  if (args.json) {
    io.out(escapeJsonControls(JSON.stringify({ bans })));
    return EXIT_OK;
  }
  if (bans.length === 0) {
    io.out(args.ip === undefined ? "no active bans" : `no active ban of ${args.ip}`);
    return EXIT_OK;
  }
  const now = Date.now() / 1000;
  for (const ban of bans) io.out(describeBan(ban, now));
  return EXIT_OK;
}
