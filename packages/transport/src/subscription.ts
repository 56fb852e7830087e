// One consumer: manual acks after the handler, verdicts, poison-message handling, and re-subscription
// on each new connection. Deliveries are settled only on the channel they came from.

import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import { describeError, QueueOperationError } from "./errors.js";
import type { Consumer, Delivery, QueueSpec, TransportLogger, Verdict } from "./types.js";

const VERDICTS: readonly Verdict[] = ["ack", "reject", "requeue"];

/** What a subscription needs from the connection it lives on. */
export interface SubscriptionLink {
  readonly model: ChannelModel;
  /** Confirmed copy to `<queue>.dead` with x-net2ban-reason / x-net2ban-from headers. */
  deadLetter(spec: QueueSpec, message: ConsumeMessage, reason: string): Promise<void>;
}

interface ChannelState {
  readonly channel: Channel;
  readonly link: SubscriptionLink;
  open: boolean;
  consumerTag: string | null;
}

export class Subscription implements Consumer {
  readonly spec: QueueSpec;
  readonly #prefetch: number;
  readonly #handler: (delivery: Delivery) => Promise<Verdict>;
  readonly #logger: TransportLogger;
  readonly #onCancel: (subscription: Subscription) => void;
  readonly #inFlight = new Set<Promise<void>>();
  #current: ChannelState | null = null;
  #subscribing: { link: SubscriptionLink; done: Promise<void> } | null = null;
  #cancelled = false;
  #cancelling: Promise<void> | null = null;

  constructor(
    spec: QueueSpec,
    prefetch: number,
    handler: (delivery: Delivery) => Promise<Verdict>,
    logger: TransportLogger,
    onCancel: (subscription: Subscription) => void,
  ) {
    this.spec = spec;
    this.#prefetch = prefetch;
    this.#handler = handler;
    this.#logger = logger;
    this.#onCancel = onCancel;
  }

  /** Whether this consumer is live on that connection. */
  isSubscribedOn(link: SubscriptionLink): boolean {
    return this.#current !== null && this.#current.link === link && this.#current.open;
  }

