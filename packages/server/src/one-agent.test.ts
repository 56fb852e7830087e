// One compromised agent cannot hurt the others through the server: its flood of reports fills its own
// replay memory only, and its flood of mismatching digests gets a bounded number of syncs.
import { parseConfig } from "@net2ban/config";
import { createCodec, createTrackedBanRequest, KeyCache, type Message } from "@net2ban/protocol";
import { createDigestMessage, createResultMessage } from "@net2ban/protocol/fleet";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker, memoryLogger, sleep, type TempDir, tempDir, waitFor } from "@net2ban/test-utils";
import type { Delivery } from "@net2ban/transport";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { Net2banServer } from "./server.js";
import { ServerState } from "./state.js";

let clock = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = () => clock;
const keys = { secret: "s", authkey: "a", rounds: 1000 };
let dir: TempDir;
const running: Net2banServer[] = [];

beforeEach(async () => {
  dir = await tempDir("one-agent");
  clock = Date.UTC(2026, 0, 15, 12, 0, 0);
});
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
  await dir.remove();
});

async function fleet(options: { minSyncIntervalMs?: number } = {}) {
  const { config } = parseConfig(
    `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
authkey = a
mode = server
queue_prefix = oa_
state_dir = ${dir.path}

[server]
key = server-key

[web1]
key = k1

[web2]
key = k2
`,
    "one-agent.cfg",
  );
  const broker = new MemoryBroker();
  const logger = memoryLogger();
  const keyCache = new KeyCache();
  const state = await ServerState.open({
    config,
    broker,
    logger: logger as unknown as Logger,
    keyCache,
    now,
    ...options,
  });
  const server = await Net2banServer.create(config, {
    broker,
    logger: logger as unknown as Logger,
    keyCache,
    now,
    state,
    protectedAddresses: { localAddresses: () => [], resolveHost: false },
  });
  await server.start();
  running.push(server);
  const codecs = {
    server: await createCodec({
      protocol: 2,
      keyId: "server",
      direction: "to-server",
      keys: { key: "server-key", ...keys },
    }),
    web1: await createCodec({
      protocol: 2,
      keyId: "web1",
      direction: "from-agent",
      keys: { key: "k1", ...keys },
    }),
    web2: await createCodec({
      protocol: 2,
      keyId: "web2",
      direction: "from-agent",
      keys: { key: "k2", ...keys },
    }),
  };
  const delivery = (body: Buffer): Delivery => ({ body, redelivered: false, deliveryTag: 1, headers: {} });
  return {
    state,
    broker,
    logger,
    send: (message: Message) => server.handleRequest(delivery(codecs.server.seal(message))),
    report: (client: "web1" | "web2", message: Message) =>
      broker.deliver("oa_results", codecs[client].seal(message)),
    /** Published to `queue` since the start, by command. */
    sentTo: (queue: string) => broker.published.filter((item) => item.queue === queue),
  };
}

function result(client: "web1" | "web2", requestId: string, at: () => number) {
  return createResultMessage({
    requestId,
    client,
    ok: true,
    exitCode: 0,
    durationMs: 1,
    op: "exec",
    now: at,
  });
}

describe("reports: one replay memory per agent", () => {
  test("agent web1 floods 100,000 reports dated ahead; web2's reports are still accepted", async () => {
    const s = await fleet();
    // Dated 4 s ahead (inside the skew): what a flood that would fill a shared memory looks like.
    const ahead = () => clock + 4000;
    for (let i = 0; i < 100_000; i++) {
      await s.report("web1", result("web1", `flood-${i.toString().padStart(8, "0")}`, ahead));
    }
    expect(await s.report("web2", result("web2", "genuine-0001", now))).toBe("ack");
    expect(s.logger.find("warn", "report rejected").filter((e) => e.fields["client"] === "web2")).toEqual([]);
  }, 120_000);

  test("a report dated more than a few seconds ahead is refused as from the future", async () => {
    const s = await fleet();
    expect(
      await s.report(
        "web1",
        result("web1", "ahead-00001", () => clock + 59_000),
      ),
    ).toBe("reject");
    expect(s.logger.find("warn", "report rejected").map((e) => e.fields["reason"])).toEqual([
      expect.stringMatching(/^future/),
    ]);
    expect(
      await s.report(
        "web1",
        result("web1", "ahead-00002", () => clock + 3000),
      ),
    ).toBe("ack");
  });
});

describe("syncs: at most one whole set per agent per interval", () => {
  /** A digest that differs from the ledger, as an agent that keeps claiming to hold nothing sends. */
  const differing = (reason: "start" | "sync" | "interval") =>
    createDigestMessage({ client: "web1", reason, count: 0, hash: "0".repeat(64), now });

  test("agent web1 sends 300 differing digests: one sync now, one line; web2's ban still flows", async () => {
    const s = await fleet();
    for (let i = 0; i < 20; i++) {
      const ip = `203.0.113.${i + 1}`;
      expect(await s.send(createTrackedBanRequest({ ip, action: "demo", name: "sshd", now }))).toBe("ack");
    }
    s.broker.published.splice(0);
    const reasons = ["start", "sync", "interval"] as const;
    for (let i = 0; i < 300; i++) expect(await s.report("web1", differing(reasons[i % 3]!))).toBe("ack");
    expect(s.sentTo("oa_web1")).toHaveLength(1);
    expect(s.logger.find("warn", "syncs to web1 limited to one per 10 s")).toHaveLength(1);
    const ban = createTrackedBanRequest({ ip: "198.51.100.1", action: "demo", name: "sshd", now });
    expect(await s.send(ban)).toBe("ack");
    expect(s.sentTo("oa_web2")).toHaveLength(1);
  });

  test("the digests that waited get one sync at the end of the interval, with the set as it is then", async () => {
    const s = await fleet({ minSyncIntervalMs: 20 });
    await s.send(createTrackedBanRequest({ ip: "203.0.113.1", action: "demo", name: "sshd", now }));
    s.broker.published.splice(0);
    for (let i = 0; i < 50; i++) await s.report("web1", differing("start"));
    expect(s.sentTo("oa_web1")).toHaveLength(1);
    clock += 20;
    await waitFor(() => s.sentTo("oa_web1").length >= 2, { what: "the folded sync" });
    // Once: the 49 digests that waited were folded into it.
    await sleep(50);
    expect(s.sentTo("oa_web1")).toHaveLength(2);
  });
});
