// Length and size bounds on every queue net2ban uses, as RabbitMQ policies that `net2banctl
// rabbitmq-setup` writes beside the logins. A queue nobody drains (an agent's `.dead`, which its own login
// may publish to; an agent that is down) would otherwise grow until RabbitMQ's memory or disk alarm blocks
// every publisher of the fleet. Policies, not queue arguments: classic queues are declared without
// arguments so that queues the Python net2ban declared keep working, and a policy applies to existing
// queues without redeclaring them.
import type { Net2banConfig } from "@net2ban/config";
import { UsageError } from "@net2ban/runtime";
import { literal, type RabbitmqctlCall } from "./rabbitmq-setup.js";

export interface QueueBounds {
  /** Messages in the input, results and agent queues (and net2banctl's reply queues). */
  maxLength: number;
  /** Bytes of message bodies in each of those. */
  maxBytes: number;
  /** Messages in each `.dead` queue. */
  deadMaxLength: number;
  /** Bytes of message bodies in each `.dead` queue. */
  deadMaxBytes: number;
}

/** Bounds as options give them: those left undefined keep their defaults. */
export type QueueBoundsInput = { [K in keyof QueueBounds]?: number | undefined };

/**
 * Far above any backlog of a working fleet (a 100,000-ban burst is one message per ban per queue), far
 * below what fills a broker's memory or disk: a full queue means a consumer is gone or a login floods.
 */
export const DEFAULT_QUEUE_BOUNDS: QueueBounds = {
  maxLength: 1_000_000,
  maxBytes: 1024 * 1024 * 1024,
  deadMaxLength: 10_000,
  deadMaxBytes: 64 * 1024 * 1024,
};

export interface QueuePolicy {
  name: string;
  pattern: string;
  /** RabbitMQ applies the one policy of highest priority that matches a queue. */
  priority: number;
  definition: Record<string, string | number>;
}

function assertBound(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${what}: expected a whole number >= 1, got ${String(value)}`);
  }
}

/**
 * Two policies over net2ban's queue names:
 * - work queues (input, results, every queue under queue_prefix: agents, reply queues, clients added
 *   later): `reject-publish`. A full queue refuses the publish, so the publisher's confirm is nacked and
 *   nothing is dropped: the server holds the request back (unacknowledged, retried), net2banctl exits 1
 *   (fail2ban logs the failed action), an agent's result is lost and its next digest repairs it.
 * - `.dead` queues: `drop-head`. Nothing reads them; they keep for the operator copies of messages
 *   already refused for good (each logged when refused). Refusing a dead-letter copy would make the
 *   consumer requeue the refused message instead, which then circulates for ever; dropping the oldest
 *   copy keeps the newest evidence and never blocks a consumer.
 */
export function queueBoundPolicies(
  config: Net2banConfig,
  bounds: QueueBounds = DEFAULT_QUEUE_BOUNDS,
): QueuePolicy[] {
  assertBound(bounds.maxLength, "--queue-max-length");
  assertBound(bounds.maxBytes, "--queue-max-bytes");
  assertBound(bounds.deadMaxLength, "--dead-max-length");
  assertBound(bounds.deadMaxBytes, "--dead-max-bytes");
  const server = config.server;
  const names = [
    ...(server === undefined ? [] : [literal(server.queue)]),
    literal(config.state.resultsQueue),
    `${literal(config.queuePrefix)}.*`,
  ];
  const queues = [...new Set(names)].join("|");
  return [
    {
      name: "net2ban-queues",
      pattern: `^(${queues})$`,
      priority: 10,
      definition: {
        "max-length": bounds.maxLength,
        "max-length-bytes": bounds.maxBytes,
        overflow: "reject-publish",
      },
    },
    {
      name: "net2ban-dead",
      pattern: `^(${queues})\\.dead$`,
      priority: 11,
      definition: {
        "max-length": bounds.deadMaxLength,
        "max-length-bytes": bounds.deadMaxBytes,
        overflow: "drop-head",
      },
    },
  ];
}

/** `rabbitmqctl set_policy` for each policy (setting it again replaces it: running it twice is safe). */
export function policyCalls(
  vhost: string,
  policies: readonly QueuePolicy[],
  nodeName?: string,
): RabbitmqctlCall[] {
  return policies.map((policy) => ({
    args: [
      ...(nodeName === undefined ? [] : ["-n", nodeName]),
      "set_policy",
      "-p",
      vhost,
      "--priority",
      String(policy.priority),
      "--apply-to",
      "queues",
      policy.name,
      policy.pattern,
      JSON.stringify(policy.definition),
    ],
  }));
}
