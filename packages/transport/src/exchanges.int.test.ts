// Publishing through named exchanges and dead-lettering with a least-privilege login, against the shared
// RabbitMQ in a private vhost of this test with logins of its own (created with rabbitmqctl and deleted
// afterwards; guest and the existing vhosts are never touched).

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { brokerUrl, memoryLogger, requireBroker, waitFor } from "@net2ban/test-fixtures";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker } from "./broker.js";
import { PublishError } from "./errors.js";
import type { Broker, BrokerOptions } from "./types.js";

const vhost = `n2bt-exchanges-${randomBytes(4).toString("hex")}`;
const adminUser = `${vhost}-admin`;
const adminPassword = randomBytes(12).toString("hex");
const agentUser = `${vhost}-agent`;
const agentPassword = randomBytes(12).toString("hex");
const base = new URL(brokerUrl());

function urlFor(user: string, password: string): string {
  const url = new URL(base);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  url.pathname = `/${encodeURIComponent(vhost)}`;
  return url.toString();
}

const adminUrl = urlFor(adminUser, adminPassword);
const agentUrl = urlFor(agentUser, agentPassword);

/** rabbitmqctl as root; a password goes through stdin, never the command line. */
function rabbitmqctl(args: string[], stdin?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile("rabbitmqctl", args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (error === null) resolve();
      else reject(new Error(`rabbitmqctl ${args[0]} failed: ${stderr.trim() || error.message}`));
    });
    child.stdin?.end(stdin ?? "");
  });
}

const opened: Broker[] = [];
async function connect(options: Partial<BrokerOptions> & { urls: string[] }): Promise<Broker> {
  const broker = await connectBroker({ logger: memoryLogger(), ...options });
  opened.push(broker);
  return broker;
}

let admin: Broker;
let raw: amqp.ChannelModel;

beforeAll(async () => {
  await requireBroker();
  await rabbitmqctl(["add_vhost", vhost]);
  await rabbitmqctl(["add_user", adminUser], adminPassword);
  await rabbitmqctl(["set_permissions", "-p", vhost, adminUser, ".*", ".*", ".*"]);
  await rabbitmqctl(["add_user", agentUser], agentPassword);
  // What net2banctl rabbitmq-setup gives an agent: its own queue and .dead, write on the dead-letter
  // exchange only, and topic permission for its own .dead routing key.
  await rabbitmqctl(["set_permissions", "-p", vhost, agentUser, "^q_a(\\.dead)?$", "^dlx$", "^q_a$"]);
  await rabbitmqctl(["set_topic_permissions", "-p", vhost, agentUser, "dlx", "^q_a\\.dead$", "^$"]);
  admin = await connect({ urls: [adminUrl], recover: true });
  raw = await amqp.connect(adminUrl);
  raw.on("error", () => {});
}, 120_000);

afterAll(async () => {
  for (const broker of opened) await broker.close().catch(() => {});
  await raw?.close().catch(() => {});
  await rabbitmqctl(["delete_user", agentUser]).catch(() => {});
  await rabbitmqctl(["delete_user", adminUser]).catch(() => {});
  await rabbitmqctl(["delete_vhost", vhost]);
}, 60_000);

async function take(queue: string): Promise<amqp.GetMessage | false> {
  const channel = await raw.createChannel();
  try {
    return await channel.get(queue, { noAck: true });
  } finally {
    await channel.close();
  }
}

