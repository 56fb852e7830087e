// Attack-scale enforcement on a real host (issue 17): an agent with the nftables set backend in a network
// namespace, real net2ban-server and net2ban-agent processes on the real RabbitMQ. A catch-up sync of
// thousands of bans lands as set elements in a few transactions, each with the ledger's end as its
// timeout; a ban nft refuses fails alone and is reported for itself; after a SIGKILL the restore leaves
// each ban one element and does not bring back those that ended while the agent was down; an element
// deleted by hand is found by one listing of the set per drift check (not a probe per ban) and comes
// back. nft runs through a wrapper that writes down each call, so the calls can be counted.
import { chmod, cp, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { loadConfig } from "@net2ban/config";
import { type Codec, createCodec, createTrackedBanRequest } from "@net2ban/protocol";
import { brokerUrl, memoryLogger, requireBroker, waitFor } from "@net2ban/test-utils";
import { type Broker, connectBroker } from "@net2ban/transport";
import amqp from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Fleet, type FleetOptions } from "./fleet.js";
import { netnsUnavailableReason, sweepStaleNetworks, TestNetwork } from "./netns.js";

const url = brokerUrl();
// Root is needed for namespaces and firewalls. In CI a missing privilege is a failure, never a skip.
const unavailable = await netnsUnavailableReason(["ip", "nft"]);
const skipNetns = unavailable !== undefined && !process.env["CI"];

const NAME = "sshd";
const SET = `addr-set-${NAME}`;

function shippedActionsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("@net2ban/actions/package.json")), "action.d");
}

