// What each net2banctl command does, apart from argument parsing; every function returns its output lines.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { basename } from "node:path";
import type { Net2banConfig } from "@net2ban/config";
import type { Net2banMessage } from "@net2ban/protocol";
import { UsageError } from "@net2ban/runtime";

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
  return prepareUpdate(path, text);
}

export function senderName(): string {
  return `net2banctl@${hostname()}`;
}

/**
 * Seals one request for the server and publishes it to the input queue; resolves once the broker
 * confirmed it. Modules are imported here, not at start-up: only publishing commands pay for them.
 */
export async function publishRequest(config: Net2banConfig, message: Net2banMessage): Promise<void> {
  const server = config.server;
  if (server === undefined) {
    throw new UsageError(
      `${config.path}: [server] key: missing; net2banctl needs the [server] section to send`,
    );
  }
  const [{ createCodec }, { connectBroker }] = await Promise.all([
    import("@net2ban/protocol"),
    import("@net2ban/transport"),
  ]);
  const codec = await createCodec({
    protocol: server.protocol,
    keyId: "server",
    direction: "to-server",
    keys: server,
  });
  const body = codec.seal(message);
  const tls = config.broker.tls;
  const broker = await connectBroker({
    urls: config.broker.urls,
    ...(tls === undefined ? {} : { tls: await readTls(tls) }),
    heartbeatSeconds: config.broker.heartbeatSeconds,
    connectionName: senderName(),
    logger: silentLogger,
    recover: false,
  });
  try {
    await broker.publish(server.queue, body, "id" in message ? { messageId: message.id } : {});
  } finally {
    await broker.close();
  }
}

async function readTls(files: { ca?: string; cert?: string; key?: string }) {
  return {
    ...(files.ca === undefined ? {} : { ca: await readFile(files.ca) }),
    ...(files.cert === undefined ? {} : { cert: await readFile(files.cert) }),
    ...(files.key === undefined ? {} : { key: await readFile(files.key) }),
  };
}

const noop = () => undefined;
/** net2banctl reports through its exit code and one stderr line, not through a log. */
const silentLogger = { debug: noop, info: noop, warn: noop, error: noop };
