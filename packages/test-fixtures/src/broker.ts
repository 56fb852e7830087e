// Broker fixtures for integration tests: which broker to use, a clear failure when it is down,
// queue-name prefixes that keep parallel tests apart, and deleting what a test created.

import { randomBytes } from "node:crypto";
import amqp from "amqplib";
import { runCommand, tail } from "./exec.js";
import { errorText } from "./wait.js";

export const DEFAULT_TEST_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/";

/** The shared test broker: NET2BAN_TEST_AMQP_URL, else the local RabbitMQ with guest/guest. */
export function brokerUrl(): string {
  return process.env["NET2BAN_TEST_AMQP_URL"] ?? DEFAULT_TEST_AMQP_URL;
}

function hostPort(url: string): string {
  try {
    const parsed = new URL(url);
    const port = parsed.port === "" ? (parsed.protocol === "amqps:" ? "5671" : "5672") : parsed.port;
    return `${parsed.hostname}:${port}`;
  } catch {
    return "<unparseable NET2BAN_TEST_AMQP_URL>";
  }
}

/**
 * For beforeAll: resolves when the broker accepts an AMQP login, otherwise throws
 * "RabbitMQ is not answering on 127.0.0.1:5672: start it with `rabbitmq-server -detached` (...)".
 * Integration tests fail with this instead of hanging or skipping.
 */
export async function requireBroker(url: string = brokerUrl(), { timeoutMs = 5_000 } = {}): Promise<void> {
  try {
    const connection = await amqp.connect(url, { timeout: timeoutMs });
    connection.on("error", () => {});
    await connection.close();
  } catch (error) {
    throw new Error(
      `RabbitMQ is not answering on ${hostPort(url)}: start it with \`rabbitmq-server -detached\` ` +
        `(or set NET2BAN_TEST_AMQP_URL) (${errorText(error).replace(/\s+/g, " ")})`,
      { cause: error },
    );
  }
}

/** `n2bt-<label>-<8 hex>-`: a queue-name prefix no other test run shares. */
export function uniquePrefix(label: string): string {
  const safe = label.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40);
  return `n2bt-${safe}-${randomBytes(4).toString("hex")}-`;
}

function isLoopback(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === "127.0.0.1" || host === "localhost" || host === "[::1]";
  } catch {
    return false;
  }
}

/** Queue names on a local node (the shared one unless `node` names a private node), via rabbitmqctl. */
export async function listQueueNames(options: { node?: string; vhost?: string } = {}): Promise<string[]> {
  const args = [
    ...(options.node === undefined ? [] : ["-n", options.node]),
    "list_queues",
    "-q",
    "--no-table-headers",
    "-p",
    options.vhost ?? "/",
    "name",
  ];
  const result = await runCommand("rabbitmqctl", args, { timeoutMs: 30_000 });
  if (!result.ok) {
    throw new Error(
      `rabbitmqctl list_queues failed (${result.failure}): ${tail(result.stderr || result.stdout, 5)}`,
    );
  }
  return result.stdout
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
}

export interface CleanupOptions {
  url?: string;
  /** Queues to delete besides those rabbitmqctl lists with the prefix (needed for a remote broker). */
  names?: readonly string[];
  /** Private node name for rabbitmqctl -n. */
  node?: string;
}

/**
 * Deletes every queue whose name starts with `prefix` (listed with rabbitmqctl when the broker is local)
 * plus `names`. Returns what it deleted.
 */
export async function cleanupQueues(prefix: string, options: CleanupOptions = {}): Promise<string[]> {
  if (prefix.length < 6)
    throw new Error(`cleanupQueues: refusing the short prefix ${JSON.stringify(prefix)}`);
  const url = options.url ?? brokerUrl();
  const listed =
    isLoopback(url) || options.node !== undefined
      ? (await listQueueNames(options.node === undefined ? {} : { node: options.node })).filter((n) =>
          n.startsWith(prefix),
        )
      : [];
  const names = [...new Set([...listed, ...(options.names ?? [])])];
  if (names.length === 0) return [];
  const connection = await amqp.connect(url, { timeout: 5_000 });
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    for (const name of names) await channel.deleteQueue(name);
    await channel.close();
  } finally {
    await connection.close().catch(() => {});
  }
  return names;
}
