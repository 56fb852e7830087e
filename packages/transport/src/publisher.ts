// Confirmed publishing on one confirm channel: waits for buffer room ('drain'), matches broker returns
// (mandatory publishes to a missing queue) to their publish, and turns every outcome into resolve/PublishError.

import type { ConfirmChannel, Message, Options } from "amqplib";
import { describeError, PublishError } from "./errors.js";
import type { TransportLogger } from "./types.js";

interface InFlightPublish {
  queue: string;
  messageId: string | undefined;
  body: Buffer;
  /** Set when the broker returned the message: it reached no queue. */
  returned?: string;
}

export interface PublishProperties {
  messageId?: string | undefined;
  headers?: Record<string, unknown> | undefined;
  /** Further AMQP properties, used when copying a message to a dead-letter queue. */
  extra?: Options.Publish | undefined;
  /** Named exchange to publish through (routing key: the queue's name); default exchange when absent. */
  exchange?: string | undefined;
}

export class ConfirmPublisher {
  readonly #channel: ConfirmChannel;
  readonly #logger: TransportLogger;
  /** In publish order: a Set iterates in insertion order, which return matching relies on. */
  readonly #inFlight = new Set<InFlightPublish>();
  readonly #confirms = new Set<Promise<void>>();
  #roomForMore: Promise<void> | null = null;
  #closed = false;
  #retired = false;
  /** What RabbitMQ said when it closed this channel (it names the refused exchange and login). */
  #closedBy: Error | undefined;

  constructor(channel: ConfirmChannel, logger: TransportLogger) {
    this.#channel = channel;
    this.#logger = logger;
    channel.on("return", (message: Message) => this.#onReturn(message));
    channel.on("close", () => {
      this.#closed = true;
    });
    channel.on("error", (error: Error) => {
      this.#closedBy = error;
      logger.warn({ err: describeError(error) }, "RabbitMQ publish channel error");
    });
    channel.on("handler-error", (error: Error, event: string) => {
      logger.error({ err: describeError(error), event }, "error in a publish channel listener");
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Set after a nack: the link publishes on a fresh channel from then on. RabbitMQ 3.10 keeps nacking every
   * later publish to a quorum queue on a channel that first published to it while the queue was electing a
   * leader (a node had just died); a new channel gets the new leader (cluster.int.test.ts found it).
   */
  get retired(): boolean {
    return this.#retired;
  }

  /** Publishes one persistent, mandatory message (default exchange unless named); resolves once confirmed. */
  async send(queue: string, body: Buffer, properties: PublishProperties): Promise<void> {
    // A full buffer means the socket is slower than we publish: hold new messages until it drains.
    while (this.#roomForMore !== null) await this.#roomForMore;
    const messageId = properties.messageId;
    if (this.#closed) {
      throw new PublishError(queue, "connection-lost", "the connection to RabbitMQ was lost before sending", {
        messageId,
      });
    }
    const record: InFlightPublish = { queue, messageId, body };
    const confirmed = new Promise<void>((resolve, reject) => {
      const onConfirm = (error: unknown) => {
        this.#inFlight.delete(record);
        if (error !== null && error !== undefined) {
          const failure = this.#confirmFailure(queue, messageId, error);
          if (failure.reason === "nacked" && !this.#retired) {
            this.#retired = true;
            this.#logger.warn(
              { queue, messageId },
              "RabbitMQ nacked a publish; later publishes use a new channel",
            );
          }
          reject(failure);
        } else if (record.returned !== undefined) {
          reject(
            new PublishError(
              queue,
              "returned",
              `no queue took it: returned by the broker (${record.returned}); the queue does not exist, or it is a classic queue whose node is down`,
              { messageId },
            ),
          );
        } else {
          resolve();
        }
      };
      const options: Options.Publish = {
        ...properties.extra,
        persistent: true,
        mandatory: true,
        ...(messageId === undefined ? {} : { messageId }),
        ...(properties.headers === undefined ? {} : { headers: properties.headers }),
      };
      this.#inFlight.add(record);
      let hasRoom: boolean;
      try {
        hasRoom = this.#channel.publish(properties.exchange ?? "", queue, body, options, onConfirm);
      } catch (error) {
        // amqplib throws synchronously once the channel is closed.
        this.#inFlight.delete(record);
        reject(new PublishError(queue, "connection-lost", describeError(error), { messageId, cause: error }));
        return;
      }
      if (!hasRoom) this.#waitForDrain();
    });
    this.#confirms.add(confirmed);
    const forget = () => this.#confirms.delete(confirmed);
    confirmed.then(forget, forget);
    return confirmed;
  }

  /**
   * Why a publish got no confirm. When RabbitMQ closed the channel over it (403 access refused, 404 no
   * such exchange) retrying cannot help, so that is reported as a refusal, in RabbitMQ's words.
   */
  #confirmFailure(queue: string, messageId: string | undefined, error: unknown): PublishError {
    const lost = this.#closed || (error instanceof Error && error.message === "channel closed");
    if (!lost) {
      return new PublishError(queue, "nacked", "the broker refused the message (nack)", {
        messageId,
        cause: error,
      });
    }
    const code = (this.#closedBy as { code?: unknown } | undefined)?.code;
    if (code === 403 || code === 404) {
      const said = describeError(this.#closedBy).replace(/^Channel closed by server: /, "");
      return new PublishError(queue, "refused", `RabbitMQ refused it: ${said}`, {
        messageId,
        cause: this.#closedBy,
      });
    }
    return new PublishError(
      queue,
      "connection-lost",
      "the connection to RabbitMQ was lost before the confirm",
      {
        messageId,
        cause: error,
      },
    );
  }

  /** Resolves once every publish sent so far is confirmed or failed. */
  async settled(): Promise<void> {
    while (this.#confirms.size > 0) await Promise.allSettled([...this.#confirms]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#channel.close();
    } catch {
      // Already closing with the connection: nothing left to release.
    }
  }

  #waitForDrain(): void {
    if (this.#roomForMore !== null) return;
    this.#roomForMore = new Promise<void>((resolve) => {
      const done = () => {
        this.#channel.off("drain", done);
        this.#channel.off("close", done);
        this.#roomForMore = null;
        resolve();
      };
      this.#channel.on("drain", done);
      this.#channel.on("close", done);
    });
  }

  /**
   * The broker sends basic.return before the confirm of the same message, so the return is matched to the
   * oldest unconfirmed publish with the same queue, message id and body (returns arrive in publish order).
   */
  #onReturn(message: Message): void {
    const fields = message.fields as Message["fields"] & { replyCode?: number; replyText?: string };
    const messageId: unknown = message.properties.messageId;
    for (const record of this.#inFlight) {
      if (
        record.returned === undefined &&
        record.queue === fields.routingKey &&
        record.messageId === (typeof messageId === "string" ? messageId : undefined) &&
        record.body.equals(message.content)
      ) {
        record.returned = `${fields.replyCode ?? "?"} ${fields.replyText ?? "returned"}`;
        return;
      }
    }
    this.#logger.warn(
      { queue: fields.routingKey },
      "RabbitMQ returned a message that matches no pending publish",
    );
  }
}