describe("publishing through a named exchange", () => {
  it("reaches the queue bound under its name, and no other queue", async () => {
    await admin.bindQueue({ exchange: "in", exchangeType: "direct", queue: { name: "input" } });
    await admin.assertQueue({ name: "elsewhere" });
    await admin.publish("input", Buffer.from("ban"), { exchange: "in", messageId: "m1" });
    expect(await take("input")).toMatchObject({ content: Buffer.from("ban"), fields: { exchange: "in" } });

    const error = await admin
      .publish("elsewhere", Buffer.from("x"), { exchange: "in" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).reason).toBe("returned");
    expect(await take("elsewhere")).toBe(false);
  });

  it("binding twice is harmless, and a quorum queue keeps its arguments", async () => {
    const binding = {
      exchange: "in",
      exchangeType: "direct",
      queue: { name: "qq", queueType: "quorum" },
    } as const;
    await admin.bindQueue(binding);
    await admin.bindQueue(binding);
    await admin.publishAll([{ queue: "qq", body: Buffer.from("one"), exchange: "in" }]);
    expect(await admin.queueInfo("qq")).toEqual({ messageCount: 1, consumerCount: 0 });
    expect(await admin.queueInfo("qq.dead")).toEqual({ messageCount: 0, consumerCount: 0 });
  });

  it("says which exchange is missing, and publishing still works afterwards", async () => {
    const error = await admin
      .publish("input", Buffer.from("x"), { exchange: "nowhere" })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PublishError);
    expect((error as PublishError).reason).toBe("refused");
    expect((error as Error).message).toBe(
      'publish to queue "input" failed: no exchange "nowhere" on the broker (it is declared by whoever binds the queues to it)',
    );
    await admin.publish("input", Buffer.from("after"), { exchange: "in" });
    expect(await take("input")).toMatchObject({ content: Buffer.from("after") });
  });

  it("makes the binding again after a reconnect, when the exchange was deleted meanwhile", async () => {
    const channel = await raw.createChannel();
    await channel.deleteExchange("in");
    await channel.close();
    const reconnected = new Promise<void>((resolve) => admin.on("connected", () => resolve()));
    await rabbitmqctl(["close_all_connections", "--vhost", vhost, "net2ban exchange test: forced reconnect"]);
    await reconnected;
    await raw.close().catch(() => {});
    raw = await amqp.connect(adminUrl);
    raw.on("error", () => {});
    await admin.publish("input", Buffer.from("rebound"), { exchange: "in" });
    expect(await take("input")).toMatchObject({ content: Buffer.from("rebound") });
  }, 60_000);
});

describe("a least-privilege login", () => {
  it("is refused on the default exchange with RabbitMQ's reason, then publishes where it may", async () => {
    await admin.bindQueue({
      exchange: "dlx",
      exchangeType: "topic",
      queue: { name: "q_a" },
      deadLetter: true,
    });
    await admin.bindQueue({
      exchange: "dlx",
      exchangeType: "topic",
      queue: { name: "q_b" },
      deadLetter: true,
    });
    await admin.assertQueue({ name: "q_b" });
    const agent = await connect({ urls: [agentUrl] });

    const refused = await agent.publish("q_b", Buffer.from("forged")).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PublishError);
    expect((refused as PublishError).reason).toBe("refused");
    expect((refused as Error).message).toContain(
      `ACCESS_REFUSED - access to exchange 'amq.default' in vhost '${vhost}' refused for user '${agentUser}'`,
    );
    // Topic permission: its own .dead routing key only.
    const otherDead = await agent
      .publish("q_b.dead", Buffer.from("forged"), { exchange: "dlx" })
      .catch((e: unknown) => e);
    expect((otherDead as PublishError).reason).toBe("refused");
    expect((otherDead as Error).message).toContain("ACCESS_REFUSED");
    // The refusals closed channels, not the connection: the next allowed publish goes through.
    await agent.publish("q_a.dead", Buffer.from("own"), { exchange: "dlx" });
    expect(await take("q_a.dead")).toMatchObject({ content: Buffer.from("own") });
    expect(await admin.queueInfo("q_b")).toEqual({ messageCount: 0, consumerCount: 0 });
    expect(await admin.queueInfo("q_b.dead")).toEqual({ messageCount: 0, consumerCount: 0 });
  });

  it("dead-letters through the dead-letter exchange, with the reason headers", async () => {
    const agent = await connect({ urls: [agentUrl], deadLetterExchange: "dlx" });
    const consumer = await agent.consume({ prefetch: 1, queue: { name: "q_a" } }, async () => "reject");
    try {
      await admin.publish("q_a", Buffer.from("poison"), { messageId: "p1" });
      const dead = await waitFor(() => take("q_a.dead"), { what: "the copy in q_a.dead", timeoutMs: 10_000 });
      expect(dead.content.toString()).toBe("poison");
      expect(dead.properties.messageId).toBe("p1");
      expect(dead.fields.exchange).toBe("dlx");
      expect(dead.properties.headers?.["x-net2ban-from"]).toBe("q_a");
      expect(dead.properties.headers?.["x-net2ban-reason"]).toBe("rejected by the handler");
      expect(await admin.queueInfo("q_a")).toEqual({ messageCount: 0, consumerCount: 1 });
    } finally {
      await consumer.cancel();
    }
  });
});
