// MemoryBroker: what it records, what it delivers, and the failures a test can make it show.
import type { Delivery, Verdict } from "@net2ban/transport";
import { describe, expect, it } from "vitest";
import { MemoryBroker } from "./memory-broker.js";

const body = (text: string) => Buffer.from(text);
const texts = (deliveries: Delivery[]) => deliveries.map((d) => d.body.toString());

describe("MemoryBroker", () => {
  it("records publishes in order; a queue without a consumer keeps them until one comes", async () => {
    const broker = new MemoryBroker();
    await broker.publish("q1", body("a"), { messageId: "m1" });
    await broker.publishAll([
      { queue: "q2", body: body("b") },
      { queue: "q1", body: body("c") },
    ]);
    expect(broker.published.map((item) => [item.queue, item.body.toString()])).toEqual([
      ["q1", "a"],
      ["q2", "b"],
      ["q1", "c"],
    ]);
    expect(await broker.queueInfo("q1")).toEqual({ messageCount: 2, consumerCount: 0 });
    expect(await broker.queueInfo("nowhere")).toBeNull();
    const seen: Delivery[] = [];
    await broker.consume({ prefetch: 1, queue: { name: "q1" } }, async (delivery) => {
      seen.push(delivery);
      return "ack";
    });
    await broker.settled();
    expect(texts(seen)).toEqual(["a", "c"]);
    expect(seen[0]!.messageId).toBe("m1");
    expect(await broker.queueInfo("q1")).toEqual({ messageCount: 0, consumerCount: 1 });
    expect(broker.take("q2").map((item) => item.body.toString())).toEqual(["b"]);
    expect(broker.take().map((item) => item.body.toString())).toEqual(["a", "c"]);
    expect(broker.published).toEqual([]);
  });

  it("a consumer gets what is published to its queue; its verdicts are recorded", async () => {
    const broker = new MemoryBroker();
    const verdicts: Verdict[] = ["ack", "reject"];
    await broker.consume({ prefetch: 5, queue: { name: "in", queueType: "quorum" } }, async () => {
      const verdict = verdicts.shift();
      if (verdict === undefined) throw new Error("handler failed");
      return verdict;
    });
    await broker.publishAll([
      { queue: "in", body: body("1") },
      { queue: "in", body: body("2") },
      { queue: "in", body: body("3") },
    ]);
    await broker.settled();
    expect(broker.verdicts.map((v) => [v.delivery.body.toString(), v.verdict])).toEqual([
      ["1", "ack"],
      ["2", "reject"],
      ["3", "error"],
    ]);
    expect(broker.queues.get("in")).toEqual({ name: "in", queueType: "quorum" });
  });

  it("deliver hands a message straight to the consumer and returns its verdict", async () => {
    const broker = new MemoryBroker();
    await expect(broker.deliver("in", body("x"))).rejects.toThrow('nothing consumes "in"');
    let redelivered: boolean | undefined;
    await broker.consume({ prefetch: 1, queue: { name: "in" } }, async (delivery) => {
      redelivered = delivery.redelivered;
      return "requeue";
    });
    expect(await broker.deliver("in", body("x"), { redelivered: true })).toBe("requeue");
    expect(redelivered).toBe(true);
    expect(broker.published).toEqual([]);
  });

  it("beforePublish makes a publish fail; bindings, deletes, events and close are kept", async () => {
    const broker = new MemoryBroker();
    broker.beforePublish = (item) => {
      if (item.queue === "full") throw new Error("queue full");
    };
    await expect(
      broker.publishAll([
        { queue: "ok", body: body("1") },
        { queue: "full", body: body("2") },
      ]),
    ).rejects.toThrow("queue full");
    expect(broker.published.map((item) => item.queue)).toEqual(["ok"]);
    await broker.bindQueue({ exchange: "x", exchangeType: "topic", queue: { name: "b" }, deadLetter: true });
    expect(broker.bindings).toEqual([
      { exchange: "x", exchangeType: "topic", queue: { name: "b" }, deadLetter: true },
    ]);
    await broker.deleteQueue("b");
    expect(broker.operations.map(([operation]) => operation)).toEqual(["bindQueue", "deleteQueue"]);
    const urls: string[] = [];
    broker.on("connected", (info) => urls.push(info.url));
    broker.emit("connected");
    broker.emit("disconnected");
    expect(urls).toEqual(["amqp://memory/"]);
    await broker.close();
    await expect(broker.publish("ok", body("late"))).rejects.toThrow("after close()");
  });
});
