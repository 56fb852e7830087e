// An agent that restarts puts its bans back (issue #10): real net2ban-server and net2ban-agent processes
// on the real RabbitMQ. A stopping agent runs actionstop, which for the stock actions deletes the chain or
// set with every ban in it; its schedule still lists them and its digest still matches the ledger, so
// nothing but the agent itself can apply them again. Here an action file stands for the firewall: each
// ban appends its address as one line, each unban removes one line (and fails when there is none, as
// `iptables -D` does), and actionstop empties the file as a chain flush would. Then the same with the
// stock iptables-multiport and nftables-multiport actions on real iptables / nftables in a network namespace.
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { brokerUrl, requireBroker } from "@net2ban/test-utils";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Fleet } from "./fleet.js";
import { netnsUnavailableReason, sweepStaleNetworks, TestNetwork } from "./netns.js";

const url = brokerUrl();
const fleets: Fleet[] = [];

beforeAll(() => requireBroker(url));

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.close()));
});

/** A rule table in a file: ban appends a line, unban removes one (exit 1 if none), stop empties it. */
function ruleTableAction(banLog: string): string {
  return [
    "[Definition]",
    "actionstart = touch <banlog>",
    "actionstop = : > <banlog>",
    "actionban = echo <ip> >> <banlog>",
    "actionunban = grep -qx '<ip>' <banlog> && sed -i '0,/^<ip>$/{//d}' <banlog>",
    "",
    "[Init]",
    `banlog = ${banLog}`,
    "",
  ].join("\n");
}

async function ruleTableFleet(label: string): Promise<Fleet> {
  const fleet = await Fleet.create({ agents: 1, brokerUrl: url, rounds: 1000, label });
  fleets.push(fleet);
  await writeFile(
    join(fleet.agentDir("agent1"), "actions", "ruletable.conf"),
    ruleTableAction(fleet.banLog("agent1")),
  );
  await fleet.startAll();
  return fleet;
}

const table = ["--action", "ruletable", "--name", "sshd"];
const IPS = ["192.0.2.31", "192.0.2.32"];

/** Bans both addresses and waits for the agent's confirmation. */
async function banBoth(fleet: Fleet): Promise<void> {
  for (const ip of IPS) {
    const ban = await fleet.ctl(["ban", ip, ...table, "--for", "1h", "--wait"]);
    expect(ban.code, ban.stdout + ban.stderr).toBe(0);
  }
  expect((await fleet.banLines("agent1")).sort()).toEqual(IPS);
}

/** Starts agent1 again and waits until its restore is over. */
async function restart(fleet: Fleet): Promise<void> {
  await fleet.startAgent("agent1");
  await fleet.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 20_000);
}

/** The server sent agent1 nothing after its restart: no catch-up, no sync (its digest matched). */
function expectNoCatchUp(fleet: Fleet): void {
  const server = fleet.process("server").lines.map((l) => l.msg);
  expect(server.filter((m) => m.startsWith("catch-up for agent1") || m.startsWith("sync to agent1"))).toEqual(
    [],
  );
}

