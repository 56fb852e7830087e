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

/** Seconds since the epoch as ISO 8601 in UTC, to the second: `2026-11-27T13:44:06Z`. */
export function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d+Z$/, "Z");
}

/** The columns of one ban for a terminal: address, action/jail, when it ends, the hosts by state. */
function banCells(ban: Ban, nowSeconds: number): [string, string, string, string] {
  const ends =
    ban.expiresAt === null
      ? "permanent"
      : `${isoSeconds(ban.expiresAt)} (in ${formatDuration(Math.max(0, Math.round(ban.expiresAt - nowSeconds)))})`;
  const by = { applied: [] as string[], failed: [] as string[], pending: [] as string[] };
  for (const [host, state] of Object.entries(ban.hosts)) {
    by[state.state].push(
      state.state === "failed" && state.exitCode != null ? `${host} (exit ${state.exitCode})` : host,
    );
  }
  const total = Object.keys(ban.hosts).length;
  // Who holds it: the [server] key ("server") and each publisher that asked for it (servers since 0.2).
  const holders = Object.keys(ban.holders ?? {}).map(escapeControls);
  const hosts = [
    `applied ${by.applied.length}/${total}`,
    ...(by.failed.length === 0 ? [] : [`failed: ${by.failed.join(", ")}`]),
    ...(by.pending.length === 0 ? [] : [`pending: ${by.pending.join(", ")}`]),
    ...(holders.length === 0 ? [] : [`held by ${holders.join(", ")}`]),
  ];
  return [ban.ip, `${ban.file}/${escapeControls(ban.name)}`, ends, hosts.join("; ")];
}

/** One ban for a terminal, its columns two spaces apart. */
export function describeBan(ban: Ban, nowSeconds: number): string {
  return banCells(ban, nowSeconds).join("  ");
}

/** The bans for a terminal, one line each, columns aligned (every cell is ASCII once escaped). */
export function describeBans(bans: readonly Ban[], nowSeconds: number): string[] {
  const rows = bans.map((ban) => banCells(ban, nowSeconds));
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join("  "));
}

/** A ban for --json: the protocol's fields (seconds since the epoch) and the same times as ISO 8601. */
export function banForJson(ban: Ban): Ban & Record<string, unknown> {
  return {
    ...ban,
    expires: ban.expiresAt === null ? null : isoSeconds(ban.expiresAt),
    created: isoSeconds(ban.createdAt),
    updated: isoSeconds(ban.updatedAt),
    hosts: Object.fromEntries(
      Object.entries(ban.hosts).map(([host, state]) => [host, { ...state, since: isoSeconds(state.at) }]),
    ),
  };
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
    io.out(escapeJsonControls(JSON.stringify({ bans: bans.map(banForJson) })));
    return EXIT_OK;
  }
  if (bans.length === 0) {
    io.out(args.ip === undefined ? "no active bans" : `no active ban of ${args.ip}`);
    return EXIT_OK;
  }
  for (const line of describeBans(bans, Date.now() / 1000)) io.out(line);
  return EXIT_OK;
}
