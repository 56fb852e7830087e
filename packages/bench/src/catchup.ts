// Ban state: how long an agent returning to N active bans takes to catch up (N = 1,000; quick: 100), and
// how long a ban deleted by hand on one host takes to come back (drift repair), measured on real
// net2ban-server and net2ban-agent processes (the Fleet harness) with the demo action (stock-style shell
// commands, several to a shell in a batch). The nftables-set variants at 10,000 and 100,000 bans are in
// catchup-sets.ts.
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { runCommand } from "@net2ban/actions";
import { loadConfig } from "@net2ban/config";
import { Fleet, type LogLine } from "@net2ban/fleet";
import { type Codec, createCodec, createTrackedBanRequest } from "@net2ban/protocol";
import { type Broker, connectBroker } from "@net2ban/transport";
import amqp from "amqplib";
import { benchSetCatchUps } from "./catchup-sets.js";
import type { BenchContext } from "./context.js";
import { sinkLogger } from "./logger.js";
import { formatNumber, median, summarize } from "./stats.js";

/** The drift interval of the drift-repair fleet (seconds): the reference its repair time is compared with. */
export const DRIFT_INTERVAL_SECONDS = 1;

/** When each step of one catch-up happened, in ms after the agent's process was spawned. */
export interface CatchUpPhases {
  /** The agent logged `net2ban agent <name> started` (config read, keys derived, consuming). */
  startedMs: number;
  /** The server had the agent's start digest (`catch-up for <name>: ...`). */
  digestAtServerMs: number;
  /** The server's sync was confirmed by the broker, so it waited in the agent's queue (`sync to <name>: ...`). */
  syncSentMs: number;
  /** The agent began the first action of the sync (its `IP ... banned` line less the action's duration). */
  firstActionMs: number;
  /** The agent logged `sync done` with every ban applied. */
  allAppliedMs: number;
  /** bans / (allAppliedMs / 1000): from the spawn until the last one is in effect. */
  bansPerSecond: number;
}

function first(lines: readonly LogLine[], what: string, match: (line: LogLine) => boolean): LogLine {
  const found = lines.find(match);
  if (found === undefined) throw new Error(`catch-up: no ${what} in the log`);
  return found;
}

/**
 * The phases of one catch-up, read from the log lines of the agent and the server (times in ms since the
 * epoch, as pino writes them). Throws naming the line that is missing, or when the agent applied another
 * number of bans than `bans`.
 */
export function catchUpPhases(input: {
  agent: string;
  bans: number;
  spawnedAt: number;
  agentLines: readonly LogLine[];
  serverLines: readonly LogLine[];
}): CatchUpPhases {
  const { agent, bans, spawnedAt, agentLines, serverLines } = input;
  if (!Number.isInteger(bans) || bans <= 0)
    throw new RangeError(`"bans" expected a positive integer, got ${bans}`);
  const after = (line: LogLine) => line.time >= spawnedAt;
  const started = first(agentLines, `"net2ban agent ${agent} started"`, (l) =>
    l.msg.startsWith(`net2ban agent ${agent} started`),
  );
  const digest = first(
    serverLines,
    `"catch-up for ${agent}"`,
    (l) => after(l) && l.msg.startsWith(`catch-up for ${agent}:`),
  );
  const sync = first(
    serverLines,
    `"sync to ${agent}"`,
    (l) => after(l) && l.time >= digest.time && l.msg.startsWith(`sync to ${agent}:`),
  );
  const banned = agentLines.filter((l) => /^IP \S+ banned$/.test(l.msg));
  const firstBan = first(banned, `"IP ... banned"`, () => true);
  const done = first(agentLines, `"sync done"`, (l) => l.msg.startsWith("sync done"));
  const applied = Number(done["applied"]);
  if (applied !== bans || banned.length !== bans) {
    throw new Error(
      `catch-up: ${agent} applied ${banned.length} ban(s) (sync done says ${done["applied"]}), expected ${bans}`,
    );
  }
  const actionMs = Number(firstBan["durationMs"]);
  const allAppliedMs = done.time - spawnedAt;
  return {
    startedMs: started.time - spawnedAt,
    digestAtServerMs: digest.time - spawnedAt,
    syncSentMs: sync.time - spawnedAt,
    firstActionMs: firstBan.time - (Number.isFinite(actionMs) ? actionMs : 0) - spawnedAt,
    allAppliedMs,
    bansPerSecond: bans / (allAppliedMs / 1000),
  };
}