describe("an agent restart puts its bans back", () => {
  it("SIGTERM (actionstop cleared the table): both bans are back, once each, with no new ban command", async () => {
    const fleet = await ruleTableFleet("rsterm");
    await banBoth(fleet);
    expect(await fleet.stop("agent1")).toBe(0);
    expect(await fleet.banLines("agent1")).toEqual([]);
    await restart(fleet);
    expect((await fleet.banLines("agent1")).sort()).toEqual(IPS);
    const agent = fleet.process("agent1").lines;
    expect(
      agent
        .filter((l) => l.msg.endsWith("restored after restart"))
        .map((l) => l.msg)
        .sort(),
    ).toEqual(IPS.map((ip) => `ban ruletable/sshd ${ip} restored after restart`));
    expect(agent.find((l) => l.msg.startsWith("restore after restart:"))?.msg).toBe(
      "restore after restart: 2 ban(s) applied again, 0 failed, 0 skipped",
    );
    expectNoCatchUp(fleet);
    // Exactly one rule each: one unban leaves none behind.
    expect((await fleet.ctl(["unban", IPS[0]!, ...table, "--wait"])).code).toBe(0);
    expect(await fleet.banLines("agent1")).toEqual([IPS[1]]);
  }, 60_000);

  it("SIGKILL (no actionstop, the rules stay): each ban is in effect exactly once afterwards", async () => {
    const fleet = await ruleTableFleet("rskill");
    await banBoth(fleet);
    await fleet.stop("agent1", "SIGKILL");
    expect((await fleet.banLines("agent1")).sort()).toEqual(IPS);
    await restart(fleet);
    expect((await fleet.banLines("agent1")).sort()).toEqual(IPS);
    expectNoCatchUp(fleet);
    expect((await fleet.ctl(["unban", IPS[0]!, ...table, "--wait"])).code).toBe(0);
    expect(await fleet.banLines("agent1")).toEqual([IPS[1]]);
  }, 60_000);
});

// Root is needed for namespaces and firewalls. In CI a missing privilege is a failure, never a skip.
const unavailable = await netnsUnavailableReason(["ip", "iptables"]);
const skipNetns = unavailable !== undefined && !process.env["CI"];

/**
 * For a describe block: one host namespace h1 whose agent1 has the stock fail2ban actions, a server on the
 * shared broker (relayed into the namespace), all removed after the block.
 */
function namespaceFleet(label: string, firewall: string, missing: string | undefined) {
  const hold: { network?: TestNetwork; fleet?: Fleet } = {};
  beforeAll(async () => {
    if (missing !== undefined) throw new Error(`${firewall} restart test cannot run: ${missing}`);
    await sweepStaleNetworks();
    hold.network = await TestNetwork.create({ nodes: ["h1"] });
    hold.fleet = await Fleet.create({ agents: 1, brokerUrl: url, rounds: 1000, label });
    await hold.network.relayBroker(url, ["h1"]);
    await cp("/etc/fail2ban/action.d", join(hold.fleet.agentDir("agent1"), "actions"), { recursive: true });
    await hold.fleet.startServer();
  }, 90_000);
  afterAll(async () => {
    try {
      await hold.fleet?.close();
    } finally {
      await hold.network?.destroy();
    }
  }, 60_000);
  return {
    network: () => hold.network!,
    fleet: () => hold.fleet!,
    startAgent: () => hold.fleet!.startAgent("agent1", { prefix: hold.network!.prefix("h1") }),
  };
}

describe.skipIf(skipNetns)("an agent restart puts its bans back on real iptables (network namespace)", () => {
  const PORT = "2222";
  const ATTACKERS = ["10.77.0.201", "10.77.0.202"];
  const { network, fleet, startAgent } = namespaceFleet("rsipt", "iptables", unavailable);

  /** How many rules of f2b-sshd drop `ip` (null: there is no such chain). */
  async function rulesOf(ip: string): Promise<number | null> {
    const listed = await network().exec("h1", ["iptables", "-w", "-S"]);
    if (!listed.includes("-N f2b-sshd")) return null;
    return listed.split("\n").filter((l) => l.startsWith(`-A f2b-sshd -s ${ip}/32 -j REJECT`)).length;
  }

  it("iptables-multiport: after SIGTERM the chain is rebuilt with each ban once; after SIGKILL no ban is doubled", async () => {
    const f = fleet();
    await startAgent();
    for (const ip of ATTACKERS) {
      const ban = await f.ctl([
        "ban",
        ip,
        `port=${PORT}`,
        "--action",
        "iptables-multiport",
        "--name",
        "sshd",
      ]);
      expect(ban.code, ban.stderr).toBe(0);
      await f.waitForLog("agent1", (l) => l.msg === `IP ${ip} banned`);
    }
    for (const ip of ATTACKERS) expect(await rulesOf(ip)).toBe(1);

    // SIGTERM: actionstop deletes the chain with both bans.
    expect(await f.stop("agent1")).toBe(0);
    for (const ip of ATTACKERS) expect(await rulesOf(ip)).toBeNull();
    await startAgent();
    await f.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 20_000);
    for (const ip of ATTACKERS) expect(await rulesOf(ip)).toBe(1);

    // SIGKILL: the chain and its rules stay; the restore must not insert a second rule.
    await f.stop("agent1", "SIGKILL");
    for (const ip of ATTACKERS) expect(await rulesOf(ip)).toBe(1);
    await startAgent();
    await f.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 20_000);
    for (const ip of ATTACKERS) expect(await rulesOf(ip)).toBe(1);

    // One unban leaves no rule behind.
    const unban = await f.ctl([
      "unban",
      ATTACKERS[0]!,
      "--action",
      "iptables-multiport",
      "--name",
      "sshd",
      "--wait",
    ]);
    expect(unban.code, unban.stdout + unban.stderr).toBe(0);
    expect(await rulesOf(ATTACKERS[0]!)).toBe(0);
    expect(await rulesOf(ATTACKERS[1]!)).toBe(1);
  }, 120_000);
});

