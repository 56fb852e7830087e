// What `net2banctl check-config` asks of the broker: which nodes answer, and whether each queue net2ban
// would use exists with the configured type. Reads only: an existing queue is declared again with the
// declaration net2ban uses (a no-op when equivalent), a missing one is never created.

import amqp, { type Channel, type ChannelModel } from "amqplib";
import { assertInteger, assertObject, assertPem } from "./assert.js";
import { describeError, replyCode } from "./errors.js";
import { assertQueueSpec, parseQueueMismatch, QUEUE_TYPES, queueDeclaration } from "./queues.js";
import type { BrokerOptions, QueueSpec } from "./types.js";
import { assertBrokerUrl, redactUrl } from "./url.js";

export interface InspectOptions {
  /** The nodes of one cluster; each is tried on its own. */
  urls: string[];
  tls?: BrokerOptions["tls"];
  /** The queues to look at, with the type the configuration gives them. */
  queues: QueueSpec[];
  /** Limit for each connection attempt and each queue operation, ms (default 5000). */
  timeoutMs?: number;
  connectionName?: string;
}

export interface NodeStatus {
  /** Password masked. */
  url: string;
  answers: boolean;
  /** Why it did not answer, one line. */
  reason?: string;
  /** "RabbitMQ 3.10.8", from the server properties. */
  version?: string;
  /** The cluster name the node reports. */
  cluster?: string;
}

/**
 * - classic / quorum: exists with that type.
 * - missing: does not exist yet (net2ban-server or the agent declares it with the configured type).
 * - unavailable: exists but cannot be used now (a classic queue whose node is down).
 * - unknown: exists, but its type could not be told (no node answered, access refused, other arguments).
 */
export type ExistingQueueType = "classic" | "quorum" | "missing" | "unavailable" | "unknown";

export interface QueueStatus {
  name: string;
  configured: "classic" | "quorum";
  existing: ExistingQueueType;
  /** false only when the queue exists with another type or other arguments than net2ban declares. */
  matches: boolean;
  messages?: number;
  consumers?: number;
  /** What RabbitMQ said, when it refused something. */
  detail?: string;
}

