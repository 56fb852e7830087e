// What each net2banctl command does, apart from argument parsing; every function returns its output lines.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { basename } from "node:path";
import type { Net2banConfig } from "@net2ban/config";
import type { Net2banMessage } from "@net2ban/protocol";
import { EXIT_OK, UsageError } from "@net2ban/runtime";
import { sendingKey } from "./sending-key.js";

/** Where a command writes: stdout and stderr lines (tests capture them). */
export interface CliIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Options every command takes. */
export interface CommonArgs {
  config?: string | undefined;
  json?: boolean | undefined;
}

/** What an exec, ban or unban sends: operation `action` of action file `file` with `params`. */
export interface ExecRequestSpec {
  file: string;
  action: string;
  params: Record<string, string>;
}

/** `--to a,b --to c`: client names, split at commas, blanks dropped. */
export function toList(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  const items = (Array.isArray(value) ? value : [value]).flatMap((v) => String(v).split(","));
  return items.map((s) => s.trim()).filter((s) => s !== "");
}

/** `key=value` words of exec/ban/unban/render into params; a word without `=` is bad usage. */
export function parseParams(words: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const word of words) {
    const at = word.indexOf("=");
    if (at <= 0) throw new UsageError(`param ${JSON.stringify(word)}: expected key=value`);
    const key = word.slice(0, at);
    if (!/^[A-Za-z][A-Za-z0-9_.-]*$/.test(key)) {
      throw new UsageError(
        `param ${JSON.stringify(key)}: expected a name of letters, digits, "_", "-" or "."`,
      );
    }
    if (Object.hasOwn(params, key)) throw new UsageError(`param "${key}" given twice`);
    params[key] = word.slice(at + 1);
  }
  return params;
}

/** The original's gen_random: a random key of [keygen] keylen lowercase hex characters. */
export function genRandom(length: number): string {
  if (!Number.isInteger(length) || length < 1 || length > 1024) {
    throw new UsageError(`keylen: expected an integer from 1 to 1024, got ${length}`);
  }
  return randomBytes(Math.ceil(length / 2))
    .toString("hex")
    .slice(0, length);
}

/**
 * The original's update payload: the action file with comments (`#` to end of line), trailing
 * whitespace and empty lines removed, base64; the name is the base name without its last extension,
 * other dots removed.
 */
export function prepareUpdate(path: string, text: string): { file: string; content: string } {
  const lines = text
    .split(/\r?\n/)
    .map((line) => {
      const hash = line.indexOf("#");
      return (hash === -1 ? line : line.slice(0, hash)).trimEnd();
    })
    .filter((line) => line !== "");
  const base = basename(path);
  const dot = base.lastIndexOf(".");
  const file = (dot > 0 ? base.slice(0, dot) : base).replaceAll(".", "");
  return { file, content: Buffer.from(lines.join("\n"), "utf8").toString("base64") };
}

export async function readUpdate(path: string): Promise<{ file: string; content: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new UsageError(`update: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}`, {
      cause: error,
    });
  }
  const update = prepareUpdate(path, text);
  const { LIMITS } = await import("@net2ban/protocol");
  // The message schema's bound, said in the file's terms (exit 2, nothing sent).
  if (update.content.length > LIMITS.content) {
    const bytes = Buffer.byteLength(Buffer.from(update.content, "base64"));
    throw new UsageError(
      `update: ${path}: ${bytes} bytes without comments and blank lines; an update carries at most ${(LIMITS.content / 4) * 3} bytes`,
    );
  }
  return update;
}

/**
 * Runs a message builder; what the message schema refuses (a param over 4096 characters, ...) is bad input:
 * UsageError (exit 2) naming the command, not an operation failure.
 */
export function buildRequest<T>(label: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(`${label}: ${error.message}`, { cause: error });
    throw error;
  }
}

/**
 * The request of `net2banctl ban|unban <ip>`: operation actionban/actionunban of action file `actionFile`,
 * with `name` and `ip` set over the extra params. The address is checked here, before any config is read.
 */
export function banRequestSpec(
  verb: "ban" | "unban",
  ip: string,
  options: { actionFile: string; name: string; params: Record<string, string> },
): ExecRequestSpec {
  const [address, prefix] = ip.split("/");
  if (!address || isIP(address) === 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
    throw new UsageError(`${verb}: ${JSON.stringify(ip)} is not an IPv4/IPv6 address or CIDR`);
  }
  return {
    file: options.actionFile,
    action: verb === "ban" ? "actionban" : "actionunban",
    params: { ...options.params, name: options.name, ip },
  };
}

export async function readConfig(args: CommonArgs): Promise<Net2banConfig> {
  const { loadConfig } = await import("@net2ban/config");
  const { config } = await loadConfig(
    args.config === undefined ? { env: process.env } : { path: args.config, env: process.env },
  );
  return config;
}

export function print(io: CliIo, args: CommonArgs, json: object, text: string): void {
  io.out(args.json ? JSON.stringify(json) : text);
}

