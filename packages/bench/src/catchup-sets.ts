// Ban state at attack scale (issue 17): an agent returning to N active bans with the shipped set
// actions (nftables-set at 10,000 and 100,000, ipset-set at 100,000; quick: 1,000 and 10,000, ipset
// 10,000), on real net2ban-server and net2ban-agent processes (the Fleet harness). The agent runs on
// the host; its nft / ipset / iptables run in a network namespace the suite makes and deletes
// (`nftables = ip netns exec <ns> nft` in the action's .local), so the host's own tables are never
// touched. Beside it the floor: one `nft -f -` / `ipset restore` adding the same N elements.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfig } from "@net2ban/config";
import { Fleet } from "@net2ban/fleet";
import { createCodec, createTrackedBanRequest } from "@net2ban/protocol";
import { type Broker, connectBroker } from "@net2ban/transport";
import amqp from "amqplib";
import { catchUpPhases } from "./catchup.js";
import type { BenchContext } from "./context.js";
import { sinkLogger } from "./logger.js";
import { addresses, sh, shippedActionsDir, timed } from "./set-tools.js";
import { formatNumber } from "./stats.js";

/** Issue 17: an agent returning to 100,000 active bans has them all applied within this (seconds). */
export const SET_CATCHUP_TARGET_SECONDS = 5;
const TARGET_BANS = 100_000;
const NAME = "bench";

/** The floor: one `nft -f -` adding the N elements (with timeouts) to a fresh interval set. */
async function nftFloorMs(ns: string, ips: readonly string[]): Promise<number> {
  const table = "n2b-bench-floor";
  sh(
    "ip",
    ["netns", "exec", ns, "nft", "-f", "-"],
    `add table inet ${table}\nadd set inet ${table} s { type ipv4_addr; flags interval, timeout; }\n`,
  );
  const lines = ips.map((ip) => `add element inet ${table} s { ${ip} timeout 3600s }`).join("\n");
  try {
    return await timed("ip", ["netns", "exec", ns, "nft", "-f", "-"], `${lines}\n`);
  } finally {
    sh("ip", ["netns", "exec", ns, "nft", "delete", "table", "inet", table]);
  }
}

function countNftElements(ns: string): number {
  const json = sh("ip", [
    "netns",
    "exec",
    ns,
    "nft",
    "-j",
    "list",
    "set",
    "inet",
    "f2b-table",
    `addr-set-${NAME}`,
  ]);
  const parsed = JSON.parse(json) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return parsed.nftables.reduce((sum, entry) => sum + (entry.set?.elem?.length ?? 0), 0);
}

/** The floor: one `ipset restore -exist` adding the N entries (with timeouts) to a fresh hash:net set. */
async function ipsetFloorMs(ns: string, ips: readonly string[]): Promise<number> {
  const set = "n2b-bench-floor";
  sh("ip", ["netns", "exec", ns, "ipset", "create", set, "hash:net", "timeout", "0", "maxelem", "1048576"]);
  try {
    const lines = ips.map((ip) => `add ${set} ${ip} timeout 3600`).join("\n");
    return await timed("ip", ["netns", "exec", ns, "ipset", "restore", "-exist"], `${lines}\n`);
  } finally {
    sh("ip", ["netns", "exec", ns, "ipset", "destroy", set]);
  }
}

function countIpsetEntries(ns: string): number {
  const saved = sh("ip", ["netns", "exec", ns, "ipset", "save", `f2b-${NAME}`]);
  return saved.split("\n").filter((line) => line.startsWith("add ")).length;
}

/** A set action as the catch-up measures it. */
interface SetBackendCase {
  file: "nftables-set" | "ipset-set";
  /** The action's .local: its programs run in namespace `ns`. */
  local(ns: string): string;
  floorWhat: string;
  floorMs(ns: string, ips: readonly string[]): Promise<number>;
  count(ns: string): number;
}

const NFTABLES: SetBackendCase = {
  file: "nftables-set",
  local: (ns) => `[Init]\nnftables = ip netns exec ${ns} nft\n`,
  floorWhat: "one `nft -f -` adding",
  floorMs: nftFloorMs,
  count: countNftElements,
};

const IPSET: SetBackendCase = {
  file: "ipset-set",
  local: (ns) =>
    `[Init]\nipset = ip netns exec ${ns} ipset\niptables = ip netns exec ${ns} iptables\nip6tables = ip netns exec ${ns} ip6tables\n`,
  floorWhat: "one `ipset restore -exist` adding",
  floorMs: ipsetFloorMs,
  count: countIpsetEntries,
};

