// Queue bounds on the real broker, as `net2banctl rabbitmq-setup` sets them (RabbitMQ policies, here with
// tiny bounds and scoped to this fleet's names): a full agent queue refuses the server's copy, the server
// holds the request back (not acknowledged, not dead-lettered) and every ban arrives once the agents
// drain their queues; a flood of an agent's `.dead` queue keeps it at its bound and never blocks.

import { readFile } from "node:fs/promises";
import { parseConfig } from "@net2ban/config";
import { policyCalls, queueBoundPolicies, runRabbitmqctl } from "@net2ban/ctl";
import { brokerUrl, requireBroker } from "@net2ban/test-utils";
import amqp from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";

const url = brokerUrl();
const fleets: Fleet[] = [];
const policies: string[] = [];
const demo = ["--action", "net2ban-demo"];

beforeAll(() => requireBroker(url));

afterEach(async () => {
  for (const name of policies.splice(0)) await runRabbitmqctl({ args: ["clear_policy", "-p", "/", name] });
  await Promise.all(fleets.splice(0).map((f) => f.close()));
});

/** The policies rabbitmq-setup writes for this fleet's config, named after the fleet, on vhost "/". */
async function applyBounds(
  fleet: Fleet,
  bounds: { maxLength: number; deadMaxLength: number },
): Promise<void> {
  const { config } = parseConfig(await readFile(fleet.serverConfigPath, "utf8"), fleet.serverConfigPath);
  const planned = queueBoundPolicies(config, { ...bounds, maxBytes: 1024 * 1024, deadMaxBytes: 1024 * 1024 });
  const named = planned.map((policy) => ({ ...policy, name: `${fleet.prefix}-${policy.name}` }));
  for (const call of policyCalls("/", named)) {
    policies.push(call.args.at(-3)!);
    const result = await runRabbitmqctl(call);
    expect(result.ok, result.stderr).toBe(true);
  }
}

/** Messages ready in `queue`; 0 when it does not exist. */
async function messageCount(queue: string): Promise<number> {
  const connection = await amqp.connect(url);
  connection.on("error", () => {});
  try {
    const channel = await connection.createChannel();
    channel.on("error", () => {});
    const { messageCount } = await channel.checkQueue(queue).catch(() => ({ messageCount: 0 }));
    return messageCount;
  } finally {
    await connection.close().catch(() => {});
  }
}

describe("queue bounds", () => {
  it("a full agent queue holds requests back at the server; no ban is lost or dead-lettered", async () => {
    const fleet = await Fleet.create({ brokerUrl: url, rounds: 1000, agents: 2, label: "qbound" });
    fleets.push(fleet);
    await applyBounds(fleet, { maxLength: 3, deadMaxLength: 5 });
    await fleet.startServer();
    const ips = ["192.0.2.31", "192.0.2.32", "192.0.2.33", "192.0.2.34", "192.0.2.35", "192.0.2.36"];
    for (const ip of ips) {
      const ban = await fleet.ctl(["ban", ip, ...demo]);
      expect(ban.code, ban.stderr).toBe(0);
    }
    // The agents are not running: their queues fill up to the bound, the fourth copy is refused.
    await fleet.waitForLog(
      "server",
      (l) => l.msg.includes("(queue full): request") && l.msg.includes("held back"),
    );
    for (const agent of fleet.agentNames) expect(await messageCount(`${fleet.prefix}_${agent}`)).toBe(3);
    await fleet.startAgent("agent1");
    await fleet.startAgent("agent2");
    for (const agent of fleet.agentNames) {
      for (const ip of ips) await fleet.waitForBanLine(agent, `ban ${ip}`, 30_000);
    }
    for (const agent of fleet.agentNames) {
      expect((await fleet.banLines(agent)).sort()).toEqual(ips.map((ip) => `ban ${ip}`));
    }
    const server = fleet.process("server").lines;
    expect(server.filter((l) => l.msg.includes(".dead"))).toEqual([]);
    expect(await messageCount(`${fleet.inputQueue}.dead`)).toBe(0);
  }, 120_000);

  it("an agent's .dead queue flooded stays at its bound, dropping the oldest; no publish is refused", async () => {
    const fleet = await Fleet.create({ brokerUrl: url, rounds: 1000, agents: 1, label: "qdead" });
    fleets.push(fleet);
    await applyBounds(fleet, { maxLength: 3, deadMaxLength: 5 });
    const dead = `${fleet.prefix}_agent1.dead`;
    const connection = await amqp.connect(url);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(dead, { durable: true });
      for (let i = 0; i < 50; i++) channel.sendToQueue(dead, Buffer.from(`flood ${i}`), { persistent: true });
      // Every publish confirmed (drop-head never nacks), so the flood blocks no publisher.
      await channel.waitForConfirms();
      const { messageCount: kept } = await channel.checkQueue(dead);
      expect(kept).toBe(5);
      const first = await channel.get(dead, { noAck: true });
      expect(first === false ? undefined : first.content.toString()).toBe("flood 45");
      await channel.close();
    } finally {
      await connection.close();
    }
  });
});
