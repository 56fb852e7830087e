// The server's ban state with an in-memory broker: ban/unban/status requests and fail2ban's exec with a
// bantime into the ledger, apply commands to v2 agents and plain exec to v1 ones, repeats that extend,
// results and digests from agents (host states, catch-up syncs, drift), replies to --wait, and expiry.
import { parseConfig } from "@net2ban/config";
import { banKey } from "@net2ban/ledger";
import {
  createExecRequest,
  createStatusRequest,
  createTrackedBanRequest,
  createTrackedUnbanRequest,
  type Message,
  type Net2banMessage,
} from "@net2ban/protocol";
import {
  type AcceptedMessage,
  type ApplyMessage,
  createDigestMessage,
  createResultMessage,
  type StateMessage,
  type SyncMessage,
} from "@net2ban/protocol/fleet";
import { describe, expect, it } from "vitest";
import { CLOCK_START, codecFor, serverConfigHead, serverHarness } from "./test-support/server-harness.js";

let clock = CLOCK_START;
const now = () => clock;
const harness = serverHarness("server-state", () => {
  clock = CLOCK_START;
});

function configText(): string {
  return `${serverConfigHead("st_", harness.dir, { global: "bantime = 1h" })}
[web1]
key = k1

[web2]
key = k2
ignoreip = 198.51.100.0/24

[old]
key = k3
protocol = 1
`;
}

interface Sent {
  queue: string;
  message: Net2banMessage;
}

async function serverWithState() {
  const { config } = parseConfig(configText(), "state.cfg");
  const { state, server, broker, logger, deliver } = await harness.start(config, now);
  const toServer = await codecFor("server", "server-key", "to-server");
  const replies = await codecFor("server", "server-key", "from-server");
  const agents = {
    web1: await codecFor("web1", "k1", "to-agent"),
    web2: await codecFor("web2", "k2", "to-agent"),
    old: await codecFor("old", "k3", "to-agent", 1),
  };
  const fromAgent = {
    web1: await codecFor("web1", "k1", "from-agent"),
    web2: await codecFor("web2", "k2", "from-agent"),
  };
  /** What was published since the last call, opened with the recipient's keys. */
  const take = (): Sent[] =>
    broker.take().map((item) => {
      const name = item.queue.replace(/^st_/, "") as keyof typeof agents;
      const codec = agents[name] ?? replies;
      return { queue: item.queue, message: codec.open(item.body).message };
    });
  return {
    state,
    server,
    logger,
    take,
    send: (message: Message) => deliver(toServer.seal(message)),
    report: (client: "web1" | "web2", message: Message) =>
      broker.deliver("st_results", fromAgent[client].seal(message)),
  };
}

const t = () => clock / 1000;