/** Builds, seals and publishes an exec request; prints its id once the broker confirmed it. */
export async function sendExec(
  io: CliIo,
  args: CommonArgs & { to?: string[] | undefined },
  request: ExecRequestSpec,
  label: string,
): Promise<number> {
  const config = await readConfig(args);
  // The broker's handshake and the key derivation run while the request is checked and built.
  const message = await startPublisher(config).send(async () => {
    await checkGuard(io, config, args.to, request);
    const { createExecRequest } = await import("@net2ban/protocol");
    return buildRequest(label, () =>
      createExecRequest({
        ...request,
        sender: senderName(),
        ...(args.to === undefined || args.to.length === 0 ? {} : { to: args.to }),
      }),
    );
  });
  printSent(io, args, config, message, label);
  return EXIT_OK;
}

/**
 * Param policy and self-lockout guard: throws UsageError (exit 2, nothing sent) for a param the server
 * would refuse, a ban of a protected address or an ip that is no address; prints its warnings and notes.
 */
export async function checkGuard(
  io: CliIo,
  config: Net2banConfig,
  to: readonly string[] | undefined,
  request: ExecRequestSpec,
): Promise<void> {
  const { guardRequest, guardParams } = await import("./guard.js");
  guardParams(config, request);
  const notes = await guardRequest(config, request, to, {
    warn: (line) => io.err(`net2banctl: warning: ${line}`),
  });
  for (const note of notes) io.err(`net2banctl: note: ${note}`);
}

/** The line (or JSON) that says the broker confirmed `message`. */
export function printSent(
  io: CliIo,
  args: CommonArgs,
  config: Net2banConfig,
  message: { id: string },
  label: string,
): void {
  print(
    io,
    args,
    { id: message.id, sent: label, queue: sendingKey(config).queue },
    `${label}: sent (${message.id})`,
  );
}

export function senderName(): string {
  return `net2banctl@${hostname()}`;
}

/** A send under way: connecting to the broker and deriving the [server] key, nothing published yet. */
export interface Publisher {
  /**
   * Runs `prepare` (checks, building the request) while connecting, then seals what it returns, publishes
   * it to the input queue, waits for the broker's confirm and closes. When `prepare` throws, nothing is
   * sent: the connection is closed once it is open, and the error is thrown again.
   */
  send<M extends Net2banMessage>(prepare: () => Promise<M>): Promise<M>;
}

/**
 * Starts connecting and deriving at once, so that a one-shot process pays the longer of the broker's
 * handshake, PBKDF2 and its own checks, not their sum (start-up is most of what a ban costs the host that
 * sends it). Modules are imported here, not at start-up: only publishing commands pay for them.
 */
export function startPublisher(config: Net2banConfig): Publisher {
  const server = sendingKey(config);
  const ready = (async () => {
    const [{ createCodec }, { connectBroker }] = await Promise.all([
      import("@net2ban/protocol"),
      import("@net2ban/transport"),
    ]);
    // PBKDF2 runs on the libuv pool while the connection is made.
    const keys = createCodec({
      protocol: server.protocol,
      keyId: server.keyId,
      direction: "to-server",
      keys: server.keys,
    });
    const tls = config.broker.tls;
    const connecting = (async () =>
      connectBroker({
        urls: server.urls,
        ...(tls === undefined ? {} : { tls: await readTls(tls) }),
        heartbeatSeconds: config.broker.heartbeatSeconds,
        connectionName: senderName(),
        logger: silentLogger,
        recover: false,
      }))();
    return Promise.allSettled([keys, connecting]);
  })();
  // Awaited by send; until then a failure (broker down) must not count as unhandled.
  ready.catch(() => undefined);
  return {
    async send<M extends Net2banMessage>(prepare: () => Promise<M>): Promise<M> {
      let message: M;
      try {
        message = await prepare();
      } catch (error) {
        ready
          .then(([, broker]) => (broker.status === "fulfilled" ? broker.value.close() : undefined))
          .catch(() => undefined);
        throw error;
      }
      const [codec, broker] = await ready;
      if (broker.status === "rejected") throw broker.reason;
      try {
        if (codec.status === "rejected") throw codec.reason;
        const body = codec.value.seal(message);
        await broker.value.publish(server.queue, body, publishOptions(config, message));
      } finally {
        await broker.value.close();
      }
      return message;
    },
  };
}

/**
 * Seals one request for the server and publishes it to the input queue; resolves once the broker
 * confirmed it.
 */
export async function publishRequest(config: Net2banConfig, message: Net2banMessage): Promise<void> {
  await startPublisher(config).send(async () => message);
}

async function readTls(files: { ca?: string; cert?: string; key?: string }) {
  return {
    ...(files.ca === undefined ? {} : { ca: await readFile(files.ca) }),
    ...(files.cert === undefined ? {} : { cert: await readFile(files.cert) }),
    ...(files.key === undefined ? {} : { key: await readFile(files.key) }),
  };
}

/**
 * The message id (agents dedupe by it) and, with input_exchange, the exchange bound to the input queue:
 * with ctl_url that is all net2banctl's login may write to (net2banctl rabbitmq-setup).
 */
function publishOptions(config: Net2banConfig, message: Net2banMessage) {
  return {
    ...("id" in message ? { messageId: message.id } : {}),
    exchange: config.broker.inputExchange,
  };
}

const noop = () => undefined;
/** net2banctl reports through its exit code and one stderr line, not through a log. */
const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };
