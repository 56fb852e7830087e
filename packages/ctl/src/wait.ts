// net2banctl --wait and status: a reply queue of its own (exclusive, gone when net2banctl exits), requests
// sent with `replyTo`, and each host's confirmation shown as it arrives (a progress line on a terminal).
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import type { Net2banConfig } from "@net2ban/config";
import type { Codec, Message } from "@net2ban/protocol";
import type { AcceptedMessage, ResultMessage, StateMessage } from "@net2ban/protocol/fleet";
import { EXIT_NOT_CONFIRMED, EXIT_OK, EXIT_USAGE, UsageError } from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";
import type { CliIo } from "./commands.js";
import { type SendingKey, sendingKey } from "./sending-key.js";
import { escapeControls, escapeJsonControls } from "./terminal-text.js";

/** The server did not answer at all (no `accepted`, no `state`) within the time given. */
export class NoAnswerError extends Error {
  override readonly name = "NoAnswerError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A connection with a reply queue: send requests that carry `replyTo`, read what comes back. */
export interface ReplySession {
  readonly replyTo: string;
  /** Seals `message` for the server and publishes it to the input queue (confirmed by the broker). */
  send(message: Message): Promise<void>;
  /** Resolves with the next reply (opened and checked), or undefined once `deadline` (ms) has passed. */
  next(deadline: number): Promise<Message | undefined>;
  close(): Promise<void>;
}

const noop = () => undefined;
const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };

async function readTls(files: { ca?: string; cert?: string; key?: string }) {
  return {
    ...(files.ca === undefined ? {} : { ca: await readFile(files.ca) }),
    ...(files.cert === undefined ? {} : { cert: await readFile(files.cert) }),
    ...(files.key === undefined ? {} : { key: await readFile(files.key) }),
  };
}

/**
 * Connects, declares `<queue_prefix>reply.<uuid>` (exclusive) and consumes it. v2 only; replies come sealed
 * with the key the requests are sealed with ([server]'s or the publisher's).
 */
export async function openReplySession(config: Net2banConfig, what: string): Promise<ReplySession> {
  const server = sendingKey(config);
  if (server.protocol !== 2) {
    throw new UsageError(`${what} needs protocol = 2 for [server] (protocol 1 has no replies)`);
  }
  const [{ createCodec }, { connectBroker }] = await Promise.all([
    import("@net2ban/protocol"),
    import("@net2ban/transport"),
  ]);
  const codecs = Promise.all([
    createCodec({ protocol: 2, keyId: server.keyId, direction: "to-server", keys: server.keys }),
    createCodec({ protocol: 2, keyId: server.keyId, direction: "from-server", keys: server.keys }),
  ]);
  const tls = config.broker.tls;
  const broker: Broker = await connectBroker({
    urls: server.urls,
    ...(tls === undefined ? {} : { tls: await readTls(tls) }),
    heartbeatSeconds: config.broker.heartbeatSeconds,
    connectionName: `net2banctl@${hostname()}`,
    logger: silentLogger,
    recover: false,
  });
  try {
    const [toServer, fromServer] = await codecs;
    return await startSession(config, server, broker, toServer, fromServer, what);
  } catch (error) {
    await broker.close();
    throw error;
  }
}

