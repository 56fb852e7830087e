// Fault tests on a private RabbitMQ node (never the shared one): SIGKILL mid-stream and restart,
// a broker that comes back empty, a broker that is down at start-up, and recover: false after a loss.

import { rm } from "node:fs/promises";
import { join } from "node:path";
import {
  killPrivateNode,
  memoryLogger,
  type PrivateNode,
  restartPrivateNode,
  sleep,
  startPrivateNode,
  stopPrivateNode,
  waitFor,
} from "@net2ban/test-fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { BrokerUnavailableError, PublishError } from "./errors.js";
import type { BrokerEventInfo, BrokerOptions } from "./types.js";

let node: PrivateNode;
const fastReconnect = { initialDelayMs: 100, maxDelayMs: 1_000 };

function options(extra: Partial<BrokerOptions> = {}): BrokerOptions {
  return { urls: [node.url], logger: memoryLogger(), recover: true, reconnect: fastReconnect, ...extra };
}

beforeAll(async () => {
  node = await startPrivateNode();
}, 120_000);

afterAll(async () => {
  if (node !== undefined) await stopPrivateNode(node);
}, 60_000);

describe("recovery on a private node", () => {
  it("loses no confirmed publish when the node is SIGKILLed mid-stream and restarted", async () => {
    const total = 2_000;
    const queue = "stream";
    const consumerLog = memoryLogger();
    const consumerSide = await connectBroker(
      options({ logger: consumerLog, connectionName: "fault-consumer" }),
    );
    const publisherSide = await connectBroker(options({ connectionName: "fault-publisher" }));
    const events: string[] = [];
    consumerSide.on("disconnected", () => events.push("consumer disconnected"));
    consumerSide.on("connected", () => events.push("consumer connected"));
    publisherSide.on("disconnected", () => events.push("publisher disconnected"));
    try {
      await publisherSide.assertQueue({ name: queue });
      const deliveries = new Map<number, boolean[]>();
      await consumerSide.consume({ prefetch: 50, queue: { name: queue } }, async (delivery) => {
        const id = Number(delivery.messageId);
        deliveries.set(id, [...(deliveries.get(id) ?? []), delivery.redelivered]);
        // Keep handlers in flight across the kill, so some die with their channel.
        await sleep(id % 10 === 0 ? 25 : 0);
        return "ack";
      });

      const confirmed = new Set<number>();
      const retried = new Set<number>();
      let next = 0;
      // The publisher retries what the broker did not confirm, as net2ban's server does.
      const worker = async () => {
        while (next < total) {
          const id = next++;
          for (let attempt = 1; ; attempt++) {
            try {
              await publisherSide.publish(queue, Buffer.from(`ban ${id}`), { messageId: String(id) });
              confirmed.add(id);
              break;
            } catch (error) {
              expect(error).toBeInstanceOf(PublishError);
              retried.add(id);
              if (attempt > 50) throw error;
              await sleep(100);
            }
          }
        }
      };
      let confirmedAtKill = -1;
      const fault = (async () => {
        await waitFor(() => confirmed.size >= total / 3, {
          what: "a third of the stream confirmed",
          timeoutMs: 60_000,
        });
        confirmedAtKill = confirmed.size;
        await killPrivateNode(node);
        await sleep(500);
        await restartPrivateNode(node);
      })();
      await Promise.all([...Array.from({ length: 20 }, worker), fault]);

      expect(confirmed.size).toBe(total);
      expect(confirmedAtKill).toBeGreaterThan(0);
      expect(confirmedAtKill).toBeLessThan(total);
      await waitFor(() => deliveries.size === total, {
        what: `all ${total} confirmed messages consumed`,
        timeoutMs: 60_000,
      });
      const missing = [...confirmed].filter((id) => !deliveries.has(id));
      expect(missing).toEqual([]);

      // Duplicates are allowed only where they are explainable: the broker redelivered (flagged), or the
      // publisher sent the message again because its confirm was lost with the node.
      const duplicates = [...deliveries].filter(([, flags]) => flags.length > 1);
      const flagged = duplicates.filter(([, flags]) => flags.slice(1).every(Boolean));
      const republished = duplicates.filter(([id]) => retried.has(id));
      const unexplained = duplicates.filter(
        ([id, flags]) => !flags.slice(1).every(Boolean) && !retried.has(id),
      );
      console.log(
        `fault test: ${total} confirmed, ${confirmedAtKill} before the kill, ${retried.size} publishes retried; ` +
          `${deliveries.size} distinct consumed, ${duplicates.length} duplicates ` +
          `(${flagged.length} flagged redelivered, ${republished.length} republished after a lost confirm); ` +
          `${consumerLog.find("info", "channel closed before the message was settled").length} handlers finished after their channel died (not acked)`,
      );
      expect(unexplained).toEqual([]);
      expect(events).toContain("consumer disconnected");
      expect(events).toContain("publisher disconnected");
      expect(events.at(-1)).toBe("consumer connected");
      expect(consumerLog.find("info", "consuming stream").length).toBeGreaterThanOrEqual(2);
    } finally {
      await consumerSide.close();
      await publisherSide.close();
    }
  }, 180_000);

  it("declares remembered queues again and resubscribes when the node comes back empty", async () => {
    const broker = await connectBroker(options());
    const received: string[] = [];
    try {
      await broker.assertQueue({ name: "remembered" });
      await broker.consume(
        { prefetch: 1, queue: { name: "consumed", queueType: "quorum" } },
        async (delivery) => {
          received.push(delivery.body.toString());
          return "ack";
        },
      );
      const reconnected = new Promise<BrokerEventInfo>((resolve) => broker.on("connected", resolve));
      await killPrivateNode(node);
      // Wipe the node's data: it restarts without any queue.
      await rm(join(node.dir, "mnesia"), { recursive: true, force: true });
      await restartPrivateNode(node);
      const info = await reconnected;
      expect(info.url).toBe(node.url.replace(":guest@", ":***@"));

      expect(await broker.queueInfo("remembered")).toEqual({ messageCount: 0, consumerCount: 0 });
      expect(await broker.queueInfo("consumed.dead")).toEqual({ messageCount: 0, consumerCount: 0 });
      await waitFor(async () => (await broker.queueInfo("consumed"))?.consumerCount === 1, {
        what: "the consumer to resubscribe",
      });
      await broker.publish("consumed", Buffer.from("after restart"));
      await waitFor(() => received.length === 1, { what: "the message published after the restart" });
      expect(received).toEqual(["after restart"]);
    } finally {
      await broker.close();
    }
  }, 120_000);

  it("queue operations cut off by a lost connection complete on the next one", async () => {
    const logger = memoryLogger();
    const broker = await connectBroker(options({ logger }));
    try {
      // Queued one after another on the queue-management channel, so many are in flight at the kill.
      // Classic queues keep this quick: a quorum queue is a Raft group of its own to start and recover.
      const total = 1_000;
      let declared = 0;
      const declaring = Promise.allSettled(
        Array.from({ length: total }, (_, i) =>
          broker.assertQueue({ name: `cut-${i}` }).then(() => {
            declared += 1;
          }),
        ),
      );
      await waitFor(() => declared >= 50, { what: "fifty queues declared", intervalMs: 1 });
      await killPrivateNode(node);
      const declaredAtKill = declared;
      await restartPrivateNode(node);
      const outcomes = await declaring;
      expect(declaredAtKill).toBeLessThan(total);
      expect(outcomes.filter((o) => o.status === "rejected")).toEqual([]);
      expect(
        logger.find("info", "assertQueue cut off by a lost connection; retrying").length,
      ).toBeGreaterThan(0);
      expect(await broker.queueInfo(`cut-${total - 1}`)).toEqual({ messageCount: 0, consumerCount: 0 });
      for (let i = 0; i < total; i++) await broker.deleteQueue(`cut-${i}`);
    } finally {
      await broker.close();
    }
  }, 120_000);

  it("with recover: true, waits at start-up for a node that is down", async () => {
    await killPrivateNode(node);
    const logger = memoryLogger();
    const connecting = connectBroker(options({ logger }));
    await waitFor(() => logger.find("warn", "RabbitMQ unreachable").length >= 2, {
      what: "two failed rounds logged",
      timeoutMs: 20_000,
    });
    await restartPrivateNode(node);
    const broker = await connecting;
    try {
      await broker.assertQueue({ name: "late" });
    } finally {
      await broker.close();
    }
  }, 120_000);

  it("with recover: false, a lost connection fails later calls with BrokerUnavailableError", async () => {
    const logger = memoryLogger();
    const broker = await connectBroker(options({ recover: false, logger }));
    // A listener that throws must not take the process down (nor stop the other listeners).
    broker.on("disconnected", () => {
      throw new Error("listener bug");
    });
    const lost = new Promise<BrokerEventInfo>((resolve) => broker.on("disconnected", resolve));
    try {
      await broker.assertQueue({ name: "one-shot" });
      await killPrivateNode(node);
      const info = await lost;
      expect(info.error).toBeInstanceOf(Error);
      const error = await broker.queueInfo("one-shot").catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerUnavailableError);
      expect((error as Error).message).toMatch(
        /^RabbitMQ unavailable: connection to amqp:\/\/guest:\*\*\*@127\.0\.0\.1:\d+\/ \(.+\) lost and recovery is off$/,
      );
      const publishError = await broker.publish("one-shot", Buffer.from("x")).catch((e: unknown) => e);
      expect(publishError).toBeInstanceOf(PublishError);
      expect((publishError as PublishError).reason).toBe("connection-lost");
      expect(logger.find("error", "a broker event listener threw")).toHaveLength(1);
    } finally {
      await broker.close();
      await restartPrivateNode(node);
    }
  }, 120_000);
});
