// Broker against the shared RabbitMQ (127.0.0.1:5672): publish/consume, confirms, verdicts, dead-lettering,
// errors. Every queue carries a random prefix and is deleted afterwards.

import { execFileSync } from "node:child_process";
import {
  brokerUrl,
  cleanupQueues,
  freePort,
  type MemoryLogger,
  memoryLogger,
  requireBroker,
  uniquePrefix,
  waitFor,
} from "@net2ban/test-fixtures";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import {
  BrokerClosedError,
  BrokerUnavailableError,
  PublishBatchError,
  PublishError,
  QueueMismatchError,
} from "./errors.js";
import type { Broker, Delivery, Verdict } from "./types.js";

const url = brokerUrl();
const prefix = uniquePrefix("transport");
const connectionName = `${prefix}test-connection`;
let broker: Broker;
let log: MemoryLogger;
let raw: amqp.ChannelModel;

/** A plain amqplib channel to look at queues from outside the Broker. */
async function rawChannel(): Promise<amqp.Channel> {
  const channel = await raw.createChannel();
  channel.on("error", () => {});
  return channel;
}

/** A promise and its resolver, to hold handlers until the test lets them go. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

beforeAll(async () => {
  await requireBroker(url);
  log = memoryLogger();
  broker = await connectBroker({ urls: [url], logger: log, recover: false, connectionName });
  raw = await amqp.connect(url);
  raw.on("error", () => {});
});

afterAll(async () => {
  await broker?.close();
  await raw?.close();
  await cleanupQueues(prefix);
});

describe("publish", () => {
  it("publishes persistent messages to a durable queue, with message id and headers", async () => {
    const queue = `${prefix}persistent`;
    await broker.assertQueue({ name: queue });
    await broker.publish(queue, Buffer.from("ban 203.0.113.9"), { messageId: "m-1", headers: { "x-n": 1 } });

    const channel = await rawChannel();
    const message = await channel.get(queue, { noAck: true });
    expect(message).not.toBe(false);
    if (message === false) return;
    expect(message.content.toString()).toBe("ban 203.0.113.9");
    expect(message.properties.deliveryMode).toBe(2);
    expect(message.properties.messageId).toBe("m-1");
    expect(message.properties.headers?.["x-n"]).toBe(1);
    // A durable queue refuses a non-durable re-declaration; a plain durable one (what pika sends) is equivalent.
    await expect(channel.assertQueue(queue, { durable: false })).rejects.toThrow(
      /inequivalent arg 'durable'/,
    );
    const again = await rawChannel();
    await expect(again.assertQueue(queue, { durable: true })).resolves.toMatchObject({ queue });
    await again.close();
  });

  it("keeps working with a queue the Python net2ban declared (durable, no arguments)", async () => {
    const queue = `${prefix}net2ban_legacy`;
    const channel = await rawChannel();
    await channel.assertQueue(queue, { durable: true });
    await channel.close();
    await expect(broker.assertQueue({ name: queue, queueType: "classic" })).resolves.toBeUndefined();
    await broker.publish(queue, Buffer.from("x"));
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 1, consumerCount: 0 });
  });

  it("rejects a publish to a missing queue with PublishError (mandatory), and the channel stays usable", async () => {
    const missing = `${prefix}does-not-exist`;
    const error = await broker
      .publish(missing, Buffer.from("lost?"), { messageId: "m-2" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).reason).toBe("returned");
    expect((error as PublishError).message).toMatch(/NO_ROUTE/);
    expect((error as PublishError).messageId).toBe("m-2");

    const queue = `${prefix}after-return`;
    await broker.assertQueue({ name: queue });
    await broker.publish(queue, Buffer.from("still fine"));
    expect((await broker.queueInfo(queue))?.messageCount).toBe(1);
  });

  it("publishAll delivers to 100 queues, all confirmed", async () => {
    const queues = Array.from({ length: 100 }, (_, i) => `${prefix}fan-${i}`);
    for (const name of queues) await broker.assertQueue({ name });
    await broker.publishAll(
      queues.map((queue, i) => ({ queue, body: Buffer.from(`ban ${i}`), messageId: `fan-${i}` })),
    );
    const channel = await rawChannel();
    for (const [i, queue] of queues.entries()) {
      const message = await channel.get(queue, { noAck: true });
      expect(message === false ? "nothing" : message.content.toString()).toBe(`ban ${i}`);
    }
  });

  it("publishAll names exactly the items that failed and still delivers the others", async () => {
    const good = `${prefix}batch-good`;
    const missing = `${prefix}batch-missing`;
    await broker.assertQueue({ name: good });
    const error = await broker
      .publishAll([
        { queue: good, body: Buffer.from("1"), messageId: "b1" },
        { queue: missing, body: Buffer.from("2"), messageId: "b2" },
        { queue: good, body: Buffer.from("3"), messageId: "b3" },
      ])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishBatchError);
    const failures = (error as PublishBatchError).failures;
    expect(failures.map((f) => [f.queue, f.messageId, f.reason])).toEqual([[missing, "b2", "returned"]]);
    expect((await broker.queueInfo(good))?.messageCount).toBe(2);
  });

  it("after a nack the next publish goes out on a fresh channel", async () => {
    // RabbitMQ 3.10 keeps nacking a channel that published to a quorum queue during its leader election;
    // a queue that refuses every message (x-overflow reject-publish, length 0) gives a nack here.
    const full = `${prefix}full`;
    const channel = await rawChannel();
    await channel.assertQueue(full, {
      durable: true,
      arguments: { "x-max-length": 0, "x-overflow": "reject-publish" },
    });
    const error = await broker.publish(full, Buffer.from("refused")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).reason).toBe("nacked");
    expect(log.find("warn", "RabbitMQ nacked a publish; later publishes use a new channel")).toHaveLength(1);
    const queue = `${prefix}after-nack`;
    await broker.assertQueue({ name: queue });
    await broker.publish(queue, Buffer.from("fine"));
    expect(log.find("info", "publish channel reopened")).not.toHaveLength(0);
    expect((await broker.queueInfo(queue))?.messageCount).toBe(1);
  });

  it("checks its arguments", async () => {
    await expect(broker.publish("", Buffer.from("x"))).rejects.toThrow('"queue" expected a non-empty string');
    await expect(broker.publish("q", "text" as unknown as Buffer)).rejects.toThrow(
      '"body" expected a Buffer, got string',
    );
    await expect(
      broker.publishAll([{ queue: "q", body: Buffer.from("") }, { queue: "q" } as never]),
    ).rejects.toThrow('"items[1].body" expected a Buffer, got undefined');
  });
});

describe("consume", () => {
  it("round-trips a message and acks it after the handler resolved", async () => {
    const queue = `${prefix}roundtrip`;
    const seen: Delivery[] = [];
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async (delivery) => {
      seen.push(delivery);
      return "ack";
    });
    await broker.publish(queue, Buffer.from("hello"), { messageId: "r-1", headers: { sender: "ctl" } });
    await waitFor(() => seen.length === 1, { what: "the delivery" });
    await consumer.cancel();
    expect(seen[0]).toMatchObject({ messageId: "r-1", redelivered: false, headers: { sender: "ctl" } });
    expect(seen[0]?.body.toString()).toBe("hello");
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
  });

  it("respects prefetch: no more unacked deliveries than asked for", async () => {
    const queue = `${prefix}prefetch`;
    await broker.assertQueue({ name: queue });
    await broker.publishAll(Array.from({ length: 10 }, (_, i) => ({ queue, body: Buffer.from(String(i)) })));
    const hold = gate();
    let inFlight = 0;
    let maxInFlight = 0;
    let done = 0;
    const consumer = await broker.consume({ prefetch: 3, queue: { name: queue } }, async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await hold.opened;
      inFlight -= 1;
      done += 1;
      return "ack";
    });
    await waitFor(() => inFlight === 3, { what: "three handlers holding" });
    // The broker itself still has the other seven ready: it did not hand them out.
    expect((await broker.queueInfo(queue))?.messageCount).toBe(7);
    hold.open();
    await waitFor(() => done === 10, { what: "all ten handled" });
    await consumer.cancel();
    expect(maxInFlight).toBe(3);
  });

  it('"reject" copies the message to <queue>.dead with the reason, acks it, and never redelivers it', async () => {
    const queue = `${prefix}poison`;
    let calls = 0;
    const consumer = await broker.consume({ prefetch: 5, queue: { name: queue } }, async () => {
      calls += 1;
      return "reject";
    });
    await broker.publish(queue, Buffer.from("garbage"), { messageId: "p-1", headers: { keep: "me" } });
    await waitFor(async () => (await broker.queueInfo(`${queue}.dead`))?.messageCount === 1, {
      what: "the message in the dead-letter queue",
    });
    await consumer.cancel();
    expect(calls).toBe(1);
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 0, consumerCount: 0 });

    const channel = await rawChannel();
    const dead = await channel.get(`${queue}.dead`, { noAck: true });
    expect(dead).not.toBe(false);
    if (dead === false) return;
    expect(dead.content.toString()).toBe("garbage");
    expect(dead.properties.messageId).toBe("p-1");
    expect(dead.properties.deliveryMode).toBe(2);
    expect(dead.properties.headers).toMatchObject({
      keep: "me",
      "x-net2ban-reason": "rejected by the handler",
      "x-net2ban-from": queue,
    });
  });

  it("classic queue: requeues once when the handler throws, then dead-letters the second failure", async () => {
    const queue = `${prefix}throws`;
    const redelivered: boolean[] = [];
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async (delivery) => {
      redelivered.push(delivery.redelivered);
      throw new Error("boom");
    });
    await broker.publish(queue, Buffer.from("x"), { messageId: "t-1" });
    await waitFor(async () => (await broker.queueInfo(`${queue}.dead`))?.messageCount === 1, {
      what: "the failing message in the dead-letter queue",
    });
    await consumer.cancel();
    expect(redelivered).toEqual([false, true]);
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
    const channel = await rawChannel();
    const dead = await channel.get(`${queue}.dead`, { noAck: true });
    expect(dead === false ? "nothing" : dead.properties.headers?.["x-net2ban-reason"]).toBe(
      "handler failed twice: boom",
    );
    expect(log.find("warn", "handler failed; message requeued once")).not.toHaveLength(0);
    expect(log.find("error", "handler failed again")).not.toHaveLength(0);
  });

  it('"requeue" hands the message back for another try', async () => {
    const queue = `${prefix}requeue`;
    const verdicts: Verdict[] = ["requeue", "ack"];
    const seen: boolean[] = [];
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async (delivery) => {
      seen.push(delivery.redelivered);
      return verdicts.shift() ?? "ack";
    });
    await broker.publish(queue, Buffer.from("x"));
    await waitFor(() => seen.length === 2, { what: "the second delivery" });
    await consumer.cancel();
    expect(seen).toEqual([false, true]);
    expect((await broker.queueInfo(queue))?.messageCount).toBe(0);
  });

  it("treats an unknown verdict as a handler failure", async () => {
    const queue = `${prefix}bad-verdict`;
    let calls = 0;
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async () => {
      calls += 1;
      return "maybe" as Verdict;
    });
    await broker.publish(queue, Buffer.from("x"));
    await waitFor(async () => (await broker.queueInfo(`${queue}.dead`))?.messageCount === 1, {
      what: "dead-lettering after two bad verdicts",
    });
    await consumer.cancel();
    expect(calls).toBe(2);
  });

  it("a redelivery (the connection was lost) that fails once is requeued, not dead-lettered", async () => {
    // A failover redelivers with redelivered=true; one failure right after it (the cluster still
    // electing leaders) must not cost the message: only a second failure in this process parks it.
    const queue = `${prefix}redelivered-once`;
    await broker.assertQueue({ name: queue });
    const channel = await rawChannel();
    await channel.prefetch(1);
    const taken = new Promise<void>((resolve) => {
      void channel.consume(queue, () => resolve(), { noAck: false });
    });
    await broker.publish(queue, Buffer.from("x"), { messageId: "again-1" });
    await taken;
    await channel.close(); // unacked: RabbitMQ redelivers it, flagged
    const seen: boolean[] = [];
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async (delivery) => {
      seen.push(delivery.redelivered);
      if (seen.length === 1) throw new Error("cluster still electing");
      return "ack";
    });
    await waitFor(() => seen.length === 2, { what: "the retry after the failure" });
    await consumer.cancel();
    expect(seen).toEqual([true, true]);
    expect(await broker.queueInfo(`${queue}.dead`)).toBeNull();
    expect((await broker.queueInfo(queue))?.messageCount).toBe(0);
  });

  it("quorum queue: a handler that keeps throwing is retried until the broker's delivery limit dead-letters it", async () => {
    const queue = `${prefix}quorum-throws`;
    const spec = { name: queue, queueType: "quorum" as const, deliveryLimit: 2 };
    let calls = 0;
    const consumer = await broker.consume({ prefetch: 1, queue: spec }, async () => {
      calls += 1;
      throw new Error("poison");
    });
    await broker.publish(queue, Buffer.from("poison"), { messageId: "qp-1" });
    await waitFor(async () => (await broker.queueInfo(`${queue}.dead`))?.messageCount === 1, {
      what: "RabbitMQ to dead-letter the message at its delivery limit",
      timeoutMs: 20_000,
    });
    await consumer.cancel();
    // Two failures in this process would park a classic queue's message; a quorum queue's limit decides.
    expect(calls).toBe(3);
    const channel = await rawChannel();
    const dead = await channel.get(`${queue}.dead`, { noAck: true });
    expect(dead === false ? "nothing" : dead.properties.headers?.["x-death"]?.[0]?.reason).toBe(
      "delivery_limit",
    );
  });

  it("resumes consuming when RabbitMQ cancels the consumer (queue deleted, or a classic queue's node down)", async () => {
    const queue = `${prefix}cancelled`;
    const seen: string[] = [];
    const consumer = await broker.consume({ prefetch: 1, queue: { name: queue } }, async (delivery) => {
      seen.push(delivery.body.toString());
      return "ack";
    });
    await broker.publish(queue, Buffer.from("before"));
    await waitFor(() => seen.length === 1, { what: "the first message" });
    const channel = await rawChannel();
    await channel.deleteQueue(queue);
    await waitFor(async () => (await broker.queueInfo(queue))?.consumerCount === 1, {
      what: "the consumer back on the declared-again queue",
    });
    await broker.publish(queue, Buffer.from("after"));
    await waitFor(() => seen.length === 2, { what: "the message after the cancel" });
    await consumer.cancel();
    expect(seen).toEqual(["before", "after"]);
    expect(log.find("error", "RabbitMQ cancelled the consumer")).not.toHaveLength(0);
  });

  it("cancel() waits for in-flight handlers and their acks; later messages stay queued", async () => {
    const queue = `${prefix}cancel`;
    const hold = gate();
    let started = 0;
    let finished = 0;
    const consumer = await broker.consume({ prefetch: 2, queue: { name: queue } }, async () => {
      started += 1;
      await hold.opened;
      finished += 1;
      return "ack";
    });
    await broker.publish(queue, Buffer.from("1"));
    await waitFor(() => started === 1, { what: "the handler to start" });
    let cancelled = false;
    const cancelling = consumer.cancel().then(() => {
      cancelled = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(cancelled).toBe(false);
    hold.open();
    await cancelling;
    expect(finished).toBe(1);
    await broker.publish(queue, Buffer.from("2"));
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 1, consumerCount: 0 });
  });

  it("quorum queues dead-letter on the broker once the delivery limit is reached", async () => {
    const queue = `${prefix}quorum`;
    await broker.assertQueue({ name: queue, queueType: "quorum", deliveryLimit: 2 });
    expect(await broker.queueInfo(`${queue}.dead`)).toEqual({ messageCount: 0, consumerCount: 0 });
    let calls = 0;
    const consumer = await broker.consume(
      { prefetch: 1, queue: { name: queue, queueType: "quorum", deliveryLimit: 2 } },
      async () => {
        calls += 1;
        return "requeue";
      },
    );
    await broker.publish(queue, Buffer.from("loops"), { messageId: "q-1" });
    await waitFor(async () => (await broker.queueInfo(`${queue}.dead`))?.messageCount === 1, {
      what: "the broker to dead-letter the looping message",
    });
    await consumer.cancel();
    expect(calls).toBe(3);
  });
});

describe("queues", () => {
  it("QueueMismatchError on a classic vs quorum clash, and the broker stays usable", async () => {
    const queue = `${prefix}clash`;
    await broker.assertQueue({ name: queue });
    const error = await broker.assertQueue({ name: queue, queueType: "quorum" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueueMismatchError);
    // RabbitMQ names the first argument it finds different: for classic vs quorum that is one of the
    // quorum-only arguments, which the classic queue does not have.
    expect(error).toMatchObject({ queue, existing: "none" });
    expect([
      "x-queue-type",
      "x-delivery-limit",
      "x-dead-letter-exchange",
      "x-dead-letter-routing-key",
    ]).toContain((error as QueueMismatchError).argument);
    const message = (error as Error).message;
    expect(message.startsWith(`queue "${queue}" already exists with other settings (`)).toBe(true);
    expect(message).toContain("net2ban declares it as a durable quorum queue (delivery limit 20)");
    expect(message).not.toContain("\n");
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
  });

  it("queueInfo is null for a missing queue; deleteQueue removes one", async () => {
    const queue = `${prefix}to-delete`;
    expect(await broker.queueInfo(queue)).toBeNull();
    await broker.assertQueue({ name: queue });
    expect(await broker.queueInfo(queue)).not.toBeNull();
    await broker.deleteQueue(queue);
    expect(await broker.queueInfo(queue)).toBeNull();
  });
});

describe("connecting", () => {
  it("fails fast with a one-line BrokerUnavailableError naming each URL, password masked (recover: false)", async () => {
    const [a, b] = [await freePort(), await freePort()];
    const error = await connectBroker({
      urls: [`amqp://net2ban:hunter22@127.0.0.1:${a}/`, `amqp://net2ban:hunter22@127.0.0.1:${b}/v`],
      logger: memoryLogger(),
      recover: false,
      startIndex: 0,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    const message = (error as Error).message;
    expect(message).toBe(
      `RabbitMQ unavailable: tried amqp://net2ban:***@127.0.0.1:${a}/ (connect ECONNREFUSED 127.0.0.1:${a}), ` +
        `amqp://net2ban:***@127.0.0.1:${b}/v (connect ECONNREFUSED 127.0.0.1:${b})`,
    );
  });

  it("says when the login is refused", async () => {
    const wrong = new URL(url);
    wrong.password = "not-the-password";
    const error = await connectBroker({ urls: [wrong.toString()], logger: memoryLogger() }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrokerUnavailableError);
    expect((error as Error).message).toMatch(/ACCESS_REFUSED/);
    expect((error as Error).message).not.toContain("not-the-password");
  });

  it("fails over to the next URL when the first node does not answer", async () => {
    const dead = `amqp://guest:guest@127.0.0.1:${await freePort()}/`;
    const logger = memoryLogger();
    const other = await connectBroker({ urls: [dead, url], logger, startIndex: 0 });
    try {
      expect(logger.find("warn", "connection attempt failed")).toHaveLength(1);
      expect(logger.find("info", "Connected to RabbitMQ")).toHaveLength(1);
      const queue = `${prefix}failover`;
      await other.assertQueue({ name: queue });
      await other.publish(queue, Buffer.from("x"));
    } finally {
      await other.close();
    }
  });

  it("with recover: true, keeps retrying an unreachable broker until its signal aborts", async () => {
    const logger = memoryLogger();
    const abort = new AbortController();
    const connecting = connectBroker({
      urls: [`amqp://guest:guest@127.0.0.1:${await freePort()}/`],
      logger,
      recover: true,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      signal: abort.signal,
    });
    await waitFor(() => logger.find("warn", "RabbitMQ unreachable; retrying").length >= 3, {
      what: "three failed rounds",
    });
    abort.abort();
    const error = await connecting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerClosedError);
    expect((error as Error).message).toBe(
      "connect aborted by signal: the broker connection is closed (close() was called)",
    );
  });

  it("shows the connection name in rabbitmqctl list_connections", () => {
    const listed = execFileSync(
      "rabbitmqctl",
      ["list_connections", "-q", "--no-table-headers", "client_properties"],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    expect(listed).toContain(connectionName);
  });

  it("after close(), operations fail with BrokerClosedError (publish: PublishError 'closed')", async () => {
    const other = await connectBroker({ urls: [url], logger: memoryLogger() });
    await other.close();
    await other.close();
    await expect(other.queueInfo(`${prefix}x`)).rejects.toThrow(BrokerClosedError);
    const error = await other.publish(`${prefix}x`, Buffer.from("x")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).reason).toBe("closed");
  });

  it("close() waits for an in-flight handler and acks its message", async () => {
    const queue = `${prefix}close-waits`;
    const other = await connectBroker({ urls: [url], logger: memoryLogger() });
    const hold = gate();
    let started = false;
    await other.consume({ prefetch: 1, queue: { name: queue } }, async () => {
      started = true;
      await hold.opened;
      return "ack";
    });
    await other.publish(queue, Buffer.from("x"));
    await waitFor(() => started, { what: "the handler to start" });
    let closed = false;
    const closing = other.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    hold.open();
    await closing;
    expect(await broker.queueInfo(queue)).toEqual({ messageCount: 0, consumerCount: 0 });
  });
});