/** Drift repairs (ms each) beside the drift interval: their median and max as a multiple of it. */
export function driftRatios(
  repairsMs: readonly number[],
  intervalSeconds: number,
): { medianSeconds: number; maxSeconds: number; medianRatio: number; maxRatio: number } {
  if (!(intervalSeconds > 0)) throw new RangeError(`"intervalSeconds" expected > 0, got ${intervalSeconds}`);
  const s = summarize(repairsMs);
  return {
    medianSeconds: s.p50 / 1000,
    maxSeconds: s.max / 1000,
    medianRatio: s.p50 / 1000 / intervalSeconds,
    maxRatio: s.max / 1000 / intervalSeconds,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seals tracked ban requests (`net2banctl ban IP --for 1h --action net2ban-demo --name bench`). */
async function inputCodec(fleet: Fleet): Promise<Codec> {
  const { config } = await loadConfig({ path: fleet.serverConfigPath, env: {} });
  return createCodec({
    protocol: 2,
    keyId: "server",
    direction: "to-server",
    keys: config.server!,
  });
}

async function publishBans(fleet: Fleet, publisher: Broker, codec: Codec, ips: readonly string[]) {
  await publisher.publishAll(
    ips.map((ip) => {
      const ban = createTrackedBanRequest({
        ip,
        action: "net2ban-demo",
        name: "bench",
        duration: 3600,
        sender: "bench",
      });
      return { queue: fleet.inputQueue, body: codec.seal(ban), messageId: ban.id };
    }),
  );
}

/** Polls until an agent's demo file holds `count` lines; the error says how far it got. */
async function waitForLines(fleet: Fleet, agent: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await fleet.banLines(agent);
    if (lines.length >= count) return;
    if (Date.now() > deadline) throw new Error(`${agent}: ${lines.length} of ${count} bans applied`);
    await sleep(50);
  }
}

/** The same shell command as the demo action's ban, `count` times one after another (an agent's pace). */
async function serialShells(dir: string, count: number): Promise<number> {
  const log = join(dir, "shells.log");
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const result = await runCommand(["echo ban 192.0.2.$0 >> $1", String(i % 250), log], {
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0) throw new Error(`shell floor: exit ${result.exitCode}: ${result.stderr}`);
  }
  const ms = performance.now() - started;
  await rm(log, { force: true });
  return ms;
}

async function purgeQueue(brokerUrl: string, queue: string): Promise<number> {
  const connection = await amqp.connect(brokerUrl);
  try {
    const channel = await connection.createChannel();
    const { messageCount } = await channel.purgeQueue(queue);
    await channel.close();
    return messageCount;
  } finally {
    await connection.close();
  }
}

async function benchCatchUp(ctx: BenchContext): Promise<void> {
  const bans = ctx.pick(100, 1000);
  // No drift checks during the run (the default 60s could fire mid-way): this measures the catch-up alone.
  const fleet = await Fleet.create({
    agents: 2,
    brokerUrl: ctx.brokerUrl,
    label: "benchcu",
    global: { drift_interval: "1h" },
  });
  let publisher: Broker | undefined;
  try {
    ctx.progress(`catch-up: server and 2 agents as separate processes; ${bans} bans while agent2 is away`);
    await fleet.startAll();
    await fleet.stop("agent2");
    const codec = await inputCodec(fleet);
    publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
    const ips = Array.from({ length: bans }, (_, n) => `10.77.${n >> 8}.${n & 255}`);
    await publishBans(fleet, publisher, codec, ips);
    // In the ledger and applied on agent1 (so its shells are done before agent2 starts).
    await waitForLines(fleet, "agent1", bans, 600_000);
    // agent2's queue holds the N apply commands: purged, as if they had gone stale (an absence longer than
    // valid_wtime) or the queue had been lost, so that everything comes through the catch-up.
    const purged = await purgeQueue(ctx.brokerUrl, `${fleet.prefix}_agent2`);
    ctx.progress(
      `catch-up: ${bans} bans in the ledger, applied on agent1; ${purged} queued for agent2 purged`,
    );

    // The floor, before and after (the machine is shared: its load drifts): the demo action's shells alone.
    const floorBeforeMs = await serialShells(fleet.dir, bans);
    const spawnedAt = Date.now();
    await fleet.startAgent("agent2");
    await fleet.waitForLog("agent2", (l) => l.msg.startsWith("sync done"), 600_000);
    const lines = (await fleet.banLines("agent2")).sort();
    const expected = ips.map((ip) => `ban ${ip}`).sort();
    const missing = expected.filter((line, i) => lines[i] !== line).length;
    if (lines.length !== bans || missing > 0) {
      throw new Error(`catch-up: agent2 holds ${lines.length} lines, expected ${bans} (${missing} differ)`);
    }
    const phases = catchUpPhases({
      agent: "agent2",
      bans,
      spawnedAt,
      agentLines: fleet.process("agent2").lines,
      serverLines: fleet.process("server").lines,
    });
    ctx.progress(
      `catch-up: agent2 started after ${formatNumber(phases.startedMs)} ms, sync at ${formatNumber(phases.syncSentMs)} ms, all ${bans} applied after ${formatNumber(phases.allAppliedMs)} ms`,
    );
    const floorAfterMs = await serialShells(fleet.dir, bans);
    const floorMs = (floorBeforeMs + floorAfterMs) / 2;
    const seconds = phases.allAppliedMs / 1000;
    ctx.recorder.figure({
      id: `catchup.${bans}`,
      group: "catchup",
      what: `catch-up: an agent returning to ${bans.toLocaleString("en-US")} active bans, process start -> all applied (demo action: shell commands, several to a shell in a batch)`,
      value: seconds,
      unit: "s",
      floor: {
        what: `${bans} demo-action shells one after another (mean of a run before and after)`,
        value: floorMs / 1000,
        unit: "s",
      },
      ratio: {
        value: seconds / (floorMs / 1000),
        text: `${(seconds / (floorMs / 1000)).toFixed(1)}x the bare shells`,
      },
      note: `${formatNumber(phases.bansPerSecond)} bans/s`,
    });
    ctx.recorder.figure({
      id: `catchup.${bans}.sync`,
      group: "catchup",
      what: `catch-up: process start -> the server's sync of ${bans} bans is in the agent's queue (before any action runs)`,
      value: phases.syncSentMs / 1000,
      unit: "s",
      note: `agent started (keys derived, consuming) after ${formatNumber(phases.startedMs / 1000)} s`,
    });
    ctx.recorder.note(
      `catch-up of ${bans} bans (net2ban-server, net2ban-agent processes; agent2's queued commands purged, so all ${bans} came through the sync): from agent2's spawn, started ${formatNumber(phases.startedMs)} ms, its start digest at the server ${formatNumber(phases.digestAtServerMs)} ms, sync confirmed into its queue ${formatNumber(phases.syncSentMs)} ms, first action ${formatNumber(phases.firstActionMs)} ms, all applied ${formatNumber(phases.allAppliedMs)} ms (${formatNumber(phases.bansPerSecond)} bans/s; ${formatNumber((phases.allAppliedMs - phases.firstActionMs) / bans)} ms per ban while applying: shells of up to 200 commands per sync part, two flushes of the ban schedule per part; the same shells alone ${formatNumber(floorBeforeMs / bans)} ms each before, ${formatNumber(floorAfterMs / bans)} ms after). agent2's file checked: all ${bans} present, none twice.`,
    );
  } finally {
    await publisher?.close();
    await fleet.close();
  }
}

/** The demo action's probe: the ban is in effect while its line is in the agent's file. */
async function addProbe(fleet: Fleet, agent: string): Promise<void> {
  await writeFile(
    join(fleet.agentDir(agent), "actions", "net2ban-demo.local"),
    "[Definition]\nactionprobe = grep -qx 'ban <ip>' <banlog>\n",
  );
}

async function benchDriftRepair(ctx: BenchContext): Promise<void> {
  const rounds = ctx.pick(2, 10);
  const held = 5;
  const fleet = await Fleet.create({
    agents: 2,
    brokerUrl: ctx.brokerUrl,
    label: "benchdrift",
    global: { drift_interval: `${DRIFT_INTERVAL_SECONDS}s` },
  });
  let publisher: Broker | undefined;
  try {
    ctx.progress(
      `drift repair: drift_interval ${DRIFT_INTERVAL_SECONDS}s, actionprobe on the demo action, ${held} bans, ${rounds} rounds`,
    );
    for (const agent of fleet.agentNames) await addProbe(fleet, agent);
    await fleet.startAll();
    const codec = await inputCodec(fleet);
    publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
    const ips = Array.from({ length: held }, (_, n) => `10.78.0.${n + 1}`);
    await publishBans(fleet, publisher, codec, ips);
    for (const agent of fleet.agentNames) await waitForLines(fleet, agent, held, 60_000);
    const repairs: number[] = [];
    const detections: number[] = [];
    for (let round = 0; round < rounds; round++) {
      // At a random point of the interval, as an operator's hand would fall.
      await sleep(Math.random() * DRIFT_INTERVAL_SECONDS * 1000);
      const ip = ips[round % held]!;
      const log = fleet.banLog("agent1");
      const kept = (await readFile(log, "utf8")).split("\n").filter((l) => l !== "" && l !== `ban ${ip}`);
      const deletedAt = Date.now();
      await writeFile(log, kept.map((l) => `${l}\n`).join(""));
      const seen = await fleet.waitForLog(
        "agent1",
        (l) => l.time >= deletedAt && l.msg.startsWith(`ban net2ban-demo/bench ${ip} is no longer in effect`),
        30_000,
      );
      const back = await fleet.waitForLog(
        "agent1",
        (l) => l.time >= deletedAt && l.msg === `IP ${ip} banned`,
        30_000,
      );
      // Settled (the sync's digest sent) before the next round touches the file.
      await fleet.waitForLog("agent1", (l) => l.time >= back.time && l.msg.startsWith("sync done"), 30_000);
      detections.push(seen.time - deletedAt);
      repairs.push(back.time - deletedAt);
      ctx.progress(
        `drift repair round ${round + 1}/${rounds}: back after ${formatNumber(back.time - deletedAt)} ms`,
      );
    }
    const untouched = (await fleet.banLines("agent2")).length;
    if (untouched !== held)
      throw new Error(`drift repair: agent2 holds ${untouched} lines, expected ${held}`);
    const r = driftRatios(repairs, DRIFT_INTERVAL_SECONDS);
    ctx.recorder.figure({
      id: "catchup.drift",
      group: "catchup",
      what: `drift repair: a ban deleted by hand on one host until it is applied there again (median of ${rounds})`,
      value: r.medianSeconds,
      unit: "s",
      floor: { what: "drift_interval", value: DRIFT_INTERVAL_SECONDS, unit: "s" },
      ratio: {
        value: r.medianRatio,
        text: `${r.medianRatio.toFixed(2)}x the drift interval (max ${r.maxRatio.toFixed(2)}x)`,
      },
      note: `max ${formatNumber(r.maxSeconds)} s`,
    });
    ctx.recorder.note(
      `drift repair (drift_interval ${DRIFT_INTERVAL_SECONDS}s, ${held} bans held, ${rounds} deletions at random points of the interval): deletion -> the agent's probe finds it gone, median ${formatNumber(median(detections))} ms (max ${formatNumber(Math.max(...detections))}); deletion -> applied again ${repairs.map((ms) => formatNumber(ms)).join(", ")} ms. The wait for the next check is most of it; probe, digest, the server's sync and the action add the rest.`,
    );
  } finally {
    await publisher?.close();
    await fleet.close();
  }
}

export async function benchCatchUpSuite(ctx: BenchContext): Promise<void> {
  await benchCatchUp(ctx);
  await benchSetCatchUps(ctx);
  await benchDriftRepair(ctx);
}