describe("ban and unban through the ledger", () => {
  it("a ban: apply to each v2 agent (not where its ignoreip protects), plain exec to a v1 agent", async () => {
    const s = await serverWithState();
    expect(
      await s.send(
        createTrackedBanRequest({
          ip: "203.0.113.9",
          action: "demo",
          name: "sshd",
          params: { port: "22" },
          now,
        }),
      ),
    ).toBe("ack");
    const sent = s.take().sort((a, b) => a.queue.localeCompare(b.queue));
    expect(sent.map((x) => [x.queue, x.message.cmd])).toEqual([
      ["st_old", "exec"],
      ["st_web1", "apply"],
      ["st_web2", "apply"],
    ]);
    expect(sent[1]!.message).toMatchObject({
      op: "ban",
      file: "demo",
      name: "sshd",
      ip: "203.0.113.9",
      params: { port: "22" },
      expiresAt: t() + 3600,
    });
    expect(sent[0]!.message).toMatchObject({
      action: "actionban",
      params: { port: "22", name: "sshd", ip: "203.0.113.9" },
    });
    expect(s.state.ledger.active()).toHaveLength(1);
    expect(Object.fromEntries(s.state.ledger.active()[0]!.hosts)).toEqual({
      web1: { state: "pending", at: t() },
      web2: { state: "pending", at: t() },
    });
    // web2 protects 198.51.100.0/24: only web1 and the v1 client get this one.
    await s.send(createTrackedBanRequest({ ip: "198.51.100.7", duration: null, now }));
    expect(
      s
        .take()
        .map((x) => x.queue)
        .sort(),
    ).toEqual(["st_old", "st_web1"]);
  });

  it("a repeat extends the ledger's end and re-sends apply (agents only move the end); v1 gets nothing", async () => {
    const s = await serverWithState();
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", duration: 60, now }));
    s.take();
    clock += 10_000;
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", duration: 600, now }));
    const sent = s.take();
    expect(sent.map((x) => x.queue).sort()).toEqual(["st_web1", "st_web2"]);
    expect((sent[0]!.message as ApplyMessage).expiresAt).toBe(t() + 600);
    expect(s.state.ledger.active()[0]!.expiresAt).toBe(t() + 600);
  });

  it("unban: apply unban where it was sent, exec actionunban with the ban's params to v1; nothing known, nothing sent", async () => {
    const s = await serverWithState();
    await s.send(
      createTrackedBanRequest({
        ip: "203.0.113.9",
        action: "demo",
        name: "sshd",
        params: { port: "22" },
        now,
      }),
    );
    s.take();
    await s.send(createTrackedUnbanRequest({ ip: "203.0.113.9", now }));
    // Clients' keys are derived concurrently, so the forwarding order is not fixed: compare sorted.
    const sent = s.take().sort((a, b) => a.queue.localeCompare(b.queue));
    expect(sent.map((x) => [x.queue, x.message.cmd])).toEqual([
      ["st_old", "exec"],
      ["st_web1", "apply"],
      ["st_web2", "apply"],
    ]);
    expect(sent[1]!.message).toMatchObject({ op: "unban", params: { port: "22" } });
    expect(sent[0]!.message).toMatchObject({
      action: "actionunban",
      params: { port: "22", name: "sshd", ip: "203.0.113.9" },
    });
    expect(s.state.ledger.active()).toEqual([]);
    expect(await s.send(createTrackedUnbanRequest({ ip: "203.0.113.9", now }))).toBe("ack");
    expect(s.take()).toEqual([]);
    expect(s.logger.find("info", "unban 203.0.113.9: not in the ledger, nothing to do")).toHaveLength(1);
  });

  it("fail2ban's exec actionban with bantime goes into the ledger; its exec actionunban lifts it", async () => {
    const s = await serverWithState();
    const ban = createExecRequest({
      file: "iptables-multiport",
      action: "actionban",
      params: { ip: "192.0.2.7", name: "sshd", port: "ssh", bantime: "600" },
      now,
    });
    await s.send(ban);
    const first = s.take().find((x) => x.queue === "st_web1");
    expect(first!.message).toMatchObject({
      cmd: "apply",
      name: "sshd",
      params: { port: "ssh", bantime: "600" },
      expiresAt: ban.timestamp + 600,
    });
    await s.send(
      createExecRequest({
        file: "iptables-multiport",
        action: "actionunban",
        params: { ip: "192.0.2.7", name: "sshd" },
        now,
      }),
    );
    expect(
      s
        .take()
        .map((x) => x.message.cmd)
        .sort(),
    ).toEqual(["apply", "apply", "exec"]);
    expect(s.state.ledger.active()).toEqual([]);
    // Without bantime (the original's syntax) an exec goes out as an exec, as before.
    await s.send(
      createExecRequest({
        file: "iptables-multiport",
        action: "actionban",
        params: { ip: "192.0.2.8" },
        now,
      }),
    );
    expect(s.take().map((x) => x.message.cmd)).toEqual(["exec", "exec", "exec"]);
    expect(s.state.ledger.active()).toEqual([]);
  });

  it("a ban of a protected address is refused, and a --wait caller is told why", async () => {
    const s = await serverWithState();
    const verdict = await s.send(createTrackedBanRequest({ ip: "127.0.0.1", replyTo: "st_reply.1", now }));
    expect(verdict).toBe("reject");
    const [reply] = s.take();
    expect(reply!.queue).toBe("st_reply.1");
    expect(reply!.message).toMatchObject({
      cmd: "accepted",
      hosts: [],
      refused: expect.stringContaining("127.0.0.1"),
    });
  });
});