/** One namespace h1 whose agent1 has the shipped nftables-set action, nft wrapped to count its calls. */
function setFleet(label: string, options: Partial<FleetOptions> = {}) {
  const hold: { network?: TestNetwork; fleet?: Fleet; publisher?: Broker; codec?: Codec } = {};
  beforeAll(async () => {
    if (unavailable !== undefined) throw new Error(`set backend test cannot run: ${unavailable}`);
    await requireBroker(url);
    await sweepStaleNetworks();
    hold.network = await TestNetwork.create({ nodes: ["h1"] });
    const fleet = await Fleet.create({ agents: 1, brokerUrl: url, rounds: 1000, label, ...options });
    hold.fleet = fleet;
    await hold.network.relayBroker(url, ["h1"]);
    const actions = join(fleet.agentDir("agent1"), "actions");
    await cp(join(shippedActionsDir(), "nftables-set.conf"), join(actions, "nftables-set.conf"));
    const wrapper = join(fleet.dir, "nft-counted");
    await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls(fleet)}\nexec nft "$@"\n`);
    await chmod(wrapper, 0o755);
    await writeFile(join(actions, "nftables-set.local"), `[Init]\nnftables = ${wrapper}\n`);
    await fleet.startServer();
    const { config } = await loadConfig({ path: fleet.serverConfigPath, env: {} });
    hold.codec = await createCodec({
      protocol: 2,
      keyId: "server",
      direction: "to-server",
      keys: config.server!,
    });
    hold.publisher = await connectBroker({ urls: [url], logger: memoryLogger() });
  }, 90_000);
  afterAll(async () => {
    try {
      await hold.publisher?.close();
      await hold.fleet?.close();
    } finally {
      await hold.network?.destroy();
    }
  }, 60_000);
  const fleet = () => hold.fleet!;
  return {
    fleet,
    startAgent: () => fleet().startAgent("agent1", { prefix: hold.network!.prefix("h1") }),
    /** Puts tracked bans into the ledger (as net2banctl ban --action nftables-set --name sshd). */
    ban: async (ips: readonly string[], duration: number) => {
      await hold.publisher!.publishAll(
        ips.map((ip) => {
          const ban = createTrackedBanRequest({ ip, action: "nftables-set", name: NAME, duration });
          return { queue: fleet().inputQueue, body: hold.codec!.seal(ban), messageId: ban.id };
        }),
      );
    },
    /** The elements of the jail's IPv4 set: address (or CIDR) -> timeout in seconds (0: none). */
    elements: async (): Promise<Map<string, number>> => {
      const text = await hold.network!.exec("h1", ["nft", "-j", "list", "set", "inet", "f2b-table", SET]);
      return elementsOf(text);
    },
    deleteElement: (ip: string) =>
      hold.network!.exec("h1", ["nft", "delete", "element", "inet", "f2b-table", SET, `{ ${ip} }`]),
  };
}

function calls(fleet: Fleet): string {
  return join(fleet.dir, "nft-calls.log");
}

/** The nft calls so far, one line of arguments each. */
async function nftCalls(fleet: Fleet): Promise<string[]> {
  return (await readFile(calls(fleet), "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
}

type NftValue = string | { prefix: { addr: string; len: number } };
interface NftElem {
  elem?: { val: NftValue; timeout?: number };
}

function valueText(value: NftValue): string {
  return typeof value === "string" ? value : `${value.prefix.addr}/${value.prefix.len}`;
}

function elementsOf(json: string): Map<string, number> {
  const parsed = JSON.parse(json) as { nftables: Array<{ set?: { elem?: Array<NftValue | NftElem> } }> };
  const found = new Map<string, number>();
  for (const entry of parsed.nftables) {
    for (const elem of entry.set?.elem ?? []) {
      if (typeof elem === "object" && "elem" in elem && elem.elem !== undefined) {
        found.set(valueText(elem.elem.val), elem.elem.timeout ?? 0);
      } else found.set(valueText(elem as NftValue), 0);
    }
  }
  return found;
}

/** Messages waiting in a queue. */
async function depth(queue: string): Promise<number> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

async function purge(queue: string): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.purgeQueue(queue);
    await channel.close();
  } finally {
    await connection.close();
  }
}

const addresses = (count: number, second: number) =>
  Array.from({ length: count }, (_, i) => `10.${second}.${i >> 8}.${i & 255}`);

describe.skipIf(skipNetns)("an agent with the nftables set backend (network namespace)", () => {
  const N = 5000;
  const held = addresses(N, 90);
  const { fleet, startAgent, ban, elements } = setFleet("setbatch");

  it("a catch-up sync of N bans: exactly N elements with the ledger's end, in a few transactions; a ban nft refuses fails alone", async () => {
    const f = fleet();
    // 10.88.0.5 first, then a block that overlaps it: nft refuses the block (interval overlap).
    await ban([...held, "10.88.0.5"], 3600);
    await ban(["10.88.0.0/24"], 3600);
    // The agent has never run: its queue holds the applies. Purged, so that everything comes by the sync.
    const queue = `${f.prefix}_agent1`;
    await waitFor(async () => (await depth(queue)) === N + 2, {
      what: `${N + 2} applies queued for agent1`,
      timeoutMs: 120_000,
    });
    await purge(queue);
    await startAgent();
    const done = await f.waitForLog("agent1", (l) => l.msg.startsWith("sync done"), 120_000);
    expect(done.msg).toBe(`sync done: ${N + 1} ban(s) applied, 0 lifted, ${N + 1} held`);
    const set = await elements();
    expect(set.size).toBe(N + 1);
    expect([...held, "10.88.0.5"].filter((ip) => !set.has(ip))).toEqual([]);
    expect(set.has("10.88.0.0/24")).toBe(false);
    // The kernel ends each element with the ledger (1 h), not with a default.
    const timeouts = [...set.values()];
    expect(Math.min(...timeouts)).toBeGreaterThan(3500);
    expect(Math.max(...timeouts)).toBeLessThanOrEqual(3600);
    // Two sync parts (4096 + 905): a transaction each, the failing one split down to the refused block;
    // never one nft process per ban.
    const transactions = (await nftCalls(f)).filter((c) => c === "-f -");
    expect(transactions.length).toBeGreaterThanOrEqual(2);
    expect(transactions.length).toBeLessThan(40);
    expect((await nftCalls(f)).filter((c) => c.includes("add element"))).toEqual([]);
    // Every ban its own line; the refused block its own error and its own result at the server.
    const agent = f.process("agent1").lines;
    expect(agent.filter((l) => /^IP \S+ banned$/.test(l.msg))).toHaveLength(N + 1);
    expect(agent.filter((l) => l.msg.includes("in one batch")).map((l) => l.msg)).toEqual([
      "sync " + String(done["syncId"]) + " part 0: 4096 ban(s) applied in one batch",
      expect.stringMatching(
        /^sync \S+ part 1: 905 ban\(s\) applied in one batch, 1 failed \(first: exit code 1: .*overlap/s,
      ),
    ]);
    const status = await f.ctl(["status", "10.88.0.0/24", "--json"]);
    const block = JSON.parse(status.stdout.trim().split("\n").at(-1) ?? "{}") as {
      bans: Array<{ hosts: Record<string, { state: string; detail?: string }> }>;
    };
    expect(block.bans[0]?.hosts["agent1"]).toMatchObject({ state: "failed" });
  }, 240_000);

  it("SIGKILL, then a restart: each ban one element; those that ended while it was down are not added again", async () => {
    const f = fleet();
    const short = addresses(20, 91);
    await ban(short, 4);
    await waitFor(async () => (await elements()).size === N + 1 + 20, {
      what: "the 20 short bans in the set",
      timeoutMs: 30_000,
    });
    await f.stop("agent1", "SIGKILL");
    // The kernel lifts the short ones on time while the agent is down.
    await waitFor(async () => (await elements()).size === N + 1, {
      what: "the short bans timed out of the set",
      timeoutMs: 30_000,
    });
    const before = (await nftCalls(f)).length;
    await startAgent();
    const restore = await f.waitForLog("agent1", (l) => l.msg.startsWith("restore after restart:"), 120_000);
    expect(restore.msg).toBe(`restore after restart: ${N + 1} ban(s) applied again, 0 failed, 0 skipped`);
    const set = await elements();
    expect(set.size).toBe(N + 1);
    expect(short.filter((ip) => set.has(ip))).toEqual([]);
    const agent = f.process("agent1").lines;
    expect(
      agent.filter((l) =>
        l.msg.endsWith("ended while the agent was down and is no longer in effect: dropped"),
      ),
    ).toHaveLength(20);
    // Those 20 were found gone by one listing of the set, not 20 probes; restored elements need no undo.
    const since = (await nftCalls(f)).slice(before);
    expect(since.filter((c) => c.startsWith("-j list set"))).toHaveLength(1);
    expect(since.filter((c) => c.includes("get element") || c.includes("delete element"))).toEqual([]);
    expect(since.filter((c) => c === "-f -").length).toBeLessThan(10);
  }, 240_000);
});

describe.skipIf(skipNetns)("drift repair with the nftables set backend (network namespace)", () => {
  const held = addresses(300, 92);
  const { fleet, startAgent, ban, elements, deleteElement } = setFleet("setdrift", {
    global: { drift_interval: "1s", log_level: "debug" },
  });

  it("an element deleted by hand is found by one listing per drift check and added again", async () => {
    const f = fleet();
    await startAgent();
    await ban(held, 3600);
    await waitFor(async () => (await elements()).size === held.length, {
      what: `${held.length} bans in the set`,
      timeoutMs: 60_000,
    });
    const gone = [held[7]!, held[200]!];
    const deletedAt = Date.now();
    for (const ip of gone) await deleteElement(ip);
    for (const ip of gone) {
      await f.waitForLog("agent1", (l) => l.time >= deletedAt && l.msg === `IP ${ip} banned`, 30_000);
    }
    expect((await elements()).size).toBe(held.length);
    const agent = f.process("agent1").lines;
    expect(
      agent.filter((l) => l.time >= deletedAt && l.msg.includes("is no longer in effect on this host"))
        .length,
    ).toBeGreaterThanOrEqual(2);
    // One `list set` per drift check (its digest follows), whatever the number of bans; no per-ban probe.
    const checks = agent.filter((l) => l.msg === "digest sent" && l["reason"] === "interval").length;
    const listings = (await nftCalls(f)).filter((c) => c.startsWith("-j list set")).length;
    expect(checks).toBeGreaterThan(0);
    expect(listings).toBeGreaterThanOrEqual(checks);
    expect(listings).toBeLessThanOrEqual(checks + 1);
    expect((await nftCalls(f)).filter((c) => c.includes("get element"))).toEqual([]);
  }, 180_000);
});