export interface BrokerInspection {
  nodes: NodeStatus[];
  queues: QueueStatus[];
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Connects to each node, then looks at every queue through the first one that answered. */
export async function inspectBroker(options: InspectOptions): Promise<BrokerInspection> {
  assertObject(options, "options");
  if (!Array.isArray(options.urls) || options.urls.length === 0)
    throw new TypeError(`"options.urls" expected a non-empty array of amqp(s):// URLs`);
  options.urls.forEach((url, i) => {
    assertBrokerUrl(url, `options.urls[${i}]`);
  });
  if (!Array.isArray(options.queues))
    throw new TypeError(`"options.queues" expected an array of queue specs`);
  options.queues.forEach((spec, i) => {
    assertQueueSpec(spec, `options.queues[${i}]`);
  });
  const timeoutMs = options.timeoutMs ?? 5000;
  assertInteger(timeoutMs, "options.timeoutMs", 1, 600_000);
  const socketOptions: Record<string, unknown> = { timeout: timeoutMs };
  if (options.connectionName !== undefined)
    socketOptions["clientProperties"] = { connection_name: options.connectionName };
  for (const key of ["ca", "cert", "key"] as const) {
    const pem = options.tls?.[key];
    if (pem === undefined) continue;
    assertPem(pem, `options.tls.${key}`);
    socketOptions[key] = pem;
  }

  const connections = await Promise.all(
    options.urls.map(async (url) => {
      try {
        const model = await withTimeout(amqp.connect(url, socketOptions), timeoutMs, "connect");
        model.on("error", () => {
          // Reported through the operations that fail.
        });
        return { url, model };
      } catch (error) {
        return { url, error };
      }
    }),
  );
  try {
    const nodes = connections.map((c): NodeStatus => {
      if (!("model" in c) || c.model === undefined) {
        return { url: redactUrl(c.url), answers: false, reason: describeError(c.error) };
      }
      const properties = (c.model.connection as unknown as { serverProperties?: Record<string, unknown> })
        .serverProperties;
      const product = typeof properties?.["product"] === "string" ? properties["product"] : "RabbitMQ";
      const version = typeof properties?.["version"] === "string" ? properties["version"] : undefined;
      const cluster = properties?.["cluster_name"];
      return {
        url: redactUrl(c.url),
        answers: true,
        ...(version === undefined ? {} : { version: `${product} ${version}` }),
        ...(typeof cluster === "string" ? { cluster } : {}),
      };
    });
    const live = connections.find((c): c is { url: string; model: ChannelModel } => "model" in c);
    const queues: QueueStatus[] = [];
    for (const spec of options.queues) {
      const configured = spec.queueType ?? "classic";
      if (live === undefined) {
        queues.push({
          name: spec.name,
          configured,
          existing: "unknown",
          matches: true,
          detail: "no node answered",
        });
        continue;
      }
      queues.push(await inspectQueue(live.model, spec, timeoutMs));
    }
    return { nodes, queues };
  } finally {
    await Promise.allSettled(
      connections.map((c) => ("model" in c && c.model !== undefined ? c.model.close() : undefined)),
    );
  }
}

/** Runs one queue operation on its own channel (a refusal closes the channel it happened on). */
async function onChannel<T>(
  model: ChannelModel,
  timeoutMs: number,
  what: string,
  operation: (channel: Channel) => Promise<T>,
): Promise<T> {
  const channel = await withTimeout(model.createChannel(), timeoutMs, "open a channel");
  channel.on("error", () => {
    // The refusal also rejects the operation, which is where it is reported.
  });
  try {
    return await withTimeout(operation(channel), timeoutMs, what);
  } finally {
    await channel.close().catch(() => {});
  }
}

async function inspectQueue(model: ChannelModel, spec: QueueSpec, timeoutMs: number): Promise<QueueStatus> {
  const name = spec.name;
  const configured = spec.queueType ?? "classic";
  const base = { name, configured };
  let counts: { messages: number; consumers: number };
  try {
    const ok = await onChannel(model, timeoutMs, "passive check", (ch) => ch.checkQueue(name));
    counts = { messages: ok.messageCount, consumers: ok.consumerCount };
  } catch (error) {
    const said = describeError(error);
    if (replyCode(error) === 404 && /home node .* is down/.test(said)) {
      return { ...base, existing: "unavailable", matches: true, detail: said };
    }
    if (replyCode(error) === 404) return { ...base, existing: "missing", matches: true };
    return { ...base, existing: "unknown", matches: true, detail: said };
  }
  const declare = (args: Record<string, unknown> | undefined) =>
    onChannel(model, timeoutMs, "declare", (ch) =>
      ch.assertQueue(name, { durable: true, ...(args === undefined ? {} : { arguments: args }) }),
    );
  try {
    await declare(queueDeclaration(spec).arguments);
    return { ...base, existing: configured, matches: true, ...counts };
  } catch (error) {
    const said = describeError(error);
    if (replyCode(error) !== 406)
      return { ...base, existing: "unknown", matches: true, detail: said, ...counts };
    const existing = await existingType(name, configured, said, declare);
    return { ...base, existing, matches: false, detail: said, ...counts };
  }
}

/**
 * Which type an existing queue has, from how RabbitMQ answers the other type's declaration. It names
 * only the first argument it finds different, so x-queue-type itself is read when it is named, and a
 * queue that accepts net2ban's declaration of the other type has that type.
 */
async function existingType(
  name: string,
  configured: "classic" | "quorum",
  refusal: string,
  declare: (args: Record<string, unknown> | undefined) => Promise<unknown>,
): Promise<ExistingQueueType> {
  const told = typeFromMismatch(refusal);
  if (told !== undefined) return told;
  const other = QUEUE_TYPES.find((t) => t !== configured)!;
  try {
    await declare(queueDeclaration({ name, queueType: other }).arguments);
    return other;
  } catch (error) {
    return typeFromMismatch(describeError(error)) ?? "unknown";
  }
}

/** The type a PRECONDITION_FAILED reply gives away, if it does. */
function typeFromMismatch(said: string): "classic" | "quorum" | "unknown" | undefined {
  const detail = parseQueueMismatch(said);
  if (detail.argument === "x-queue-type") {
    if (detail.existing === "quorum") return "quorum";
    return detail.existing === "none" || detail.existing === "classic" ? "classic" : "unknown";
  }
  // Only quorum queues count deliveries: a clash on the limit is a quorum queue with another limit.
  if (detail.argument === "x-delivery-limit") return "quorum";
  return undefined;
}