const nftUnavailable = await netnsUnavailableReason(["ip", "nft"]);
const skipNft = nftUnavailable !== undefined && !process.env["CI"];

describe.skipIf(skipNft)("an agent restart puts its bans back on real nftables (network namespace)", () => {
  const PORT = "2222";
  const ATTACKERS = ["10.77.0.211", "10.77.0.212"];
  const { network, fleet, startAgent } = namespaceFleet("rsnft", "nftables", nftUnavailable);

  /** The addresses in fail2ban's set for jail sshd (null: there is no such set). */
  async function setOf(): Promise<string[] | null> {
    const listed = await network().exec("h1", ["nft", "list", "ruleset"]);
    // set addr-set-sshd {\n type ipv4_addr\n elements = { 10.77.0.211, 10.77.0.212 }\n }
    const at = listed.indexOf("set addr-set-sshd {");
    if (at === -1) return null;
    const block = listed.slice(at, listed.indexOf("\n\t}", at));
    const elements = /elements = \{([^}]*)\}/.exec(block);
    return (elements?.[1] ?? "")
      .split(",")
      .map((e) => e.trim())
      .filter(Boolean)
      .sort();
  }

  it("nftables-multiport: after SIGTERM the set is rebuilt with each ban; after SIGKILL every ban is still in it", async () => {
    const f = fleet();
    await startAgent();
    for (const ip of ATTACKERS) {
      const ban = await f.ctl([
        "ban",
        ip,
        `port=${PORT}`,
        "--action",
        "nftables-multiport",
        "--name",
        "sshd",
      ]);
      expect(ban.code, ban.stderr).toBe(0);
      await f.waitForLog("agent1", (l) => l.msg === `IP ${ip} banned`);
    }
    expect(await setOf()).toEqual(ATTACKERS);

    // SIGTERM: actionstop deletes the set (and its rules) with both bans.
    expect(await f.stop("agent1")).toBe(0);
    expect(await setOf()).toBeNull();
    await startAgent();
    await f.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 20_000);
    expect(await setOf()).toEqual(ATTACKERS);

    // SIGKILL: the set stays; restored bans are set elements, so none can be there twice.
    await f.stop("agent1", "SIGKILL");
    expect(await setOf()).toEqual(ATTACKERS);
    await startAgent();
    await f.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 20_000);
    expect(await setOf()).toEqual(ATTACKERS);

    const unban = await f.ctl([
      "unban",
      ATTACKERS[0]!,
      "--action",
      "nftables-multiport",
      "--name",
      "sshd",
      "--wait",
    ]);
    expect(unban.code, unban.stdout + unban.stderr).toBe(0);
    expect(await setOf()).toEqual([ATTACKERS[1]]);
  }, 120_000);
});