  /** Subscribes on a fresh channel of `link`; a second call for the same link joins the first. */
  async subscribe(link: SubscriptionLink): Promise<void> {
    if (this.#cancelled || this.isSubscribedOn(link)) return;
    if (this.#subscribing?.link === link) return this.#subscribing.done;
    const done = this.#subscribeOn(link);
    this.#subscribing = { link, done };
    try {
      await done;
    } finally {
      if (this.#subscribing?.done === done) this.#subscribing = null;
    }
  }

  cancel(): Promise<void> {
    this.#cancelling ??= this.#cancel();
    return this.#cancelling;
  }

  async #cancel(): Promise<void> {
    this.#cancelled = true;
    this.#onCancel(this);
    await this.#subscribing?.done.catch(() => {});
    const state = this.#current;
    if (state !== null) await this.#stopConsuming(state);
    // A delivery may still arrive between basic.cancel and cancel-ok, so drain until quiet.
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    if (state?.open) {
      try {
        await state.channel.close();
      } catch {
        // The connection went away meanwhile: the broker requeues whatever was unacked.
      }
    }
    this.#logger.info({ queue: this.spec.name }, `stopped consuming ${this.spec.name}`);
  }

  async #subscribeOn(link: SubscriptionLink): Promise<void> {
    const channel = await link.model.createChannel();
    const state: ChannelState = { channel, link, open: true, consumerTag: null };
    const queue = this.spec.name;
    channel.on("close", () => {
      state.open = false;
    });
    channel.on("error", (error: Error) => {
      this.#logger.warn({ queue, err: describeError(error) }, "RabbitMQ consumer channel error");
    });
    channel.on("handler-error", (error: Error, event: string) => {
      this.#logger.error({ queue, err: describeError(error), event }, "error in a consumer channel listener");
    });
    try {
      await channel.prefetch(this.#prefetch);
      // Deliveries can arrive before consume() resolves, so the handler gets `state`, not this.#current.
      const ok = await channel.consume(queue, (message) => this.#onMessage(state, message), { noAck: false });
      state.consumerTag = ok.consumerTag;
    } catch (error) {
      if (state.open) channel.close().catch(() => {});
      throw new QueueOperationError(queue, "consume", error);
    }
    this.#current = state;
    if (this.#cancelled) await this.#stopConsuming(state);
    else this.#logger.info({ queue, prefetch: this.#prefetch }, `consuming ${queue}`);
  }

  async #stopConsuming(state: ChannelState): Promise<void> {
    if (!state.open || state.consumerTag === null) return;
    try {
      await state.channel.cancel(state.consumerTag);
    } catch (error) {
      this.#logger.debug({ queue: this.spec.name, err: describeError(error) }, "basic.cancel failed");
    }
  }

  #onMessage(state: ChannelState, message: ConsumeMessage | null): void {
    if (message === null) {
      this.#logger.error(
        { queue: this.spec.name },
        `RabbitMQ cancelled the consumer of ${this.spec.name} (queue deleted?); it resubscribes after the next reconnect`,
      );
      state.consumerTag = null;
      return;
    }
    // #handle catches the handler's errors; this catch is for a logger that throws, so nothing goes unhandled.
    const task = this.#handle(state, message).catch(() => {});
    this.#inFlight.add(task);
    task.then(() => this.#inFlight.delete(task));
  }

  async #handle(state: ChannelState, message: ConsumeMessage): Promise<void> {
    const delivery = toDelivery(message);
    const queue = this.spec.name;
    const context = { queue, messageId: delivery.messageId, deliveryTag: delivery.deliveryTag };
    let verdict: Verdict;
    let reason = "rejected by the handler";
    try {
      const returned: unknown = await this.#handler(delivery);
      if (!VERDICTS.includes(returned as Verdict)) {
        throw new TypeError(
          `handler returned ${JSON.stringify(returned)}, expected "ack", "reject" or "requeue"`,
        );
      }
      verdict = returned as Verdict;
    } catch (error) {
      // Once is a glitch; twice (the redelivery fails too) is a poison message: park it instead of looping.
      if (message.fields.redelivered) {
        verdict = "reject";
        reason = `handler failed on a redelivered message: ${describeError(error)}`;
        this.#logger.error(
          { ...context, err: describeError(error) },
          "handler failed again; dead-lettering the message",
        );
      } else {
        verdict = "requeue";
        this.#logger.warn({ ...context, err: describeError(error) }, "handler failed; message requeued once");
      }
    }
    // Delivery tags belong to their channel: after a reconnect the broker redelivers this message itself.
    if (!state.open) {
      this.#logger.info(
        { ...context, verdict },
        "channel closed before the message was settled; RabbitMQ redelivers it",
      );
      return;
    }
    if (verdict === "reject") {
      try {
        await state.link.deadLetter(this.spec, message, reason);
        this.#logger.warn({ ...context, reason }, `message moved to ${queue}.dead`);
      } catch (error) {
        this.#logger.error(
          { ...context, err: describeError(error) },
          "could not copy the message to its dead-letter queue; requeued instead",
        );
        verdict = "requeue";
      }
      if (!state.open) return;
    }
    try {
      if (verdict === "requeue") state.channel.nack(message, false, true);
      else state.channel.ack(message);
    } catch (error) {
      // The channel closed between the check and the call; the broker redelivers.
      this.#logger.info(
        { ...context, err: describeError(error) },
        "could not settle the message; RabbitMQ redelivers it",
      );
    }
  }
}

function toDelivery(message: ConsumeMessage): Delivery {
  const messageId: unknown = message.properties.messageId;
  const headers = message.properties.headers;
  return {
    body: message.content,
    ...(typeof messageId === "string" ? { messageId } : {}),
    redelivered: message.fields.redelivered,
    deliveryTag: message.fields.deliveryTag,
    headers: headers === undefined || headers === null ? {} : { ...headers },
  };
}