describe("replies, results and digests", () => {
  it("--wait: accepted names the v2 hosts, then each host's result is forwarded; host states follow", async () => {
    const s = await serverWithState();
    const ban = createTrackedBanRequest({
      ip: "203.0.113.9",
      action: "demo",
      name: "sshd",
      replyTo: "st_reply.2",
      now,
    });
    await s.send(ban);
    const accepted = s.take().find((x) => x.queue === "st_reply.2")!.message as AcceptedMessage;
    expect(accepted).toMatchObject({
      requestId: ban.id,
      hosts: ["web1", "web2"],
      change: "new",
      expiresAt: t() + 3600,
    });
    const result = (client: "web1" | "web2", ok: boolean) =>
      createResultMessage({
        requestId: ban.id,
        client,
        ok,
        exitCode: ok ? 0 : 2,
        durationMs: 3,
        op: "ban",
        file: "demo",
        name: "sshd",
        ip: "203.0.113.9",
        latencySeconds: 0.01,
        now,
      });
    expect(await s.report("web1", result("web1", true))).toBe("ack");
    expect(await s.report("web2", result("web2", false))).toBe("ack");
    expect(
      s
        .take()
        .map((x) => [x.queue, x.message.cmd, (x.message as { client?: string }).client])
        .sort(),
    ).toEqual([
      ["st_reply.2", "result", "web1"],
      ["st_reply.2", "result", "web2"],
    ]);
    const hosts = Object.fromEntries(s.state.ledger.active()[0]!.hosts);
    expect(hosts).toEqual({
      web1: { state: "applied", at: t() },
      web2: { state: "failed", at: t(), exitCode: 2 },
    });
  });

  it("status: the active bans with each host's state, in parts to the reply queue", async () => {
    const s = await serverWithState();
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", now }));
    await s.send(createTrackedBanRequest({ ip: "198.51.100.7", now }));
    s.take();
    await s.send(createStatusRequest({ replyTo: "st_reply.3", now }));
    const [part] = s.take();
    const state = part!.message as StateMessage;
    expect(state).toMatchObject({ cmd: "state", seq: 0, last: true });
    expect(state.bans.map((b) => [b.ip, Object.keys(b.hosts)])).toEqual([
      ["203.0.113.9", ["web1", "web2"]],
      ["198.51.100.7", ["web1"]],
    ]);
    await s.send(createStatusRequest({ ip: "198.51.100.7", replyTo: "st_reply.3", now }));
    expect((s.take()[0]!.message as StateMessage).bans.map((b) => b.ip)).toEqual(["198.51.100.7"]);
  });

  it("a start digest that differs gets the whole set (catch-up); an equal one confirms what was pending", async () => {
    const s = await serverWithState();
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", action: "demo", name: "sshd", now }));
    await s.send(createTrackedBanRequest({ ip: "198.51.100.7", action: "demo", name: "sshd", now }));
    s.take();
    const empty = createDigestMessage({
      client: "web2",
      reason: "start",
      count: 0,
      hash: "0".repeat(64),
      now,
    });
    await s.report("web2", empty);
    const [sync] = s.take();
    expect(sync!.queue).toBe("st_web2");
    expect((sync!.message as SyncMessage).bans.map((b) => b.ip)).toEqual(["203.0.113.9"]);
    const key = banKey({ file: "demo", name: "sshd", ip: "203.0.113.9" });
    const { digestOf } = await import("@net2ban/ledger");
    const equal = digestOf([key]);
    await s.report("web2", createDigestMessage({ client: "web2", reason: "sync", ...equal, now }));
    expect(s.take()).toEqual([]);
    expect(s.state.ledger.get(key)!.hosts.get("web2")).toEqual({ state: "applied", at: t() });
  });

  it("a periodic digest that differs is drift: logged, counted, and the set sent again", async () => {
    const s = await serverWithState();
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", now }));
    s.take();
    await s.report(
      "web1",
      createDigestMessage({
        client: "web1",
        reason: "interval",
        count: 0,
        hash: "0".repeat(64),
        missing: 1,
        now,
      }),
    );
    expect(s.take().map((x) => [x.queue, x.message.cmd])).toEqual([["st_web1", "sync"]]);
    expect(s.logger.find("warn", "drift on web1: it holds 0 ban(s), the ledger has 1")).toHaveLength(1);
  });

  it("a report under another client's name or from an unknown client is rejected", async () => {
    const s = await serverWithState();
    const forged = createDigestMessage({
      client: "web1",
      reason: "start",
      count: 0,
      hash: "0".repeat(64),
      now,
    });
    await expect(s.report("web2", forged)).resolves.toBe("reject");
    expect(s.take()).toEqual([]);
  });
});

