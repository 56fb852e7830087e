// A request whose copy the broker refused because a queue is full (its `overflow: reject-publish` bound):
// it is not acknowledged, not dead-lettered, and comes back after a pause, until the queue has room again.
import type { Logger } from "@net2ban/runtime";
import { PublishBatchError, PublishError, type Verdict } from "@net2ban/transport";

/** Pause before a held-back request is handed back to the broker (it comes back at once otherwise). */
export const HOLD_BACK_PAUSE_MS = 1000;

/** The queues that refused a copy of `error`'s publish (nack), or undefined if it failed otherwise. */
export function fullQueues(error: unknown): string[] | undefined {
  if (!(error instanceof PublishError)) return undefined;
  const failures = error instanceof PublishBatchError ? error.failures : [error];
  const nacked = failures.filter((failure) => failure.reason === "nacked").map((failure) => failure.queue);
  return nacked.length > 0 ? [...new Set(nacked)] : undefined;
}

/**
 * "requeue" after a pause, with one warn line, when the broker refused a copy (a full queue); undefined
 * for any other error, which the caller rethrows. A nack is not the handler failing: the transport would
 * dead-letter a request that failed twice, and a ban must not end up in `.dead` because a queue was full.
 */
export async function holdBack(
  error: unknown,
  context: { id: string; logger: Logger; pauseMs?: number },
): Promise<Verdict | undefined> {
  const queues = fullQueues(error);
  if (queues === undefined) return undefined;
  context.logger.warn(
    { id: context.id, queues },
    `RabbitMQ refused a copy for ${queues.join(", ")} (queue full): request ${context.id} held back and retried`,
  );
  await new Promise((resolve) => setTimeout(resolve, context.pauseMs ?? HOLD_BACK_PAUSE_MS));
  return "requeue";
}
