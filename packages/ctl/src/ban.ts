// net2banctl ban / unban / exec with ban state: a ban kept in the server's ledger (`--for DURATION`, default
// the server's bantime), an unban that clears it everywhere, and `--wait` on any of them.

import type { Net2banConfig } from "@net2ban/config";
import { DurationError, parseDurationSeconds } from "@net2ban/config";
import type { Message } from "@net2ban/protocol";
import { EXIT_OK, UsageError } from "@net2ban/runtime";
import {
  buildRequest,
  type CliIo,
  type CommonArgs,
  checkGuard,
  type ExecRequestSpec,
  printSent,
  readConfig,
  senderName,
  startPublisher,
} from "./commands.js";

type Protocol = typeof import("@net2ban/protocol");
type Build = (protocol: Protocol, replyTo: string | undefined) => Message & { id: string };

/** Options of ban / unban / exec that concern ban state. */
export interface StateArgs extends CommonArgs {
  to?: string[] | undefined;
  /** `--for`: how long the ban lasts (ban only). */
  for?: string | undefined;
  /** `--wait`: show each host's confirmation; exit 0 only if all confirmed. */
  wait?: boolean | undefined;
  /** `--timeout`: how long --wait waits (default 10s). */
  timeout?: string | undefined;
}

const DEFAULT_TIMEOUT = "10s";

function duration(option: string, text: string, permanent: boolean): number | null {
  try {
    return permanent ? parseDurationSeconds(text, { permanent: true }) : parseDurationSeconds(text);
  } catch (error) {
    if (error instanceof DurationError) throw new UsageError(`${option}: ${error.message}`, { cause: error });
    throw error;
  }
}

function timeoutOf(args: StateArgs): number {
  if (args.timeout !== undefined && args.wait !== true) throw new UsageError("--timeout goes with --wait");
  return duration("--timeout", args.timeout ?? DEFAULT_TIMEOUT, false) as number;
}

/** `to` as the request carries it. */
function recipients(args: StateArgs): { to?: string[] } {
  return args.to === undefined || args.to.length === 0 ? {} : { to: args.to };
}

/** The config to send with; --wait needs protocol 2 for [server] (protocol 1 has no replies). */
async function stateConfig(args: StateArgs): Promise<Net2banConfig> {
  const config = await readConfig(args);
  if (config.server?.protocol === 1 && args.wait === true) {
    throw new UsageError("--wait needs protocol = 2 for [server]");
  }
  return config;
}

/**
 * Checks `exec` against the self-lockout guard (exit 2, nothing sent), then publishes what `build` makes;
 * without --wait the connection starts before the checks (startPublisher), with --wait the reply session
 * opens after them and each host's answer is shown.
 */
async function checkThenSend(
  io: CliIo,
  config: Net2banConfig,
  args: StateArgs,
  exec: ExecRequestSpec,
  label: string,
  build: Build,
): Promise<number> {
  const checked = async () => {
    await checkGuard(io, config, args.to, exec);
    const timeoutSeconds = timeoutOf(args);
    return { timeoutSeconds, protocol: await import("@net2ban/protocol") };
  };
  if (args.wait !== true) {
    const message = await startPublisher(config).send(async () => {
      const { protocol } = await checked();
      return buildRequest(label, () => build(protocol, undefined));
    });
    printSent(io, args, config, message, label);
    return EXIT_OK;
  }
  const { timeoutSeconds, protocol } = await checked();
  const { openReplySession, sendAndWait } = await import("./wait.js");
  const session = await openReplySession(config, "--wait");
  try {
    const message = buildRequest(label, () => build(protocol, session.replyTo));
    return await sendAndWait(io, session, message, { label, timeoutSeconds, json: args.json === true });
  } finally {
    await session.close();
  }
}

/**
 * `net2banctl ban IP [--for DURATION]`: a ban in the server's ledger, lifted on every host at its end. With
 * protocol 1 for [server] (which has no ban request) it is sent as exec actionban, with `bantime` when
 * --for is given (the server keeps that in its ledger too).
 */
