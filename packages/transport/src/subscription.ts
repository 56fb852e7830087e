// One consumer: manual acks after the handler, verdicts, poison-message handling, and re-subscription
// on each new connection. Deliveries are settled only on the channel they came from.

import { createHash } from "node:crypto";
import type { Channel, ConsumeMessage } from "amqplib";
import { describeError, QueueOperationError } from "./errors.js";
import type { Consumer, Delivery, QueueSpec, TransportLogger, Verdict } from "./types.js";

const VERDICTS: readonly Verdict[] = ["ack", "reject", "requeue"];

/**
 * The part of an amqplib channel a subscription uses: amqplib's Channel fits it, and so can a unit
 * test's stand-in without implementing the other thirty methods.
 */
export interface ConsumerChannel
  extends Pick<Channel, "prefetch" | "consume" | "cancel" | "close" | "ack" | "nack"> {
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
  on(event: "handler-error", listener: (error: Error, event: string) => void): unknown;
}

/** What a subscription needs from the connection it lives on (amqplib's ChannelModel for `model`). */
export interface SubscriptionLink {
  readonly model: { createChannel(): Promise<ConsumerChannel> };
  /** Confirmed copy to `<queue>.dead` with x-net2ban-reason / x-net2ban-from headers. */
  deadLetter(spec: QueueSpec, message: ConsumeMessage, reason: string): Promise<void>;
}

interface ChannelState {
  readonly channel: ConsumerChannel;
  readonly link: SubscriptionLink;
  open: boolean;
  /** null before consume-ok and after RabbitMQ cancelled the consumer. */
  consumerTag: string | null;
  /** Handlers of deliveries from this channel; they settle on it. */
  readonly inFlight: Set<Promise<void>>;
}

export class Subscription implements Consumer {
  readonly spec: QueueSpec;
  readonly #prefetch: number;
  readonly #handler: (delivery: Delivery) => Promise<Verdict>;
  readonly #logger: TransportLogger;
  readonly #onCancel: (subscription: Subscription) => void;
  readonly #onLost: (subscription: Subscription) => void;
  readonly #inFlight = new Set<Promise<void>>();
  #current: ChannelState | null = null;
  #subscribing: { link: SubscriptionLink; done: Promise<void> } | null = null;
  #cancelled = false;
  #cancelling: Promise<void> | null = null;
  readonly #failures = new FailureCounts(10_000);
  /** Pauses before a requeue; cancel() cuts them short. */
  readonly #pauses = new Set<() => void>();

  constructor(
    spec: QueueSpec,
    prefetch: number,
    handler: (delivery: Delivery) => Promise<Verdict>,
    logger: TransportLogger,
    onCancel: (subscription: Subscription) => void,
    onLost: (subscription: Subscription) => void,
  ) {
    this.spec = spec;
    this.#prefetch = prefetch;
    this.#handler = handler;
    this.#logger = logger;
    this.#onCancel = onCancel;
    this.#onLost = onLost;
  }

  /** Whether this consumer is live on that connection (RabbitMQ has not cancelled it). */
  isSubscribedOn(link: SubscriptionLink): boolean {
    const current = this.#current;
    return current !== null && current.link === link && current.open && current.consumerTag !== null;
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
    for (const wake of this.#pauses) wake();
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

  /** Waits `ms` unless cancel() comes first (then the message is requeued at once). */
  #pause(ms: number): Promise<void> {
    if (this.#cancelled) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#pauses.add(wake);
    });
  }

  async #subscribeOn(link: SubscriptionLink): Promise<void> {
    const channel = await link.model.createChannel();
    const state: ChannelState = { channel, link, open: true, consumerTag: null, inFlight: new Set() };
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
    const previous = this.#current;
    this.#current = state;
    if (previous !== null && previous !== state && previous.open) void this.#retire(previous);
    if (this.#cancelled) await this.#stopConsuming(state);
    else this.#logger.info({ queue, prefetch: this.#prefetch }, `consuming ${queue}`);
  }

  /** A channel whose consumer RabbitMQ cancelled: closed once its handlers have settled their messages. */
  async #retire(state: ChannelState): Promise<void> {
    while (state.inFlight.size > 0) await Promise.allSettled([...state.inFlight]);
    if (state.open) await state.channel.close().catch(() => {});
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
      // The queue was deleted, or (classic queue) its node went down: try again until it is back.
      this.#logger.error(
        { queue: this.spec.name },
        `RabbitMQ cancelled the consumer of ${this.spec.name} (queue deleted, or its node is down); subscribing again`,
      );
      state.consumerTag = null;
      if (!this.#cancelled) this.#onLost(this);
      return;
    }
    // #handle catches the handler's errors; this catch is for a logger that throws, so nothing goes unhandled.
    const task = this.#handle(state, message).catch(() => {});
    this.#inFlight.add(task);
    state.inFlight.add(task);
    task.then(() => {
      this.#inFlight.delete(task);
      state.inFlight.delete(task);
    });
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
      const failures = this.#failures.record(failureKey(message));
      if (this.spec.queueType === "quorum") {
        // RabbitMQ counts the deliveries and dead-letters the message at the queue's delivery limit, so a
        // failure during a failover (a publish nacked while a queue elects its leader) is simply retried,
        // after a pause that grows so the limit is not used up within seconds, and a poison message stops.
        verdict = "requeue";
        const pauseMs = failurePauseMs(Math.max(failures, deliveryCount(message) + 1));
        this.#logger.warn(
          { ...context, err: describeError(error), failures, pauseMs },
          "handler failed; message requeued (the queue's delivery limit dead-letters it if it keeps failing)",
        );
        await this.#pause(pauseMs);
      } else if (failures >= 2) {
        // A classic queue has no delivery count: twice in this process is a poison message, park it.
        verdict = "reject";
        reason = `handler failed twice: ${describeError(error)}`;
        this.#failures.forget(failureKey(message));
        this.#logger.error(
          { ...context, err: describeError(error) },
          "handler failed again; dead-lettering the message",
        );
      } else {
        verdict = "requeue";
        this.#logger.warn({ ...context, err: describeError(error) }, "handler failed; message requeued once");
        await this.#pause(failurePauseMs(failures));
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

/** Handler failures per message in this process, bounded (oldest forgotten first). */
class FailureCounts {
  readonly #max: number;
  readonly #counts = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  record(key: string): number {
    const count = (this.#counts.get(key) ?? 0) + 1;
    this.#counts.delete(key);
    this.#counts.set(key, count);
    if (this.#counts.size > this.#max) {
      const oldest = this.#counts.keys().next().value;
      if (oldest !== undefined) this.#counts.delete(oldest);
    }
    return count;
  }

  forget(key: string): void {
    this.#counts.delete(key);
  }
}

/** A message is known by its id; without one, by a hash of its body. */
function failureKey(message: ConsumeMessage): string {
  const id: unknown = message.properties.messageId;
  return typeof id === "string" && id !== ""
    ? `id:${id}`
    : `body:${createHash("sha256").update(message.content).digest("hex")}`;
}

/** Deliveries before this one, as a quorum queue counts them (`x-delivery-count`, absent the first time). */
function deliveryCount(message: ConsumeMessage): number {
  const count: unknown = message.properties.headers?.["x-delivery-count"];
  return typeof count === "number" && Number.isInteger(count) && count >= 0 ? count : 0;
}

/** 250 ms after the first failure, doubling up to 5 s. */
export function failurePauseMs(failures: number): number {
  return Math.min(5000, 250 * 2 ** Math.max(0, Math.min(failures - 1, 10)));
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
