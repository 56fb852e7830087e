// inspectBroker against the shared RabbitMQ: which nodes answer, and each queue's type as it exists
// compared with the configured one. Queues carry a random prefix and are deleted afterwards.

import { brokerUrl, cleanupQueues, freePort, requireBroker, uniquePrefix } from "@net2ban/test-fixtures";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { inspectBroker } from "./inspect.js";
import type { Broker } from "./types.js";

const url = brokerUrl();
const prefix = uniquePrefix("inspect");
const logger = { debug() {}, info() {}, warn() {}, error() {} };
let broker: Broker;

beforeAll(async () => {
  await requireBroker(url);
  broker = await connectBroker({ urls: [url], logger });
  await broker.assertQueue({ name: `${prefix}classic` });
  await broker.assertQueue({ name: `${prefix}quorum`, queueType: "quorum" });
  await broker.assertQueue({ name: `${prefix}quorum5`, queueType: "quorum", deliveryLimit: 5 });
  await broker.publish(`${prefix}classic`, Buffer.from("waiting"));
});

afterAll(async () => {
  await broker?.close();
  await cleanupQueues(prefix);
});

describe("inspectBroker", () => {
  it("reports each node: the live one with its version, the dead one with the reason", async () => {
    const dead = `amqp://guest:s3cret@127.0.0.1:${await freePort()}/`;
    const report = await inspectBroker({ urls: [dead, url], queues: [] });
    expect(report.nodes).toHaveLength(2);
    expect(report.nodes[0]).toMatchObject({ answers: false, url: expect.stringContaining(":***@") });
    expect(report.nodes[0]?.reason).toMatch(/ECONNREFUSED/);
    expect(JSON.stringify(report)).not.toContain("s3cret");
    expect(report.nodes[1]).toMatchObject({ answers: true, version: expect.stringMatching(/^RabbitMQ \d/) });
  });

  it("tells matching, missing and mismatched queues apart, and the type each really has", async () => {
    const report = await inspectBroker({
      urls: [url],
      queues: [
        { name: `${prefix}classic` },
        { name: `${prefix}quorum`, queueType: "quorum" },
        { name: `${prefix}missing`, queueType: "quorum" },
        { name: `${prefix}classic`, queueType: "quorum" },
        { name: `${prefix}quorum`, queueType: "classic" },
        { name: `${prefix}quorum5`, queueType: "quorum" },
      ],
    });
    const seen = report.queues.map(({ configured, existing, matches }) => ({
      configured,
      existing,
      matches,
    }));
    expect(seen).toEqual([
      { configured: "classic", existing: "classic", matches: true },
      { configured: "quorum", existing: "quorum", matches: true },
      { configured: "quorum", existing: "missing", matches: true },
      { configured: "quorum", existing: "classic", matches: false },
      { configured: "classic", existing: "quorum", matches: false },
      // Same type, another delivery limit than net2ban declares (20): still a mismatch, named as such.
      { configured: "quorum", existing: "quorum", matches: false },
    ]);
    expect(report.queues[0]).toMatchObject({ messages: 1, consumers: 0 });
    expect(report.queues[3]?.detail).toMatch(/PRECONDITION_FAILED/);
    expect(report.queues[5]?.detail).toMatch(/x-delivery-limit/);
    // Looking did not create anything.
    expect(await broker.queueInfo(`${prefix}missing`)).toBeNull();
  });

  it("with no node answering, every queue is unknown", async () => {
    const report = await inspectBroker({
      urls: [`amqp://guest:guest@127.0.0.1:${await freePort()}/`],
      queues: [{ name: `${prefix}classic` }],
    });
    expect(report.nodes[0]?.answers).toBe(false);
    expect(report.queues).toEqual([
      {
        name: `${prefix}classic`,
        configured: "classic",
        existing: "unknown",
        matches: true,
        detail: "no node answered",
      },
    ]);
  });

  it("names the argument that is wrong", async () => {
    await expect(inspectBroker({ urls: [], queues: [] })).rejects.toThrow('"options.urls"');
    await expect(inspectBroker({ urls: [url], queues: [{ name: "" }] })).rejects.toThrow(
      '"options.queues[0].name"',
    );
  });
});
