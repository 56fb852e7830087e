// Private RabbitMQ nodes (needs root and rabbitmq-server): start, crash, restart with data kept, stop.

import { existsSync } from "node:fs";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  killPrivateNode,
  type PrivateNode,
  restartPrivateNode,
  startPrivateNode,
  stopPrivateNode,
  waitFor,
} from "./index.js";

describe("private RabbitMQ node", () => {
  let node: PrivateNode;

  beforeAll(async () => {
    node = await startPrivateNode();
  }, 120_000);

  afterAll(async () => {
    if (node !== undefined) await stopPrivateNode(node);
  }, 60_000);

  it("serves AMQP on its own port, survives SIGKILL + restart with durable data, and is removed on stop", async () => {
    expect(node.port).not.toBe(5672);
    const queue = "private-node-probe";
    const first = await amqp.connect(node.url);
    first.on("error", () => {});
    const closed = new Promise((resolve) => first.once("close", resolve));
    const channel = await first.createConfirmChannel();
    channel.on("error", () => {});
    await channel.assertQueue(queue, { durable: true });
    channel.sendToQueue(queue, Buffer.from("kept"), { persistent: true });
    await channel.waitForConfirms();

    await killPrivateNode(node);
    await closed;
    await expect(amqp.connect(node.url, { timeout: 2_000 })).rejects.toThrow();

    await restartPrivateNode(node);
    const second = await amqp.connect(node.url);
    second.on("error", () => {});
    try {
      const ch = await second.createChannel();
      const message = await waitFor(() => ch.get(queue, { noAck: true }), {
        what: "the persistent message back",
      });
      expect(message.content.toString()).toBe("kept");
    } finally {
      await second.close();
    }

    await stopPrivateNode(node);
    expect(existsSync(node.dir)).toBe(false);
    await expect(amqp.connect(node.url, { timeout: 2_000 })).rejects.toThrow();
    await stopPrivateNode(node);
  }, 120_000);
});
