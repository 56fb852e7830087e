// Reply queues (net2banctl --wait / status) on the shared RabbitMQ: exclusive to the connection that
// declared them, filled by another connection, gone when the first one closes.
import {
  brokerUrl,
  cleanupQueues,
  memoryLogger,
  requireBroker,
  uniquePrefix,
  waitFor,
} from "@net2ban/test-fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { PublishError } from "./errors.js";
import type { Broker } from "./types.js";

const url = brokerUrl();
const prefix = uniquePrefix("reply");
let other: Broker;

beforeAll(async () => {
  await requireBroker(url);
  other = await connectBroker({ urls: [url], logger: memoryLogger(), recover: false });
});

afterAll(async () => {
  await other?.close();
  await cleanupQueues(prefix);
});

describe("an exclusive reply queue", () => {
  it("receives what another connection publishes to it, and is deleted when its connection closes", async () => {
    const queue = `${prefix}reply.1`;
    const owner = await connectBroker({ urls: [url], logger: memoryLogger(), recover: false });
    const received: string[] = [];
    try {
      await owner.consume({ prefetch: 10, queue: { name: queue, exclusive: true } }, async (delivery) => {
        received.push(delivery.body.toString());
        return "ack";
      });
      await other.publish(queue, Buffer.from("accepted"));
      await other.publish(queue, Buffer.from("result"));
      await waitFor(() => received.length === 2, { what: "both replies" });
      expect(received).toEqual(["accepted", "result"]);
      // Another connection may not even look at it.
      await expect(other.queueInfo(queue)).rejects.toThrow(/RESOURCE_LOCKED/);
      expect(await owner.queueInfo(queue)).toMatchObject({ consumerCount: 1 });
    } finally {
      await owner.close();
    }
    await waitFor(async () => (await other.queueInfo(queue)) === null, { what: "the queue to be gone" });
    // A reply to a caller that has gone is returned to the publisher (mandatory), not kept anywhere.
    await expect(other.publish(queue, Buffer.from("late"))).rejects.toBeInstanceOf(PublishError);
  });

  it("refuses an exclusive quorum queue before asking the broker", async () => {
    await expect(
      other.consume(
        { prefetch: 1, queue: { name: `${prefix}q`, exclusive: true, queueType: "quorum" } },
        async () => "ack",
      ),
    ).rejects.toThrow(/needs a classic queue/);
  });
});
