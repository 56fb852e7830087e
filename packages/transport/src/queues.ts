// Queue declarations: which arguments a QueueSpec becomes, the dead-letter queue beside it,
// and what a PRECONDITION_FAILED reply says about an existing queue.

import { assertInteger, assertNonEmptyString, assertObject, assertOneOf } from "./assert.js";
import type { QueueMismatchDetail } from "./errors.js";
import type { QueueSpec } from "./types.js";

export const QUEUE_TYPES = ["classic", "quorum"] as const;
export const DEFAULT_DELIVERY_LIMIT = 20;
/** Suffix of the queue that keeps messages a consumer rejected (or the broker gave up on). */
export const DEAD_LETTER_SUFFIX = ".dead";

/** AMQP short strings are at most 255 bytes; `amq.` names are reserved by the broker. */
export function assertQueueName(value: unknown, argument: string): asserts value is string {
  assertNonEmptyString(value, argument);
  const bytes = Buffer.byteLength(value);
  if (bytes > 255) throw new RangeError(`"${argument}" expected at most 255 bytes, got ${bytes}`);
  if (value.startsWith("amq."))
    throw new RangeError(`"${argument}" must not start with the reserved prefix "amq."`);
}

export function assertQueueSpec(value: unknown, argument: string): asserts value is QueueSpec {
  assertObject(value, argument);
  assertQueueName(value["name"], `${argument}.name`);
  if (value["queueType"] !== undefined) assertOneOf(value["queueType"], QUEUE_TYPES, `${argument}.queueType`);
  if (value["exclusive"] !== undefined) {
    if (typeof value["exclusive"] !== "boolean") {
      throw new TypeError(`"${argument}.exclusive" expected a boolean`);
    }
    if (value["exclusive"] && value["queueType"] === "quorum") {
      throw new TypeError(
        `"${argument}.exclusive" needs a classic queue (quorum queues cannot be exclusive)`,
      );
    }
  }
  if (value["deliveryLimit"] !== undefined) {
    assertInteger(value["deliveryLimit"], `${argument}.deliveryLimit`, 1, 1_000_000);
    if (value["queueType"] !== "quorum") {
      throw new TypeError(
        `"${argument}.deliveryLimit" needs queueType "quorum" (classic queues have no delivery limit)`,
      );
    }
  }
}

export function deadLetterQueueName(queue: string): string {
  return `${queue}${DEAD_LETTER_SUFFIX}`;
}

/** What is sent in queue.declare: durable always; arguments only for quorum queues. */
export interface QueueDeclaration {
  name: string;
  arguments: Record<string, unknown> | undefined;
  /** Exclusive to the connection and deleted with it (a reply queue); absent for durable queues. */
  exclusive?: true;
}

/**
 * Classic queues get no arguments at all, so queues the Python net2ban declared with
 * `queue_declare(queue=name, durable=True)` are declared equivalently and keep working.
 * Quorum queues count deliveries and dead-letter to `<name>.dead` once the limit is reached, so a
 * message that crashes every consumer stops circulating.
 */
export function queueDeclaration(spec: QueueSpec): QueueDeclaration {
  if (spec.exclusive === true) return { name: spec.name, arguments: undefined, exclusive: true };
  if (spec.queueType !== "quorum") return { name: spec.name, arguments: undefined };
  return {
    name: spec.name,
    arguments: {
      "x-queue-type": "quorum",
      "x-delivery-limit": spec.deliveryLimit ?? DEFAULT_DELIVERY_LIMIT,
      "x-dead-letter-exchange": "",
      "x-dead-letter-routing-key": deadLetterQueueName(spec.name),
    },
  };
}

/** The dead-letter queue of a queue: same type, no limit and no dead-lettering of its own. */
export function deadLetterDeclaration(spec: QueueSpec): QueueDeclaration {
  return {
    name: deadLetterQueueName(spec.name),
    arguments: spec.queueType === "quorum" ? { "x-queue-type": "quorum" } : undefined,
  };
}

/** The declarations a spec needs, dead-letter queue first so dead-lettering never targets a missing queue. */
export function declarationsFor(spec: QueueSpec): QueueDeclaration[] {
  return spec.queueType === "quorum"
    ? [deadLetterDeclaration(spec), queueDeclaration(spec)]
    : [queueDeclaration(spec)];
}

/** How a declaration reads to an operator, for QueueMismatchError. */
export function describeDeclaration(declaration: QueueDeclaration): string {
  const args = declaration.arguments;
  if (args === undefined) return "a durable classic queue without arguments";
  if (args["x-queue-type"] !== "quorum") return "a durable queue with arguments";
  const limit = args["x-delivery-limit"];
  return limit === undefined
    ? "a durable quorum queue"
    : `a durable quorum queue (delivery limit ${String(limit)})`;
}

const MISMATCH =
  /inequivalent arg '([^']+)' for queue '(?:[^']|'(?! in vhost))*' in vhost '[^']*': received (.+?) but current is (.+)$/;

function mismatchValue(text: string): string {
  const trimmed = text.trim().replace(/"$/, "");
  if (trimmed === "none") return "none";
  const quoted = /'([^']*)'/.exec(trimmed);
  return quoted?.[1] ?? trimmed;
}

/** Reads RabbitMQ's "inequivalent arg 'x' ... received A but current is B" reply; {} if it says something else. */
export function parseQueueMismatch(brokerMessage: string): QueueMismatchDetail {
  const match = MISMATCH.exec(brokerMessage);
  if (match === null) return {};
  return { argument: match[1]!, requested: mismatchValue(match[2]!), existing: mismatchValue(match[3]!) };
}
