// A request the server forwards again reaches each agent as the same bytes: after an unconfirmed publish
// (the input comes back redelivered) and after a server restart. A v1 agent knows a message only by its
// bytes (the MAC is its replay key), so a new IV would make it run the request twice.
import { parseConfig } from "@net2ban/config";
import { type Codec, createCodec, createExecRequest } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import {
  type Broker,
  type Consumer,
  type Delivery,
  PublishError,
  type PublishItem,
  type QueueInfo,
  type Verdict,
} from "@net2ban/transport";
import { beforeAll, describe, expect, it } from "vitest";
import { Net2banServer } from "./server.js";

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
const KEYS = { secret: "s", authkey: "a", rounds: 1000 };

const CONFIG = `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = ${KEYS.rounds}
secret = ${KEYS.secret}
authkey = ${KEYS.authkey}
mode = server
queue_prefix = refwd_

[server]
key = server-key
protocol = 1

[v1agent]
key = k1
protocol = 1

[v2agent]
key = k2
protocol = 2
`;

/** Records every publish; while `failNext` is set a publishAll fails after the broker took the messages. */
class FlakyBroker implements Broker {
  readonly published: PublishItem[] = [];
  failNext = false;

  async publishAll(items: PublishItem[]): Promise<void> {
    this.published.push(...items);
    if (this.failNext) {
      this.failNext = false;
      // The connection died before the confirms: the broker may hold the messages all the same.
      throw new PublishError(items[0]!.queue, "connection-lost", "connection closed before the confirm");
    }
  }
  async assertQueue(): Promise<void> {}
  async bindQueue(): Promise<void> {}
  async publish(): Promise<void> {
    throw new Error("not used by handleRequest");
  }
  async consume(_o: unknown, _h: (d: Delivery) => Promise<Verdict>): Promise<Consumer> {
    throw new Error("not used by handleRequest");
  }
  async queueInfo(): Promise<QueueInfo | null> {
    return null;
  }
  async deleteQueue(): Promise<void> {}
  async close(): Promise<void> {}
  on(): void {}
}

const silent: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
} as unknown as Logger;

async function server(broker: Broker): Promise<Net2banServer> {
  return Net2banServer.create(parseConfig(CONFIG, "refwd.cfg").config, {
    broker,
    logger: silent,
    now: () => NOW_MS,
    protectedAddresses: { localAddresses: () => [], resolveHost: false },
  });
}

let toServer: Codec;
let v1Agent: Codec;
let v2Agent: Codec;
beforeAll(async () => {
  toServer = await createCodec({
    protocol: 1,
    keyId: "server",
    direction: "to-server",
    keys: { key: "server-key", ...KEYS },
  });
  v1Agent = await createCodec({
    protocol: 1,
    keyId: "v1agent",
    direction: "to-agent",
    keys: { key: "k1", ...KEYS },
  });
  v2Agent = await createCodec({
    protocol: 2,
    keyId: "v2agent",
    direction: "to-agent",
    keys: { key: "k2", ...KEYS },
  });
});

const ban = (ip: string) =>
  createExecRequest({
    file: "iptables",
    action: "actionban",
    params: { ip, name: "sshd" },
    sender: "test",
    now: () => NOW_MS,
  });

const delivery = (body: Buffer, redelivered: boolean): Delivery => ({
  body,
  redelivered,
  deliveryTag: 1,
  headers: {},
});

const bodyFor = (items: readonly PublishItem[], queue: string): Buffer[] =>
  items.filter((item) => item.queue === queue).map((item) => item.body);

describe("a request forwarded again", () => {
  it("after an unconfirmed publish, the redelivered v1 input reaches each agent as identical bytes", async () => {
    const broker = new FlakyBroker();
    const s = await server(broker);
    const input = toServer.seal(ban("203.0.113.7"));
    broker.failNext = true;
    await expect(s.handleRequest(delivery(input, false))).rejects.toBeInstanceOf(PublishError);
    expect(await s.handleRequest(delivery(input, true))).toBe("ack");

    const v1 = bodyFor(broker.published, "refwd_v1agent");
    expect(v1).toHaveLength(2);
    expect(v1[1]!.equals(v1[0]!)).toBe(true);
    // The agent's replay key (the MAC) is the same, so its journal drops the second copy.
    const [first, second] = v1.map((body) => v1Agent.open(body));
    expect(second!.replayKey).toBe(first!.replayKey);
    expect(first!.message).toMatchObject({ cmd: "exec", action: "actionban", params: { ip: "203.0.113.7" } });
    const v2 = bodyFor(broker.published, "refwd_v2agent");
    expect(v2).toHaveLength(2);
    expect(v2[1]!.equals(v2[0]!)).toBe(true);
    expect(v2Agent.open(v2[0]!).message).toMatchObject({ cmd: "exec", params: { ip: "203.0.113.7" } });
  });

  it("by a restarted server (its replay memory empty), the same input gives the same bytes again", async () => {
    const input = toServer.seal(ban("203.0.113.8"));
    const before = new FlakyBroker();
    expect(await (await server(before)).handleRequest(delivery(input, false))).toBe("ack");
    const after = new FlakyBroker();
    expect(await (await server(after)).handleRequest(delivery(input, true))).toBe("ack");
    for (const queue of ["refwd_v1agent", "refwd_v2agent"]) {
      expect(bodyFor(after.published, queue)).toEqual(bodyFor(before.published, queue));
    }
  });

  it("two requests with the same content stay two messages; each agent's copy differs", async () => {
    const broker = new FlakyBroker();
    const s = await server(broker);
    // Sealed twice (random IVs at the sender): two inputs, two MACs, though the plaintexts are equal.
    expect(await s.handleRequest(delivery(toServer.seal(ban("203.0.113.9")), false))).toBe("ack");
    expect(await s.handleRequest(delivery(toServer.seal(ban("203.0.113.9")), false))).toBe("ack");
    const v1 = bodyFor(broker.published, "refwd_v1agent");
    expect(v1).toHaveLength(2);
    expect(v1[0]!.equals(v1[1]!)).toBe(false);
    expect(v1Agent.open(v1[0]!).replayKey).not.toBe(v1Agent.open(v1[1]!).replayKey);
  });
});
