// Error classes of the transport, one per condition, so callers can branch with instanceof.

import { redactUrl } from "./url.js";

/** Base of every error this package throws on purpose; catch it to catch them all. */
export class TransportError extends Error {
  override name = "TransportError";
}

/** The AMQP reply code of a channel or connection error from amqplib (404 not found, 406 mismatch, ...). */
export function replyCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "number" ? code : undefined;
}

/** One line describing an error from amqplib or node:net (AggregateError from dual-stack connects has no message). */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    const inner = [...new Set(error.errors.map((e) => describeError(e)))];
    return oneLine(error.message === "" ? inner.join("; ") : `${error.message}: ${inner.join("; ")}`);
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (error.message !== "") return oneLine(error.message);
    return typeof code === "string" ? code : error.name;
  }
  return oneLine(String(error));
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

export interface ConnectAttempt {
  /** The URL tried, password masked. */
  url: string;
  /** Why it failed, one line. */
  reason: string;
}

/**
 * No node of the broker could be reached (or the connection was lost and recovery is off).
 * The message is one line naming every URL tried (passwords masked) and why each failed.
 */
export class BrokerUnavailableError extends TransportError {
  override name = "BrokerUnavailableError";
  readonly attempts: readonly ConnectAttempt[];

  constructor(failures: readonly { url: string; error: unknown }[], options?: { lost?: boolean }) {
    const attempts = failures.map(({ url, error }) => ({
      url: redactUrl(url),
      reason: describeError(error),
    }));
    const listed = attempts.map((a) => `${a.url} (${a.reason})`).join(", ");
    const message = options?.lost
      ? `RabbitMQ unavailable: connection to ${listed} lost and recovery is off`
      : `RabbitMQ unavailable: tried ${listed}`;
    const last = failures.at(-1)?.error;
    super(message, last === undefined ? undefined : { cause: last });
    this.attempts = attempts;
  }
}

/** refused: RabbitMQ closed the channel over it (ACCESS_REFUSED, no such exchange): retrying will not help. */
export type PublishFailure = "nacked" | "returned" | "refused" | "connection-lost" | "timeout" | "closed";

/** A publish was not confirmed by the broker; nothing is retried here, the caller decides. */
export class PublishError extends TransportError {
  override name = "PublishError";
  readonly queue: string;
  readonly messageId: string | undefined;
  readonly reason: PublishFailure;

  constructor(
    queue: string,
    reason: PublishFailure,
    detail: string,
    options?: { messageId?: string | undefined; cause?: unknown },
  ) {
    const id = options?.messageId === undefined ? "" : ` (message ${options.messageId})`;
    super(
      `publish to queue "${queue}"${id} failed: ${oneLine(detail)}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.queue = queue;
    this.messageId = options?.messageId;
    this.reason = reason;
  }
}

/** Several publishes of one publishAll failed; `failures` lists each, so the caller can retry just those. */
export class PublishBatchError extends PublishError {
  override name = "PublishBatchError";
  readonly failures: readonly PublishError[];

  constructor(failures: readonly PublishError[], total: number) {
    const first = failures[0]!;
    super(first.queue, first.reason, "", { messageId: first.messageId, cause: first });
    this.message = `${failures.length} of ${total} publishes failed; first: ${first.message}`;
    this.failures = failures;
  }
}

export interface QueueMismatchDetail {
  /** The first queue argument the broker found different, e.g. `x-queue-type` or `durable`. */
  argument?: string;
  /** What net2ban asked for. */
  requested?: string;
  /** What the existing queue has. */
  existing?: string;
  /** How net2ban declares the queue, e.g. "a durable quorum queue (delivery limit 20)". */
  declaredAs?: string;
}

function shown(value: string | undefined): string {
  if (value === undefined) return "?";
  return value === "" ? "''" : value;
}

/**
 * The queue exists with other arguments or another type (PRECONDITION_FAILED on declare).
 * RabbitMQ cannot change a queue's type in place: the operator has to delete it or align the config.
 * The broker names only the first argument it found different, which for a classic-vs-quorum clash may be
 * a dead-letter argument rather than x-queue-type, so the message also says how net2ban declares the queue.
 */
export class QueueMismatchError extends TransportError {
  override name = "QueueMismatchError";
  readonly queue: string;
  readonly argument: string | undefined;
  readonly requested: string | undefined;
  readonly existing: string | undefined;

  constructor(queue: string, detail: QueueMismatchDetail, options?: { cause?: unknown }) {
    const what =
      detail.argument === undefined
        ? "other settings"
        : `other settings (${detail.argument} is ${shown(detail.existing)} there, net2ban asks for ${shown(detail.requested)})`;
    const declared = detail.declaredAs === undefined ? "" : `; net2ban declares it as ${detail.declaredAs}`;
    super(
      `queue "${queue}" already exists with ${what}${declared}; delete the queue or change the configuration to match`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.queue = queue;
    this.argument = detail.argument;
    this.requested = detail.requested;
    this.existing = detail.existing;
  }
}

/** An operation was called after close(). */
export class BrokerClosedError extends TransportError {
  override name = "BrokerClosedError";

  constructor(operation: string) {
    super(`${operation}: the broker connection is closed (close() was called)`);
  }
}

/** The broker refused a queue operation for another reason (access, reserved name, ...). */
export class QueueOperationError extends TransportError {
  override name = "QueueOperationError";
  readonly queue: string;

  constructor(queue: string, operation: string, cause: unknown) {
    super(`${operation} of queue "${queue}" failed: ${describeError(cause)}`, { cause });
    this.queue = queue;
  }
}
