// Subscription without a broker: when and how each delivery is settled (ack after the handler, verdicts,
// poison messages, a closed channel), the broker cancelling the consumer, and cancel(). The channel is a
// stand-in that records what the subscription asked of it; the real channel is in broker.int.test.ts.
// And how long a consumer waits before handing a failed message back: long enough that a quorum queue's
// delivery limit outlasts a failover, short enough that a glitch costs little.
import { EventEmitter } from "node:events";
import type { ConsumeMessage, Message, Options, Replies } from "amqplib";
import { afterEach, describe, expect, it, vi } from "vitest";
import { QueueOperationError } from "./errors.js";
import { DEFAULT_DELIVERY_LIMIT } from "./queues.js";
import { type ConsumerChannel, failurePauseMs, Subscription, type SubscriptionLink } from "./subscription.js";
import type { Delivery, QueueSpec, TransportLogger, Verdict } from "./types.js";

type Settled = { tag: number; as: "ack" | "requeue" | "drop" };

class StandInChannel extends EventEmitter implements ConsumerChannel {
  readonly settled: Settled[] = [];
  readonly cancelledTags: string[] = [];
  prefetchCount: number | undefined;
  closed = false;
  consumeError: Error | undefined;
  #onMessage: ((message: ConsumeMessage | null) => void) | undefined;
  #nextTag = 1;

  async prefetch(count: number): Promise<Replies.Empty> {
    this.prefetchCount = count;
    return {};
  }

  async consume(
    queue: string,
    onMessage: (message: ConsumeMessage | null) => void,
    _options?: Options.Consume,
  ): Promise<Replies.Consume> {
    if (this.consumeError !== undefined) throw this.consumeError;
    this.#onMessage = onMessage;
    return { consumerTag: `ctag-${queue}` };
  }

  async cancel(consumerTag: string): Promise<Replies.Cancel> {
    this.cancelledTags.push(consumerTag);
    return { consumerTag };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.emit("close");
  }

  ack(message: Message): void {
    this.settled.push({ tag: message.fields.deliveryTag, as: "ack" });
  }

  nack(message: Message, _allUpTo?: boolean, requeue?: boolean): void {
    this.settled.push({ tag: message.fields.deliveryTag, as: requeue === true ? "requeue" : "drop" });
  }

  /** Delivers a message (as RabbitMQ would on basic.deliver); returns its delivery tag. */
  deliver(body: string, messageId?: string, headers: Record<string, unknown> = {}): number {
    const deliveryTag = this.#nextTag++;
    this.#onMessage?.({
      content: Buffer.from(body),
      fields: { deliveryTag, redelivered: false, exchange: "", routingKey: "q", consumerTag: "ctag-q" },
      properties: {
        contentType: undefined,
        contentEncoding: undefined,
        headers,
        deliveryMode: 2,
        priority: undefined,
        correlationId: undefined,
        replyTo: undefined,
        expiration: undefined,
        messageId,
        timestamp: undefined,
        type: undefined,
        userId: undefined,
        appId: undefined,
        clusterId: undefined,
      },
    });
    return deliveryTag;
  }

  /** basic.cancel from RabbitMQ: the queue was deleted or its node went down. */
  cancelledByBroker(): void {
    this.#onMessage?.(null);
  }
}

class StandInLink implements SubscriptionLink {
  readonly channels: StandInChannel[] = [];
  readonly deadLettered: { tag: number; reason: string }[] = [];
  deadLetterError: Error | undefined;
  consumeError: Error | undefined;
  readonly model = {
    createChannel: async (): Promise<StandInChannel> => {
      const channel = new StandInChannel();
      channel.consumeError = this.consumeError;
      this.channels.push(channel);
      return channel;
    },
  };

  async deadLetter(_spec: QueueSpec, message: ConsumeMessage, reason: string): Promise<void> {
    if (this.deadLetterError !== undefined) throw this.deadLetterError;
    this.deadLettered.push({ tag: message.fields.deliveryTag, reason });
  }

  get channel(): StandInChannel {
    const channel = this.channels.at(-1);
    if (channel === undefined) throw new Error("no channel opened yet");
    return channel;
  }
}

