// A request captured off the broker and published again after a server restart is refused: the replay
// memory of requests is on disk in state_dir/server, beside the ledger, for the request's whole window.
import { parseConfig } from "@net2ban/config";
import {
  createExecRequest,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  createUpdateRequest,
  type Message,
} from "@net2ban/protocol";
import { describe, expect, it } from "vitest";
import { CLOCK_START, codecFor, serverConfigHead, serverHarness } from "./test-support/server-harness.js";

let clock = CLOCK_START;
const now = () => clock;
const harness = serverHarness("replay-restart", () => {
  clock = CLOCK_START;
});

function configText(protocol: 1 | 2): string {
  return `${serverConfigHead("rr_", harness.dir, { global: "valid_wtime = 600", server: `protocol = ${protocol}` })}
[web1]
key = k1
`;
}

/** A server process's worth of objects on the harness's state_dir: what a restart of net2ban-server opens again. */
function startServer(protocol: 1 | 2 = 2) {
  return harness.start(parseConfig(configText(protocol), "replay.cfg").config, now);
}

async function sealer(protocol: 1 | 2 = 2) {
  const codec = await codecFor("server", "server-key", "to-server", protocol);
  return (message: Message) => codec.seal(message);
}

describe("a captured request replayed after a server restart", () => {
  it("ban, unban, ban; restart; the captured unban bytes are refused and the ban stays", async () => {
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

  it("every kind of request is taken once across a restart: exec, exec with bantime, update, status", async () => {
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

  it("v1: a sealed request (keyed by its MAC) is taken once across a restart", async () => {
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

  it("a redelivery of a request carried out before the restart is acknowledged, not dead-lettered", async () => {
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

  it("once its window is over, the request is forgotten on disk too (refused as expired)", async () => {
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
