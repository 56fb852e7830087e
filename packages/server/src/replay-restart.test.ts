// A request captured off the broker and published again after a server restart is refused: the replay
// memory of requests is on disk in state_dir/server, beside the ledger, for the request's whole window.
import { parseConfig } from "@net2ban/config";
import {
  createCodec,
  createExecRequest,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  createUpdateRequest,
  KeyCache,
  type Message,
} from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker, memoryLogger, type TempDir, tempDir } from "@net2ban/test-utils";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { Net2banServer } from "./server.js";
import { ServerState } from "./state.js";

let clock = Date.UTC(2026, 0, 15, 12, 0, 0);
const now = () => clock;
const keys = { secret: "s", authkey: "a", rounds: 1000 };
let dir: TempDir;
const running: Net2banServer[] = [];

beforeEach(async () => {
  dir = await tempDir("replay-restart");
  clock = Date.UTC(2026, 0, 15, 12, 0, 0);
});
afterEach(async () => {
  for (const server of running.splice(0)) await server.stop();
  await dir.remove();
});

function configText(protocol: 1 | 2): string {
  return `[global]
url = amqp://guest:guest@192.0.2.50:5672/
rounds = 1000
secret = s
authkey = a
mode = server
queue_prefix = rr_
state_dir = ${dir.path}
valid_wtime = 600

[server]
key = server-key
protocol = ${protocol}

[web1]
key = k1
`;
}

/** A server process's worth of objects on `dir`: what a restart of net2ban-server opens again. */
async function startServer(protocol: 1 | 2 = 2) {
  const { config } = parseConfig(configText(protocol), "replay.cfg");
  const broker = new MemoryBroker();
  const logger = memoryLogger();
  const keyCache = new KeyCache();
  const state = await ServerState.open({
    config,
    broker,
    logger: logger as unknown as Logger,
    keyCache,
    now,
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
  const stop = async () => {
    running.splice(running.indexOf(server), 1);
    await server.stop();
  };
  const deliver = (body: Buffer, redelivered = false) =>
    server.handleRequest({ body, redelivered, deliveryTag: 1, headers: {} });
  return { state, server, broker, logger, stop, deliver };
}

async function sealer(protocol: 1 | 2 = 2) {
  const codec = await createCodec({
    protocol,
    keyId: "server",
    direction: "to-server",
    keys: { key: "server-key", ...keys },
  });
  return (message: Message) => codec.seal(message);
}

describe("a captured request replayed after a server restart", () => {
  test("ban, unban, ban; restart; the captured unban bytes are refused and the ban stays", async () => {
    const seal = await sealer();
    const first = await startServer();
    const ip = "203.0.113.9";
    expect(await first.deliver(seal(createTrackedBanRequest({ ip, action: "demo", now })))).toBe("ack");
    clock += 1000;
    const unban = seal(createTrackedUnbanRequest({ ip, now }));
    expect(await first.deliver(unban)).toBe("ack");
    clock += 1000;
    expect(await first.deliver(seal(createTrackedBanRequest({ ip, action: "demo", now })))).toBe("ack");
    expect(first.state.ledger.active().map((ban) => ban.ip)).toEqual([ip]);
    await first.stop();

    clock += 5000;
    const second = await startServer();
    expect(second.state.ledger.active().map((ban) => ban.ip)).toEqual([ip]);
    expect(await second.deliver(unban)).toBe("reject");
    expect(second.logger.find("warn", "message rejected").map((e) => e.fields["reason"])).toEqual(["replay"]);
    expect(second.state.ledger.active().map((ban) => ban.ip)).toEqual([ip]);
    expect(second.broker.published).toEqual([]);
  });

  test("every kind of request is taken once across a restart: exec, exec with bantime, update, status", async () => {
    const seal = await sealer();
    const requests = [
      createExecRequest({ file: "demo", action: "actionban", params: { ip: "192.0.2.7" }, now }),
      createExecRequest({
        file: "demo",
        action: "actionban",
        params: { ip: "192.0.2.8", name: "sshd", bantime: "600" },
        now,
      }),
      createUpdateRequest({
        client: "web1",
        file: "demo",
        content: new TextEncoder().encode("[Definition]\n"),
        now,
      }),
      createStatusRequest({ replyTo: "rr_reply.1", now }),
    ].map(seal);
    const first = await startServer();
    for (const body of requests) expect(await first.deliver(body)).toBe("ack");
    await first.stop();
    const second = await startServer();
    for (const body of requests) expect(await second.deliver(body)).toBe("reject");
    expect(second.broker.published).toEqual([]);
  });

  test("v1: a sealed request (keyed by its MAC) is taken once across a restart", async () => {
    const seal = await sealer(1);
    const body = seal(
      createExecRequest({ file: "demo", action: "actionban", params: { ip: "192.0.2.7" }, now }),
    );
    const first = await startServer(1);
    expect(await first.deliver(body)).toBe("ack");
    await first.stop();
    const second = await startServer(1);
    expect(await second.deliver(body)).toBe("reject");
    expect(second.broker.published).toEqual([]);
  });

  test("a redelivery of a request carried out before the restart is acknowledged, not dead-lettered", async () => {
    const seal = await sealer();
    const body = seal(createTrackedBanRequest({ ip: "203.0.113.9", now }));
    const first = await startServer();
    expect(await first.deliver(body)).toBe("ack");
    await first.stop();
    const second = await startServer();
    expect(await second.deliver(body, true)).toBe("ack");
    expect(second.broker.published).toEqual([]);
    expect(second.logger.find("info", "request redelivered after it was carried out")).toHaveLength(1);
  });

  test("once its window is over, the request is forgotten on disk too (refused as expired)", async () => {
    const seal = await sealer();
    const first = await startServer();
    for (let i = 0; i < 50; i++) {
      await first.deliver(
        seal(createExecRequest({ file: "demo", action: "actionban", params: { ip: `192.0.2.${i}` }, now })),
      );
    }
    expect(first.state.requests.size).toBe(50);
    await first.stop();
    clock += 601_000;
    const second = await startServer();
    expect(second.state.requests.size).toBe(0);
  });
});