async function startSession(
  config: Net2banConfig,
  server: SendingKey,
  broker: Broker,
  toServer: Codec,
  fromServer: Codec,
  what: string,
): Promise<ReplySession> {
  const replyTo = `${config.queuePrefix}reply.${randomUUID()}`;
  const inbox: Message[] = [];
  let wake: (() => void) | undefined;
  try {
    await broker.consume({ prefetch: 256, queue: { name: replyTo, exclusive: true } }, async (delivery) => {
      try {
        inbox.push(fromServer.open(delivery.body).message as Message);
        wake?.();
      } catch {
        // Not from the server (or damaged): ignored, never rejected (that would declare a .dead queue).
      }
      return "ack";
    });
  } catch (error) {
    throw new Error(
      `${what}: cannot declare the reply queue ${replyTo}: ${(error as Error).message} (the login needs configure and read access to ${config.queuePrefix}reply.*)`,
      { cause: error },
    );
  }
  return {
    replyTo,
    async send(message) {
      await broker.publish(server.queue, toServer.seal(message), {
        ...("id" in message ? { messageId: message.id } : {}),
        exchange: config.broker.inputExchange,
      });
    },
    async next(deadline) {
      for (;;) {
        const message = inbox.shift();
        if (message !== undefined) return message;
        const left = deadline - Date.now();
        if (left <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    },
    close: () => broker.close(),
  };
}

/** What --wait saw: the hosts the request went to and each host's result. */
export interface WaitOutcome {
  accepted: AcceptedMessage | undefined;
  results: Map<string, ResultMessage>;
}

/** Reads replies to `requestId` until every host answered or `deadline`; calls `onChange` after each. */
export async function collectResults(
  session: Pick<ReplySession, "next">,
  requestId: string,
  deadline: number,
  onChange: (outcome: WaitOutcome, latest: ResultMessage | undefined) => void,
): Promise<WaitOutcome> {
  const outcome: WaitOutcome = { accepted: undefined, results: new Map() };
  const done = () => outcome.accepted?.hosts.every((host) => outcome.results.has(host)) === true;
  while (!done()) {
    const message = await session.next(deadline);
    if (message === undefined) break;
    if (message.cmd === "accepted" && message.requestId === requestId) {
      outcome.accepted = message;
      onChange(outcome, undefined);
    } else if (message.cmd === "result" && message.requestId === requestId) {
      // Results may come before `accepted` (the agents were quick): kept, shown once it is known.
      if (!outcome.results.has(message.client)) outcome.results.set(message.client, message);
      onChange(outcome, message);
    }
  }
  return outcome;
}

function describeResult(result: ResultMessage): string {
  const what =
    result.op === "extend"
      ? "already banned, end moved"
      : result.op === "skip"
        ? escapeControls(result.detail ?? "nothing to do")
        : (result.op ?? "done");
  if (result.ok) return `ok (${what}, ${Math.round(result.durationMs)} ms)`;
  const reason = escapeControls(result.detail ?? result.stderr.trim().split("\n").at(-1) ?? "");
  return `FAILED (${result.op ?? "action"}, exit ${result.exitCode ?? "none"}${reason === "" ? "" : `: ${reason}`})`;
}

/**
 * Sends `message` (which carries the session's replyTo), shows each host's confirmation, and returns 0
 * only if every host it went to confirmed; otherwise 4, naming the hosts that failed or did not answer
 * (2 when the server refused it).
 */
export async function sendAndWait(
  io: CliIo,
  session: ReplySession,
  message: Message & { id: string },
  options: { label: string; timeoutSeconds: number; json: boolean; terminal?: boolean },
): Promise<number> {
  const terminal = options.terminal ?? (process.stderr.isTTY === true && !options.json);
  const progress = (text: string) => {
    if (terminal) process.stderr.write(`\r\x1b[K${text}`);
  };
  await session.send(message);
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  const outcome = await collectResults(session, message.id, deadline, (state, latest) => {
    const hosts = state.accepted?.hosts;
    if (latest === undefined && state.accepted !== undefined && !options.json) {
      if (state.accepted.refused !== undefined) return;
      if (terminal) progress(`${options.label}: 0/${hosts?.length ?? "?"} confirmed`);
      else io.out(`${options.label}: sent to ${hosts?.length ?? 0} host(s)${describeChange(state.accepted)}`);
      for (const result of state.results.values())
        if (!terminal) io.out(`  ${result.client}: ${describeResult(result)}`);
      return;
    }
    if (latest === undefined || options.json) return;
    if (terminal) {
      const failed = [...state.results.values()].filter((r) => !r.ok).length;
      progress(
        `${options.label}: ${state.results.size}/${hosts?.length ?? "?"} answered${failed > 0 ? `, ${failed} failed` : ""} (${latest.client}: ${latest.ok ? "ok" : "FAILED"})`,
      );
    } else if (state.accepted !== undefined) {
      io.out(`  ${latest.client}: ${describeResult(latest)}`);
    }
  });
  if (terminal) process.stderr.write("\r\x1b[K");
  return report(io, message.id, outcome, options);
}

function describeChange(accepted: AcceptedMessage): string {
  switch (accepted.change) {
    case "extended":
      return " (already active: end moved, no action runs again)";
    case "unchanged":
      return " (already active and lasting at least as long)";
    case "none":
      return " (not in the ledger: nothing to lift)";
    default:
      return "";
  }
}

function report(
  io: CliIo,
  id: string,
  outcome: WaitOutcome,
  options: { label: string; timeoutSeconds: number; json: boolean },
): number {
  const { accepted, results } = outcome;
  if (accepted === undefined) {
    throw new NoAnswerError(
      `${options.label}: sent (${id}), but the server did not answer within ${options.timeoutSeconds}s (is net2ban-server running?)`,
    );
  }
  const failed = accepted.hosts.filter((host) => results.get(host)?.ok === false);
  const missing = accepted.hosts.filter((host) => !results.has(host));
  if (options.json) {
    io.out(
      escapeJsonControls(
        JSON.stringify({
          id,
          ...(accepted.change === undefined ? {} : { change: accepted.change }),
          ...(accepted.expiresAt === undefined ? {} : { expiresAt: accepted.expiresAt }),
          ...(accepted.refused === undefined ? {} : { refused: accepted.refused }),
          hosts: Object.fromEntries(
            accepted.hosts.map((host) => {
              const r = results.get(host);
              return [
                host,
                r === undefined
                  ? { answered: false }
                  : {
                      answered: true,
                      ok: r.ok,
                      exitCode: r.exitCode,
                      durationMs: r.durationMs,
                      ...(r.op === undefined ? {} : { op: r.op }),
                      ...(r.detail === undefined ? {} : { detail: r.detail }),
                    },
              ];
            }),
          ),
          failed,
          missing,
        }),
      ),
    );
  }
  if (accepted.refused !== undefined) {
    // What the server refuses (ignoreip, a param) is bad input, as when net2banctl refuses it itself.
    io.err(`net2banctl: ${options.label}: refused by the server: ${escapeControls(accepted.refused)}`);
    return EXIT_USAGE;
  }
  if (failed.length === 0 && missing.length === 0) {
    if (!options.json) io.out(`${options.label}: confirmed by all ${accepted.hosts.length} host(s)`);
    return EXIT_OK;
  }
  const parts = [
    ...(failed.length === 0 ? [] : [`failed on ${failed.join(", ")}`]),
    ...(missing.length === 0
      ? []
      : [`no answer within ${options.timeoutSeconds}s from ${missing.join(", ")}`]),
  ];
  io.err(`net2banctl: ${options.label}: ${parts.join("; ")}`);
  return EXIT_NOT_CONFIRMED;
}

/** Reads the `state` parts answering `requestId` until the last one; undefined if the server is silent. */
export async function collectState(
  session: Pick<ReplySession, "next">,
  requestId: string,
  deadline: number,
): Promise<StateMessage["bans"] | undefined> {
  const parts = new Map<number, StateMessage>();
  let last: number | undefined;
  while (last === undefined || parts.size < last + 1) {
    const message = await session.next(deadline);
    if (message === undefined) return undefined;
    if (message.cmd !== "state" || message.requestId !== requestId) continue;
    parts.set(message.seq, message);
    if (message.last) last = message.seq;
  }
  return [...parts.entries()].sort(([a], [b]) => a - b).flatMap(([, part]) => part.bans);
}
