// The server's self-lockout guard: bans of protected addresses are dropped before any agent sees them,
// a client's own ignoreip keeps the ban from that client only, unbans always go through.
import { parseConfig } from "@net2ban/config";
import { createCodec, createExecRequest } from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import { MemoryBroker } from "@net2ban/test-utils";
import { describe, expect, it } from "vitest";
import { Net2banServer } from "./server.js";

const NOW_MS = Date.UTC(2026, 0, 15, 12, 0, 0);

function configText(extra: { global?: string; server?: string; agent1?: string; url?: string } = {}): string {
  return `[global]
url = ${extra.url ?? "amqp://guest:guest@192.0.2.50:5672/"}
rounds = 1000
secret = s
mode = server
authkey = a
queue_prefix = guard_
${extra.global ?? ""}

[server]
key = server-key
${extra.server ?? ""}

[agent1]
key = k1
${extra.agent1 ?? ""}

[agent2]
key = k2
`;
}

interface Line {
  level: string;
  msg: string;
}

async function serverFor(text: string, resolveHost?: (host: string) => Promise<string[]>) {
  const lines: Line[] = [];
  const log = (level: string) => (_o: object, msg?: string) => lines.push({ level, msg: msg ?? "" });
  const logger = { info: log("info"), warn: log("warn"), error: log("error"), debug: () => undefined };
  const broker = new MemoryBroker();
  const forwarded = broker.published;
  const server = await Net2banServer.create(parseConfig(text, "guard.cfg").config, {
    broker,
    logger: logger as unknown as Logger,
    now: () => NOW_MS,
    protectedAddresses: { localAddresses: () => ["198.51.100.2"], resolveHost: resolveHost ?? false },
  });
  const codec = await createCodec({
    protocol: 2,
    keyId: "server",
    direction: "to-server",
    keys: { key: "server-key", secret: "s", authkey: "a", rounds: 1000 },
  });
  const send = (ip: string, action = "actionban") =>
    server.handleRequest({
      body: codec.seal(
        createExecRequest({
          file: "net2ban-demo",
          action,
          params: { ip, name: "sshd" },
          sender: "test",
          now: () => NOW_MS,
        }),
      ),
      redelivered: false,
      deliveryTag: 1,
      headers: {},
    });
  // Clients' keys are derived concurrently, so the forwarding order is not fixed: compare sorted.
  return { server, lines, forwarded, send, queues: () => forwarded.map((f) => f.queue).sort() };
}

describe("server guard", () => {
  it("drops a ban inside [global] ignoreip with one line naming the entry", async () => {
    const s = await serverFor(configText({ global: "ignoreip = 10.0.0.0/8" }));
    expect(await s.send("10.1.2.3")).toBe("reject");
    expect(s.forwarded).toEqual([]);
    expect(s.lines).toEqual([
      { level: "warn", msg: "ban 10.1.2.3 refused: 10.0.0.0/8 is in ignoreip ([global]); request dropped" },
    ]);
  });

  it("drops bans of [server] ignoreip, its own addresses, the broker's and loopback, and CIDRs holding them", async () => {
    const s = await serverFor(configText({ server: "ignoreip = 203.0.113.5" }));
    const cases: [string, string][] = [
      ["203.0.113.5", "203.0.113.5 is in ignoreip ([server])"],
      ["198.51.100.2", "198.51.100.2 is in ignoreip (default: this host)"],
      ["192.0.2.50", "192.0.2.50 is in ignoreip (default: broker 192.0.2.50)"],
      ["127.0.0.2", "127.0.0.0/8 is in ignoreip (default: loopback)"],
      ["::ffff:127.0.0.1", "127.0.0.0/8 is in ignoreip (default: loopback)"],
      ["203.0.113.0/24", "203.0.113.5 is in ignoreip ([server])"],
      ["::/0", "203.0.113.5 is in ignoreip ([server])"],
    ];
    for (const [ip, hit] of cases) {
      expect(await s.send(ip)).toBe("reject");
      expect(s.lines.at(-1)?.msg).toBe(`ban ${ip} refused: ${hit}; request dropped`);
    }
    expect(s.forwarded).toEqual([]);
    expect(s.lines).toHaveLength(cases.length);
  });

  it("a client's own ignoreip keeps the ban from that client only", async () => {
    const s = await serverFor(configText({ agent1: "ignoreip = 203.0.113.0/28" }));
    expect(await s.send("203.0.113.9")).toBe("ack");
    expect(s.queues()).toEqual(["guard_agent2"]);
    expect(s.lines.map((l) => l.msg)).toEqual([
      "ban 203.0.113.9 refused: 203.0.113.0/28 is in ignoreip ([agent1]); not forwarded to agent1",
      "Forwarding: exec/net2ban-demo",
    ]);
    expect(await s.send("203.0.113.99")).toBe("ack");
    expect(s.queues()).toEqual(["guard_agent1", "guard_agent2", "guard_agent2"]);
  });

  it("an unban of a protected address goes to everyone; an ip that is not an address never does", async () => {
    const s = await serverFor(configText({ global: "ignoreip = 10.0.0.0/8" }));
    expect(await s.send("10.1.2.3", "actionunban")).toBe("ack");
    expect(s.queues()).toEqual(["guard_agent1", "guard_agent2"]);
    expect(await s.send("10.1.2.3; reboot", "actionunban")).toBe("reject");
    expect(s.lines.at(-1)?.msg).toBe(
      'actionunban "10.1.2.3; reboot" refused: not an IPv4/IPv6 address or CIDR; request dropped',
    );
    expect(s.forwarded).toHaveLength(2);
  });

  it("a broker host name is resolved at start, and again on reload", async () => {
    let answer = ["192.0.2.60"];
    const s = await serverFor(configText({ url: "amqp://mq.example.net/" }), async (host) => {
      expect(host).toBe("mq.example.net");
      return answer;
    });
    expect(await s.send("192.0.2.60")).toBe("reject");
    expect(s.lines.at(-1)?.msg).toContain("(default: broker mq.example.net)");
    answer = ["192.0.2.61"];
    await s.server.reload(
      parseConfig(
        configText({ url: "amqp://mq.example.net/", global: "ignoreip = 10.9.0.0/16" }),
        "guard.cfg",
      ).config,
    );
    expect(await s.send("192.0.2.60")).toBe("ack");
    expect(await s.send("192.0.2.61")).toBe("reject");
    expect(await s.send("10.9.1.1")).toBe("reject");
    expect(s.lines.at(-1)?.msg).toContain("10.9.0.0/16 is in ignoreip ([global])");
  });
});
