// Named exchanges that route by queue name: each queue is bound under its own name, so publishing through
// the exchange with the queue's name as routing key reaches it, as the default exchange does, but only for
// the queues bound there. Least-privilege logins get write access to such an exchange instead of the
// default one, which would let them publish to every queue of the vhost.

import { assertBoolean, assertNonEmptyString, assertObject, assertOneOf } from "./assert.js";
import { assertQueueSpec, deadLetterDeclaration, declarationsFor, type QueueDeclaration } from "./queues.js";
import type { QueueBinding } from "./types.js";

/**
 * direct: exact routing (the input exchange). topic: also exact for names without `*`/`#` words, and
 * RabbitMQ applies per-user topic permissions to it, so a login can be limited to its own routing key.
 */
export const EXCHANGE_TYPES = ["direct", "topic"] as const;

/** RabbitMQ reserves `amq.` and allows 255 bytes; `""` (the default exchange) is not a name to bind to. */
export function assertExchangeName(value: unknown, argument: string): asserts value is string {
  assertNonEmptyString(value, argument);
  const bytes = Buffer.byteLength(value);
  if (bytes > 255) throw new RangeError(`"${argument}" expected at most 255 bytes, got ${bytes}`);
  if (value.startsWith("amq."))
    throw new RangeError(`"${argument}" must not start with the reserved prefix "amq."`);
}

export function assertQueueBinding(value: unknown, argument: string): asserts value is QueueBinding {
  assertObject(value, argument);
  assertExchangeName(value["exchange"], `${argument}.exchange`);
  assertOneOf(value["exchangeType"], EXCHANGE_TYPES, `${argument}.exchangeType`);
  assertQueueSpec(value["queue"], `${argument}.queue`);
  if (value["deadLetter"] !== undefined) assertBoolean(value["deadLetter"], `${argument}.deadLetter`);
}

/**
 * The queue declarations a binding needs, the bound one last: the queue itself (with its dead-letter queue
 * first when it is a quorum queue), or only its `<name>.dead` queue.
 */
export function bindingDeclarations(binding: QueueBinding): QueueDeclaration[] {
  return binding.deadLetter === true
    ? [deadLetterDeclaration(binding.queue)]
    : declarationsFor(binding.queue);
}

/** One binding per exchange and bound queue: binding the same pair twice replaces the first. */
export function bindingKey(binding: QueueBinding): string {
  const bound = bindingDeclarations(binding).at(-1)!.name;
  return `${binding.exchange}\u0000${bound}`;
}
