// End to end on the real RabbitMQ: net2banctl -> net2ban-server -> net2ban-agent processes -> action side effect.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { createCodec, createExecRequest, createUpdateRequest } from "@net2ban/protocol";
import { sealPlaintext } from "@net2ban/protocol/testing";
import { brokerUrl, requireBroker } from "@net2ban/test-utils";
import amqp from "amqplib";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";

const url = brokerUrl();
const fleets: Fleet[] = [];

beforeAll(() => requireBroker(url));

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()));
});

async function fleetOf(options: Parameters<typeof Fleet.create>[0]): Promise<Fleet> {
  const fleet = await Fleet.create({ brokerUrl: url, rounds: 1000, ...options });
  fleets.push(fleet);
  return fleet;
}

/** Publishes raw bytes straight into a queue, skipping net2banctl and the server. */
async function inject(queue: string, body: Buffer): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(queue, body, { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Seals `message` for an agent with the keys of the fleet's config, optionally altered. */
async function sealForAgent(
  fleet: Fleet,
  agent: string,
  message: object,
  alter: { key?: string; keyId?: string } = {},
): Promise<Buffer> {
  const { config } = parseConfig(await readFile(fleet.serverConfigPath, "utf8"), fleet.serverConfigPath);
  const peer = config.clients.find((c) => c.name === agent)!;
  const codec = await createCodec({
    protocol: peer.protocol,
    keyId: alter.keyId ?? peer.name,
    direction: "to-agent",
    keys: { ...peer, ...(alter.key === undefined ? {} : { key: alter.key }) },
  });
  // sealPlaintext seals any JSON under valid keys, so the receiver's own checks are what is tested.
  return sealPlaintext(codec, JSON.stringify(message));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a ban through the whole path", () => {
  it("reaches every agent exactly once, and the unban too", async () => {
    const fleet = await fleetOf({ agents: 3, label: "e2e" });
    await fleet.startAll();
    const ban = await fleet.ctl(["ban", "203.0.113.9", "--action", "net2ban-demo", "--name", "sshd"]);
    expect(ban.stderr).toBe("");
    expect(ban.code).toBe(0);
    for (const name of fleet.agentNames) {
      await fleet.waitForBanLine(name, "ban 203.0.113.9");
      await fleet.waitForLog(name, (l) => l.msg === "IP 203.0.113.9 banned");
    }
    await fleet.waitForLog("server", (l) => l.msg === "Forwarding: exec/net2ban-demo");
    const unban = await fleet.ctl(["unban", "203.0.113.9", "--action", "net2ban-demo", "--name", "sshd"]);
    expect(unban.code).toBe(0);
    for (const name of fleet.agentNames) {
      await fleet.waitForBanLine(name, "unban 203.0.113.9");
      expect(await fleet.banLines(name)).toEqual(["ban 203.0.113.9", "unban 203.0.113.9"]);
    }
  });

  it("exec with the original's syntax and --to limits the recipients", async () => {
    const fleet = await fleetOf({ agents: 3, label: "e2eto" });
    await fleet.startAll();
    const result = await fleet.ctl([
      "exec",
      "net2ban-demo",
      "actionban",
      "name=web",
      "ip=198.51.100.7",
      "--to",
      "agent2",
    ]);
    expect(result.code).toBe(0);
    await fleet.waitForBanLine("agent2", "ban 198.51.100.7");
    // A marker ban to everyone proves agent1/agent3 processed their queues in order past the --to ban.
    expect((await fleet.ctl(["ban", "192.0.2.1", "--action", "net2ban-demo"])).code).toBe(0);
    for (const name of ["agent1", "agent3"]) {
      await fleet.waitForBanLine(name, "ban 192.0.2.1");
      expect(await fleet.banLines(name)).toEqual(["ban 192.0.2.1"]);
    }
  });

  it("a protocol 1 (legacy) client works next to a protocol 2 client, with a v1 net2banctl", async () => {
    const fleet = await fleetOf({ agents: 2, protocols: [1, 2], serverProtocol: 1, label: "e2ev1" });
    await fleet.startAll();
    expect((await fleet.ctl(["ban", "192.0.2.44", "--action", "net2ban-demo"])).code).toBe(0);
    await fleet.waitForBanLine("agent1", "ban 192.0.2.44");
    await fleet.waitForBanLine("agent2", "ban 192.0.2.44");
  });

  it("an agent offline during a ban gets it when it returns (durable queue)", async () => {
    const fleet = await fleetOf({ agents: 2, label: "e2eoff" });
    await fleet.startAll();
    await fleet.stop("agent2");
    expect((await fleet.ctl(["ban", "192.0.2.55", "--action", "net2ban-demo"])).code).toBe(0);
    await fleet.waitForBanLine("agent1", "ban 192.0.2.55");
    expect(await fleet.banLines("agent2")).toEqual([]);
    await fleet.startAgent("agent2");
    await fleet.waitForBanLine("agent2", "ban 192.0.2.55");
  });

  it("an agent offline for longer than valid_wtime discards the stale exec", async () => {
    const fleet = await fleetOf({ agents: 1, validWindowSeconds: 1, label: "e2estale" });
    await fleet.startAll();
    await fleet.stop("agent1");
    // exec without bantime is a one-shot message, as in the original (a ban in the ledger would be caught
    // up on return: state.int.test.ts).
    expect((await fleet.ctl(["exec", "net2ban-demo", "actionban", "ip=192.0.2.66"])).code).toBe(0);
    await sleep(2100);
    await fleet.startAgent("agent1");
    const rejected = await fleet.waitForLog("agent1", (l) => l.msg === "message rejected");
    expect(String(rejected["reason"])).toMatch(/expired/);
    // The next fresh ban runs, and the stale one never did.
    expect((await fleet.ctl(["ban", "192.0.2.67", "--action", "net2ban-demo"])).code).toBe(0);
    await fleet.waitForBanLine("agent1", "ban 192.0.2.67");
    expect(await fleet.banLines("agent1")).toEqual(["ban 192.0.2.67"]);
  });
});

describe("messages that must never run", () => {
  it("wrong key, wrong recipient, tampered, future-dated and replayed messages are rejected and logged", async () => {
    const fleet = await fleetOf({ agents: 2, label: "e2ebad" });
    await fleet.startAll();
    const queue = `${fleet.prefix}_agent1`;
    const ban = (ip: string, extra: Partial<Parameters<typeof createExecRequest>[0]> = {}) =>
      createExecRequest({
        file: "net2ban-demo",
        action: "actionban",
        params: { ip, name: "x" },
        sender: "test",
        ...extra,
      });

    await inject(queue, await sealForAgent(fleet, "agent1", ban("192.0.2.101"), { key: "not-the-key" }));
    await inject(queue, await sealForAgent(fleet, "agent2", ban("192.0.2.102")));
    const tampered = await sealForAgent(fleet, "agent1", ban("192.0.2.103"));
    tampered[tampered.length - 40] = (tampered[tampered.length - 40] ?? 0) ^ 0x01;
    await inject(queue, tampered);
    await inject(
      queue,
      await sealForAgent(fleet, "agent1", ban("192.0.2.104", { now: () => Date.now() + 3_600_000 })),
    );
    const replayed = await sealForAgent(fleet, "agent1", ban("192.0.2.105"));
    await inject(queue, replayed);
    await inject(queue, replayed);

    await fleet.waitForBanLine("agent1", "ban 192.0.2.105");
    const deadline = Date.now() + 10_000;
    let rejected = fleet.process("agent1").lines.filter((l) => l.msg === "message rejected");
    while (rejected.length < 5 && Date.now() < deadline) {
      await sleep(20);
      rejected = fleet.process("agent1").lines.filter((l) => l.msg === "message rejected");
    }
    expect(rejected.map((l) => String(l["reason"]).split(/[:\s]/)[0])).toHaveLength(5);
    expect(await fleet.banLines("agent1")).toEqual(["ban 192.0.2.105"]);
    expect(await fleet.banLines("agent2")).toEqual([]);
  });

  it("update with traversal or hidden names is refused and writes nothing", async () => {
    const fleet = await fleetOf({ agents: 1, label: "e2eupd" });
    await fleet.startAll();
    const queue = `${fleet.prefix}_agent1`;
    const content = Buffer.from("[Definition]\nactionban = touch /tmp/should-not-exist\n").toString("base64");
    for (const file of ["../evil", "/etc/evil", ".hidden", "a/b"]) {
      // The schema refuses these names before any field is used; seal a v2 message with the raw name.
      const message = {
        ...createUpdateRequest({ file: "ok", content, client: "agent1", sender: "t" }),
        file,
      };
      await inject(queue, await sealForAgent(fleet, "agent1", message));
    }
    const rejected = await (async () => {
      for (let i = 0; i < 500; i++) {
        const lines = fleet.process("agent1").lines.filter((l) => l.msg === "message rejected");
        if (lines.length >= 4) return lines;
        await sleep(20);
      }
      return [];
    })();
    expect(rejected).toHaveLength(4);
    const files = await import("node:fs/promises").then((fs) =>
      fs.readdir(join(fleet.agentDir("agent1"), "actions")),
    );
    expect(files.sort()).toEqual(["net2ban-demo.conf"]);
  });

  it("net2banctl update installs an action file on one client", async () => {
    const fleet = await fleetOf({ agents: 2, label: "e2eupd2" });
    await fleet.startAll();
    const source = join(fleet.dir, "my-action.conf");
    await writeFile(
      source,
      `# comment\n[Definition]\nactionban = echo custom <ip> >> ${fleet.banLog("agent1")}   # trailing\n\n[Init]\n`,
    );
    const result = await fleet.ctl(["update", "agent1", source]);
    expect(result.code).toBe(0);
    await fleet.waitForLog("agent1", (l) => l.msg === 'File "my-action" updated');
    const written = await readFile(join(fleet.agentDir("agent1"), "actions", "my-action.conf"), "utf8");
    expect(written).toBe(`[Definition]\nactionban = echo custom <ip> >> ${fleet.banLog("agent1")}\n[Init]`);
    expect((await fleet.ctl(["ban", "192.0.2.77", "--action", "my-action", "--to", "agent1"])).code).toBe(0);
    await fleet.waitForBanLine("agent1", "custom 192.0.2.77");
  });
});

describe("net2banctl failures", () => {
  it("unreachable broker: one line, exit 3 (nothing sent)", async () => {
    const fleet = await fleetOf({
      agents: 1,
      brokerUrl: "amqp://guest:secretpw@127.0.0.1:5999/",
      label: "e2enob",
    });
    const result = await fleet.ctl(["ban", "192.0.2.1"]);
    expect(result.code).toBe(3);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/^net2banctl: .*127\.0\.0\.1:5999/);
    expect(result.stderr).not.toContain("secretpw");
  });

  it("bad config: every error on its own line naming file, section and key, exit 2", async () => {
    const fleet = await fleetOf({ agents: 1, label: "e2ecfg" });
    const bad = join(fleet.dir, "bad.cfg");
    const text = (await readFile(fleet.serverConfigPath, "utf8")).replace(
      "[agent1]\n",
      "[agent1]\nrounds = abc\nvalid_wtime = soon\n",
    );
    await writeFile(bad, text);
    const result = await fleet.ctl(["ban", "192.0.2.1"], bad);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('bad.cfg: [agent1] rounds: expected a positive integer, got "abc"');
    expect(result.stderr).toMatch(/bad\.cfg: \[agent1\] valid_wtime: .*"soon"/);
    const check = await fleet.ctl(["check-config"], bad);
    expect(check.code).toBe(2);
  });

  it("bad usage and bad addresses: exit 2, nothing sent", async () => {
    const fleet = await fleetOf({ agents: 1, label: "e2euse" });
    expect((await fleet.ctl(["ban", "not-an-ip"])).code).toBe(2);
    expect((await fleet.ctl(["exec", "iptables", "actionban", "novalue"])).code).toBe(2);
    expect((await fleet.ctl(["frobnicate"])).code).toBe(2);
    const help = await fleet.ctl(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("ban <ip>");
  });

  it("no server running yet: the input queue is missing, exit 3 and the ban is not lost silently", async () => {
    const fleet = await fleetOf({ agents: 1, label: "e2enosrv" });
    const result = await fleet.ctl(["ban", "192.0.2.1"]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(fleet.inputQueue);
  });
});

describe("server lifecycle", () => {
  it("SIGHUP adds a client without a restart", async () => {
    const fleet = await fleetOf({ agents: 2, label: "e2ehup" });
    await fleet.startServer();
    await fleet.startAgent("agent1");
    // Remove agent2 from the server's config, start, then add it back and SIGHUP.
    const full = await readFile(fleet.serverConfigPath, "utf8");
    const without = full.replace(/\[agent2\]\nkey = [0-9a-f]+\nprotocol = 2\n/, "");
    expect(without).not.toBe(full);
    await writeFile(fleet.serverConfigPath, without);
    fleet.process("server").child.kill("SIGHUP");
    await fleet.waitForLog("server", (l) => l.msg === "configuration reloaded" && l["clients"] === 1);
    await writeFile(fleet.serverConfigPath, full);
    fleet.process("server").child.kill("SIGHUP");
    await fleet.waitForLog("server", (l) => l.msg === "configuration reloaded" && l["clients"] === 2);
    await fleet.startAgent("agent2");
    expect((await fleet.ctl(["ban", "192.0.2.88", "--action", "net2ban-demo"])).code).toBe(0);
    await fleet.waitForBanLine("agent2", "ban 192.0.2.88");
    await fleet.waitForBanLine("agent1", "ban 192.0.2.88");
  });

  it("SIGTERM stops server and agents cleanly, agents run actionstop", async () => {
    const fleet = await fleetOf({ agents: 1, label: "e2eterm" });
    await fleet.startAll();
    expect(await fleet.stop("server")).toBe(0);
    expect(await fleet.stop("agent1")).toBe(0);
  });
});