export async function sendBan(
  io: CliIo,
  args: StateArgs,
  ban: { ip: string; actionFile: string; name: string; params: Record<string, string> },
): Promise<number> {
  const seconds = args.for === undefined ? undefined : duration("--for", args.for, true);
  if (Object.hasOwn(ban.params, "bantime") && seconds !== undefined) {
    throw new UsageError("give the duration once: --for or bantime=");
  }
  const exec: ExecRequestSpec = {
    file: ban.actionFile,
    action: "actionban",
    params: { ...ban.params, name: ban.name, ip: ban.ip },
  };
  const config = await stateConfig(args);
  const label = `ban ${ban.ip}`;
  if (config.server?.protocol === 1) {
    const bantime =
      seconds === undefined ? {} : { bantime: seconds === null ? "-1" : String(Math.ceil(seconds)) };
    return checkThenSend(io, config, args, exec, label, (protocol) =>
      protocol.createExecRequest({
        ...exec,
        params: { ...exec.params, ...bantime },
        sender: senderName(),
        ...recipients(args),
      }),
    );
  }
  return checkThenSend(io, config, args, exec, label, (protocol, replyTo) =>
    protocol.createTrackedBanRequest({
      ip: ban.ip,
      action: ban.actionFile,
      name: ban.name,
      params: ban.params,
      ...(seconds === undefined ? {} : { duration: seconds }),
      sender: senderName(),
      ...recipients(args),
      ...(replyTo === undefined ? {} : { replyTo }),
    }),
  );
}

/**
 * `net2banctl unban IP [--action A] [--name N]`: removes the ledger's bans of IP (only those of A / N when
 * given) and lifts them on every host that applied them. With protocol 1 for [server] it is sent as exec
 * actionunban (action and name default to iptables-multiport and default there).
 */
export async function sendUnban(
  io: CliIo,
  args: StateArgs,
  unban: {
    ip: string;
    actionFile: string | undefined;
    name: string | undefined;
    params: Record<string, string>;
    /** Release only this holder's hold (a publisher's name, or "server"). */
    holder?: string | undefined;
  },
): Promise<number> {
  if (args.for !== undefined) throw new UsageError("--for goes with ban");
  if (unban.holder !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,127}$/.test(unban.holder)) {
    throw new UsageError(`unban: --publisher ${JSON.stringify(unban.holder)} is not a publisher name`);
  }
  const exec: ExecRequestSpec = {
    file: unban.actionFile ?? "iptables-multiport",
    action: "actionunban",
    params: { ...unban.params, name: unban.name ?? "default", ip: unban.ip },
  };
  const config = await stateConfig(args);
  const label = `unban ${unban.ip}`;
  if (config.server?.protocol === 1) {
    if (unban.holder !== undefined) throw new UsageError("--publisher needs protocol = 2 for [server]");
    return checkThenSend(io, config, args, exec, label, (protocol) =>
      protocol.createExecRequest({ ...exec, sender: senderName(), ...recipients(args) }),
    );
  }
  if (Object.keys(unban.params).length > 0) {
    // Harmless, like unbanning what was never applied: the ledger lifts a ban with its own params.
    io.err(
      "net2banctl: note: key=value params are ignored: a ban in the server's ledger is lifted with the params it was applied with",
    );
  }
  if (args.to !== undefined && args.to.length > 0) {
    io.err(
      "net2banctl: note: --to is ignored: a ban in the server's ledger is lifted on every host that applied it",
    );
  }
  return checkThenSend(io, config, args, exec, label, (protocol, replyTo) =>
    protocol.createTrackedUnbanRequest({
      ip: unban.ip,
      ...(unban.actionFile === undefined ? {} : { action: unban.actionFile }),
      ...(unban.name === undefined ? {} : { name: unban.name }),
      ...(unban.holder === undefined ? {} : { holder: unban.holder }),
      sender: senderName(),
      ...recipients(args),
      ...(replyTo === undefined ? {} : { replyTo }),
    }),
  );
}

/** `net2banctl exec FILE ACTION params --wait`: the original's exec, followed host by host. */
export async function sendExecAndWait(
  io: CliIo,
  args: StateArgs,
  request: ExecRequestSpec,
  label: string,
): Promise<number> {
  const config = await readConfig(args);
  if (config.server?.protocol === 1) throw new UsageError("--wait needs protocol = 2 for [server]");
  return checkThenSend(io, config, args, request, label, (protocol, replyTo) =>
    protocol.createExecRequest({
      ...request,
      sender: senderName(),
      ...recipients(args),
      ...(replyTo === undefined ? {} : { replyTo }),
    }),
  );
}