function recordingLogger(): TransportLogger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (_fields: object, msg?: string) => {
    lines.push(`${level} ${msg ?? ""}`);
  };
  return { lines, debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

function subscription(
  handler: (delivery: Delivery) => Promise<Verdict>,
  spec: QueueSpec = { name: "q" },
): {
  consumer: Subscription;
  logger: ReturnType<typeof recordingLogger>;
  cancelled: Subscription[];
  lost: Subscription[];
} {
  const logger = recordingLogger();
  const cancelled: Subscription[] = [];
  const lost: Subscription[] = [];
  const consumer = new Subscription(
    spec,
    16,
    handler,
    logger,
    (s) => cancelled.push(s),
    (s) => lost.push(s),
  );
  return { consumer, logger, cancelled, lost };
}

/** A handler that holds each delivery until `finish(verdict)`; `seen` lists what it was given. */
function heldHandler() {
  const seen: Delivery[] = [];
  let finish: (verdict: Verdict) => void = () => undefined;
  const handler = (delivery: Delivery) =>
    new Promise<Verdict>((resolve) => {
      seen.push(delivery);
      finish = resolve;
    });
  return { handler, seen, finish: (verdict: Verdict) => finish(verdict) };
}

/** Subscribes `handler` on a fresh link (after `prepare`), delivers one message and lets it settle. */
async function deliverOne(
  handler: (delivery: Delivery) => Promise<Verdict>,
  prepare: (link: StandInLink) => void = () => undefined,
) {
  const link = new StandInLink();
  prepare(link);
  const { consumer, logger } = subscription(handler);
  await consumer.subscribe(link);
  const tag = link.channel.deliver("x", "id-1");
  await settle();
  return { link, logger, tag, consumer };
}

/** A live subscription on a fresh link whose handler always throws. */
async function failingSubscription(spec?: QueueSpec) {
  const link = new StandInLink();
  const { consumer, logger } = subscription(async () => {
    throw new Error("boom");
  }, spec);
  await consumer.subscribe(link);
  return { link, logger, consumer };
}

/** Lets pending promise callbacks run (the handler's settlement is a few awaits deep). */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

afterEach(() => {
  vi.useRealTimers();
});

describe("Subscription: settling deliveries", () => {
  it("consumes with the prefetch given and acks only once the handler has finished", async () => {
    const link = new StandInLink();
    const held = heldHandler();
    const { consumer } = subscription(held.handler);
    await consumer.subscribe(link);
    expect(link.channel.prefetchCount).toBe(16);
    expect(consumer.isSubscribedOn(link)).toBe(true);

    const tag = link.channel.deliver("ban 203.0.113.9", "id-1", { "x-net2ban": "v2" });
    await settle();
    expect(held.seen).toEqual([
      {
        body: Buffer.from("ban 203.0.113.9"),
        messageId: "id-1",
        redelivered: false,
        deliveryTag: tag,
        headers: { "x-net2ban": "v2" },
      },
    ]);
    expect(link.channel.settled).toEqual([]);

    held.finish("ack");
    await settle();
    expect(link.channel.settled).toEqual([{ tag, as: "ack" }]);
  });

  it("requeue: nack with requeue", async () => {
    const { link, tag } = await deliverOne(async () => "requeue");
    expect(link.channel.settled).toEqual([{ tag, as: "requeue" }]);
  });

  it("reject: a copy to the dead-letter queue first, then the ack", async () => {
    const { link, tag } = await deliverOne(async () => "reject");
    expect(link.deadLettered).toEqual([{ tag, reason: "rejected by the handler" }]);
    expect(link.channel.settled).toEqual([{ tag, as: "ack" }]);
  });

  it("reject whose dead-letter copy fails is requeued, never dropped", async () => {
    const { link, logger, tag } = await deliverOne(
      async () => "reject",
      (link) => {
        link.deadLetterError = new Error("publish nacked");
      },
    );
    expect(link.channel.settled).toEqual([{ tag, as: "requeue" }]);
    expect(logger.lines).toContain(
      "error could not copy the message to its dead-letter queue; requeued instead",
    );
  });

  it("classic queue: a handler that fails is requeued after a pause, and dead-lettered the second time", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { link } = await failingSubscription();

    const first = link.channel.deliver("x", "poison");
    await settle();
    expect(link.channel.settled).toEqual([]); // still in its pause
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    expect(link.channel.settled).toEqual([{ tag: first, as: "requeue" }]);

    const second = link.channel.deliver("x", "poison");
    await settle();
    expect(link.deadLettered).toEqual([{ tag: second, reason: "handler failed twice: boom" }]);
    expect(link.channel.settled).toEqual([
      { tag: first, as: "requeue" },
      { tag: second, as: "ack" },
    ]);
  });

  it("classic queue: messages without an id are told apart by their body", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { link } = await failingSubscription();
    for (const body of ["a", "b"]) {
      link.channel.deliver(body);
      await settle();
      await vi.advanceTimersByTimeAsync(250);
      await settle();
    }
    // Two different messages failing once each: both requeued, neither is a poison message.
    expect(link.deadLettered).toEqual([]);
    expect(link.channel.settled.map((s) => s.as)).toEqual(["requeue", "requeue"]);
  });

  it("a handler that returns something other than a verdict counts as a failure", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { link, logger, tag } = await deliverOne(async () => "done" as Verdict);
    await vi.advanceTimersByTimeAsync(250);
    await settle();
    expect(link.channel.settled).toEqual([{ tag, as: "requeue" }]);
    expect(logger.lines).toContain("warn handler failed; message requeued once");
  });

  it("quorum queue: a failing handler is always requeued (RabbitMQ's delivery limit dead-letters it)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    const { link } = await failingSubscription({ name: "q", queueType: "quorum" });
    for (let delivery = 0; delivery < 3; delivery++) {
      link.channel.deliver("x", "poison", { "x-delivery-count": delivery });
      await settle();
      await vi.advanceTimersByTimeAsync(5000);
      await settle();
    }
    expect(link.deadLettered).toEqual([]);
    expect(link.channel.settled.map((s) => s.as)).toEqual(["requeue", "requeue", "requeue"]);
  });

  it("does not settle a message whose channel closed while its handler ran (RabbitMQ redelivers it)", async () => {
    const link = new StandInLink();
    const held = heldHandler();
    const { consumer, logger } = subscription(held.handler);
    await consumer.subscribe(link);
    link.channel.deliver("x", "id-1");
    await settle();
    link.channel.emit("close");
    held.finish("ack");
    await settle();
    expect(link.channel.settled).toEqual([]);
    expect(logger.lines).toContain(
      "info channel closed before the message was settled; RabbitMQ redelivers it",
    );
    expect(consumer.isSubscribedOn(link)).toBe(false);
  });
});