// How digests are judged is tested on its own in drift.test.ts; these check that the state tells the judge
// what it sends (applies, unbans, syncs), what the agents answer and which bans ended.
describe("digests that cross commands on their way (no false drift)", () => {
  const keyOf = (ip: string) => banKey({ file: "demo", name: "sshd", ip });
  const ban = (ip: string, duration?: number) =>
    createTrackedBanRequest({
      ip,
      action: "demo",
      name: "sshd",
      ...(duration === undefined ? {} : { duration }),
      now,
    });
  const digestOfIps = async (ips: string[]) => (await import("@net2ban/ledger")).digestOf(ips.map(keyOf));
  const interval = async (ips: string[], at = now) =>
    createDigestMessage({ client: "web1", reason: "interval", ...(await digestOfIps(ips)), now: at });
  const answered = (requestId: string, ip: string) =>
    createResultMessage({
      requestId,
      client: "web1",
      ok: true,
      exitCode: 0,
      durationMs: 1,
      op: "ban",
      file: "demo",
      name: "sshd",
      ip,
      now,
    });
  const drifts = (s: Awaited<ReturnType<typeof serverWithState>>) => s.logger.find("warn", "drift on web1");

  it("a periodic digest taken before a ban on its way reached the agent is not drift; once answered, it is", async () => {
    const s = await serverWithState();
    const first = ban("203.0.113.1");
    await s.send(first);
    await s.report("web1", answered(first.id, "203.0.113.1"));
    clock += 10;
    const second = ban("203.0.113.2");
    await s.send(second);
    const unban = createTrackedUnbanRequest({ ip: "203.0.113.1", now });
    await s.send(unban);
    s.take();
    // The agent has carried out the first ban only: the second and the unban are still in its queue.
    await s.report("web1", await interval(["203.0.113.1"]));
    // ...or the second ban too, not yet the unban.
    await s.report("web1", await interval(["203.0.113.1", "203.0.113.2"]));
    expect(s.take()).toEqual([]);
    expect(drifts(s)).toEqual([]);
    // A digest that no order of those commands explains is drift, commands on their way or not.
    await s.report("web1", await interval([]));
    expect(s.take().map((x) => [x.queue, x.message.cmd])).toEqual([["st_web1", "sync"]]);
    expect(drifts(s)).toHaveLength(1);
  });

  it("a digest taken in the middle of a sync is not drift; the sync's own digest decides", async () => {
    const s = await serverWithState();
    for (const ip of ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) await s.send(ban(ip));
    await s.report(
      "web1",
      createDigestMessage({ client: "web1", reason: "start", count: 0, hash: "0".repeat(64), now }),
    );
    expect(s.take().filter((x) => x.message.cmd === "sync")).toHaveLength(1);
    // Part of the set applied when the periodic check fires.
    await s.report("web1", await interval(["203.0.113.1"]));
    expect(s.take()).toEqual([]);
    expect(drifts(s)).toEqual([]);
    // A ban sent after the sync: the sync's own digest, made before the agent reached it, lacks it.
    const fourth = ban("203.0.113.4");
    await s.send(fourth);
    s.take();
    clock += 10;
    const all = await digestOfIps(["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
    await s.report("web1", createDigestMessage({ client: "web1", reason: "sync", ...all, now }));
    expect(s.take()).toEqual([]);
    expect(drifts(s)).toEqual([]);
    await s.report("web1", answered(fourth.id, "203.0.113.4"));
    clock += 10;
    // The next digest holds all it should: every ban is confirmed applied.
    await s.report("web1", await interval(["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]));
    expect(s.take()).toEqual([]);
    expect(s.state.ledger.get(keyOf("203.0.113.3"))!.hosts.get("web1")).toEqual({
      state: "applied",
      at: t(),
    });
    // After it, a differing periodic digest is drift again.
    clock += 10;
    await s.report("web1", await interval(["203.0.113.1"]));
    expect(drifts(s)).toHaveLength(1);
  });

  it("a ban that ended between the agent's digest and the server's comparison is not drift", async () => {
    const s = await serverWithState();
    const short = ban("203.0.113.1", 0.2);
    await s.send(short);
    await s.report("web1", answered(short.id, "203.0.113.1"));
    s.take();
    const before = clock;
    clock += 250;
    // The expiry is over once the v1 client (which cannot lift bans by itself) has its unban: the ledger
    // empties before that publish, so its size alone would let the unban land in a later take().
    const lifted: Sent[] = [];
    for (let i = 0; i < 200 && !lifted.some((m) => m.queue === "st_old"); i++) {
      await new Promise((r) => setTimeout(r, 10));
      lifted.push(...s.take());
    }
    expect(lifted.map((m) => [m.queue, m.message.cmd])).toEqual([["st_old", "exec"]]);
    expect(s.state.ledger.size).toBe(0);
    // The agent made its digest just before the end (its clock), when it still held the ban.
    await s.report("web1", await interval(["203.0.113.1"], () => before + 150));
    expect(s.take()).toEqual([]);
    expect(drifts(s)).toEqual([]);
    // One made after the end that still lists it is drift: the agent did not lift it.
    await s.report("web1", await interval(["203.0.113.1"]));
    expect(drifts(s)).toHaveLength(1);
  });
});

describe("expiry", () => {
  it("the ledger drops a ban at its end and tells v1 clients (v2 agents lift it themselves)", async () => {
    const s = await serverWithState();
    await s.send(createTrackedBanRequest({ ip: "203.0.113.9", duration: 0.2, now }));
    s.take();
    clock += 200;
    const sent: ReturnType<typeof s.take> = [];
    for (let i = 0; i < 200 && sent.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      sent.push(...s.take());
    }
    expect(s.state.ledger.size).toBe(0);
    expect(sent.map((x) => [x.queue, x.message.cmd, (x.message as { action?: string }).action])).toEqual([
      ["st_old", "exec", "actionunban"],
    ]);
    await s.server.stop();
  });
});