async function queueDepth(brokerUrl: string, queue: string, purge: boolean): Promise<number> {
  const connection = await amqp.connect(brokerUrl);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = purge ? await channel.purgeQueue(queue) : await channel.checkQueue(queue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function benchSetCatchUp(ctx: BenchContext, backend: SetBackendCase, bans: number): Promise<void> {
  const ns = `n2bbench-cu-${process.pid}-${randomBytes(3).toString("hex")}`;
  sh("ip", ["netns", "add", ns]);
  let fleet: Fleet | undefined;
  let publisher: Broker | undefined;
  try {
    fleet = await Fleet.create({
      agents: 1,
      brokerUrl: ctx.brokerUrl,
      label: "benchcus",
      global: { drift_interval: "1h" },
    });
    const actions = join(fleet.agentDir("agent1"), "actions");
    await cp(join(shippedActionsDir(), `${backend.file}.conf`), join(actions, `${backend.file}.conf`));
    await writeFile(join(actions, `${backend.file}.local`), backend.local(ns));
    ctx.progress(
      `catch-up (${backend.file}): server and agent processes; ${formatNumber(bans)} bans into the ledger`,
    );
    await fleet.startServer();
    const { config } = await loadConfig({ path: fleet.serverConfigPath, env: {} });
    const codec = await createCodec({
      protocol: 2,
      keyId: "server",
      direction: "to-server",
      keys: config.server!,
    });
    publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
    const ips = addresses(bans);
    for (let i = 0; i < ips.length; i += 5000) {
      await publisher.publishAll(
        ips.slice(i, i + 5000).map((ip) => {
          const ban = createTrackedBanRequest({ ip, action: backend.file, name: NAME, duration: 3600 });
          return { queue: fleet!.inputQueue, body: codec.seal(ban), messageId: ban.id };
        }),
      );
    }
    // In the ledger once the server has forwarded each to the (never started) agent's queue; purged, as
    // if they had gone stale, so that everything comes through the catch-up.
    const queue = `${fleet.prefix}_agent1`;
    const deadline = Date.now() + 900_000;
    for (let queued = 0; queued < bans; queued = await queueDepth(ctx.brokerUrl, queue, false)) {
      if (Date.now() > deadline)
        throw new Error(`catch-up (sets): ${queued} of ${bans} bans reached the ledger`);
      await sleep(200);
    }
    await queueDepth(ctx.brokerUrl, queue, true);
    const floorBeforeMs = await backend.floorMs(ns, ips);
    const spawnedAt = Date.now();
    await fleet.startAgent("agent1");
    await fleet.waitForLog("agent1", (l) => l.msg.startsWith("sync done"), 900_000);
    const held = backend.count(ns);
    if (held !== bans) throw new Error(`catch-up (sets): the set holds ${held} elements, expected ${bans}`);
    const phases = catchUpPhases({
      agent: "agent1",
      bans,
      spawnedAt,
      agentLines: fleet.process("agent1").lines,
      serverLines: fleet.process("server").lines,
    });
    const floorAfterMs = await backend.floorMs(ns, ips);
    const floorMs = (floorBeforeMs + floorAfterMs) / 2;
    const seconds = phases.allAppliedMs / 1000;
    const parts = Math.ceil(bans / 4096);
    const batches = fleet.process("agent1").lines.filter((l) => l.msg.includes("in one batch"));
    const batchMs = batches.map((l) => Number(l["durationMs"]));
    ctx.progress(
      `catch-up (${backend.file}): ${formatNumber(bans)} bans applied ${formatNumber(phases.allAppliedMs)} ms after the spawn (sync in the queue at ${formatNumber(phases.syncSentMs)} ms)`,
    );
    ctx.recorder.figure({
      id: `catchup.${backend.file}.${bans}`,
      group: "catchup",
      what: `catch-up: an agent returning to ${bans.toLocaleString("en-US")} active bans, process start -> all applied (${backend.file}, in a network namespace)`,
      value: seconds,
      unit: "s",
      floor: {
        what: `${backend.floorWhat} the ${bans.toLocaleString("en-US")} elements (mean of a run before and after)`,
        value: floorMs / 1000,
        unit: "s",
      },
      ratio: {
        value: seconds / (floorMs / 1000),
        text: `${(seconds / (floorMs / 1000)).toFixed(1)}x the floor`,
      },
      ...(bans === TARGET_BANS
        ? {
            target: {
              text: `<= ${SET_CATCHUP_TARGET_SECONDS} s`,
              met: seconds <= SET_CATCHUP_TARGET_SECONDS,
            },
          }
        : {}),
      note: `${formatNumber(phases.bansPerSecond)} bans/s`,
    });
    ctx.recorder.note(
      `catch-up of ${formatNumber(bans)} bans with ${backend.file} (agent1 never started before; its queued commands purged, so all came through the sync, ${parts} part(s) of up to 4096): from the spawn, started ${formatNumber(phases.startedMs)} ms, sync confirmed into its queue ${formatNumber(phases.syncSentMs)} ms, first ban ${formatNumber(phases.firstActionMs)} ms, all applied ${formatNumber(phases.allAppliedMs)} ms; ${batches.length} batches, set transaction per batch median ${formatNumber(batchMs.sort((a, b) => a - b)[Math.floor(batchMs.length / 2)] ?? 0)} ms; the floor (one transaction of all of them) ${formatNumber(floorBeforeMs)} ms before, ${formatNumber(floorAfterMs)} ms after. The set checked: ${formatNumber(held)} elements.`,
    );
  } finally {
    await publisher?.close();
    await fleet?.close();
    spawnSync("ip", ["netns", "del", ns]);
  }
}

/** The set-backend variants of the catch-up, smallest first. */
export async function benchSetCatchUps(ctx: BenchContext): Promise<void> {
  for (const bans of ctx.pick([1_000, 10_000], [10_000, TARGET_BANS])) {
    await benchSetCatchUp(ctx, NFTABLES, bans);
  }
  await benchSetCatchUp(ctx, IPSET, ctx.pick(10_000, TARGET_BANS));
}