describe("Subscription: subscribing and cancelling", () => {
  it("a second subscribe on the same link joins the first: one channel, one consumer", async () => {
    const link = new StandInLink();
    const { consumer } = subscription(async () => "ack");
    await Promise.all([consumer.subscribe(link), consumer.subscribe(link)]);
    await consumer.subscribe(link);
    expect(link.channels).toHaveLength(1);
  });

  it("a failed basic.consume throws QueueOperationError naming the queue and closes the channel", async () => {
    const link = new StandInLink();
    link.consumeError = new Error("NOT_FOUND - no queue 'q'");
    const { consumer } = subscription(async () => "ack");
    const failure = consumer.subscribe(link);
    await expect(failure).rejects.toThrow(QueueOperationError);
    await expect(failure).rejects.toThrow(`consume of queue "q" failed`);
    expect(link.channel.closed).toBe(true);
    expect(consumer.isSubscribedOn(link)).toBe(false);
  });

  it("RabbitMQ cancelling the consumer reports the subscription lost, once per cancel", async () => {
    const link = new StandInLink();
    const { consumer, lost } = subscription(async () => "ack");
    await consumer.subscribe(link);
    link.channel.cancelledByBroker();
    expect(lost).toEqual([consumer]);
    expect(consumer.isSubscribedOn(link)).toBe(false);

    // Subscribing again opens a fresh channel; the old one closes.
    await consumer.subscribe(link);
    await settle();
    expect(link.channels).toHaveLength(2);
    expect(link.channels[0]?.closed).toBe(true);
    expect(consumer.isSubscribedOn(link)).toBe(true);
  });

  it("cancel() stops the consumer, waits for the handler and its ack, then closes the channel", async () => {
    const link = new StandInLink();
    const held = heldHandler();
    const { consumer, cancelled } = subscription(held.handler);
    await consumer.subscribe(link);
    const channel = link.channel;
    const tag = channel.deliver("x", "id-1");
    await settle();

    let done = false;
    const stopping = consumer.cancel().then(() => {
      done = true;
    });
    await settle();
    expect(channel.cancelledTags).toEqual(["ctag-q"]);
    expect(cancelled).toEqual([consumer]);
    expect(done).toBe(false);
    expect(channel.closed).toBe(false);

    held.finish("ack");
    await stopping;
    expect(channel.settled).toEqual([{ tag, as: "ack" }]);
    expect(channel.closed).toBe(true);
    expect(consumer.cancel()).toBe(consumer.cancel());

    // Nothing subscribes a cancelled consumer again, and RabbitMQ's cancel is not a loss any more.
    await consumer.subscribe(link);
    expect(link.channels).toHaveLength(1);
  });

  it("cancel() cuts a failed message's pause short: it is requeued at once", async () => {
    const { link, consumer, tag } = await deliverOne(async () => {
      throw new Error("boom");
    });
    expect(link.channel.settled).toEqual([]);
    await consumer.cancel();
    expect(link.channel.settled).toEqual([{ tag, as: "requeue" }]);
  });
});

describe("failurePauseMs", () => {
  it("starts at 250 ms and doubles up to 5 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(failurePauseMs)).toEqual([
      250, 500, 1000, 2000, 4000, 5000, 5000, 5000,
    ]);
    expect(failurePauseMs(0)).toBe(250);
  });

  it("spreads the default delivery limit over more than a minute of retries", () => {
    let total = 0;
    for (let failure = 1; failure < DEFAULT_DELIVERY_LIMIT; failure++) total += failurePauseMs(failure);
    expect(total).toBeGreaterThan(60_000);
  });
});
