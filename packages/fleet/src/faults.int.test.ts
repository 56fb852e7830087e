// Fault injection on a private RabbitMQ node: publishers stream bans to 5 agents while the server, an
// agent and the broker are killed with SIGKILL and restarted at seeded points; afterwards every agent
// must have every ban in effect exactly once, read from the demo action's own append-only file.
//
//   pnpm build && npx vitest run packages/fleet/src/faults.int.test.ts
//
// Knobs (environment): NET2BAN_FAULT_SEED (kill points), NET2BAN_FAULT_BANS (default 10000),
// NET2BAN_FAULT_LEAD (bans the publishers may run ahead of the agents, default 300),
// NET2BAN_FAULT_REPORT (also write the report as JSON to that file).
import { readFile, stat, writeFile } from "node:fs/promises";
import { parseConfig } from "@net2ban/config";
import { createCodec, createExecBanRequest } from "@net2ban/protocol";
import {
  killPrivateNode,
  type PrivateNode,
  restartPrivateNode,
  startPrivateNode,
  stopPrivateNode,
} from "@net2ban/test-utils";
import amqp from "amqplib";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  type BanTally,
  banAddress,
  type StreamItem,
  type StreamReport,
  seededRandom,
  streamConfirmed,
  tallyBanLog,
} from "./faults.js";
import { Fleet, type FleetProcess, type LogLine } from "./fleet.js";

const intEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`${name} expected a positive integer, got ${raw}`);
  return value;
};

const SEED = intEnv("NET2BAN_FAULT_SEED", 6);
const BANS = intEnv("NET2BAN_FAULT_BANS", 10_000);
const LEAD = intEnv("NET2BAN_FAULT_LEAD", 300);
const AGENTS = 5;
const PUBLISHERS = 3;
/** Each kind at least once; the seed orders them and picks the agent and the points. */
const KILLS: readonly Target[] = ["server", "agent", "broker", "agent", "server"];
/** Most time one recovery may take before the run is failed (the broker restart alone is ~10-20 s). */
const RECOVERY_LIMIT_MS = 120_000;

type Target = "server" | "agent" | "broker";

interface KillRecord {
  target: string;
  /** Fraction of the bans confirmed by the broker when the kill came. */
  atSent: number;
  /** Fraction of all executions (5 x bans) done by then. */
  atExecuted: number;
  /** Kill until the process (or node) was running again. */
  restartMs: number;
  /** Kill until work flowed again: the server forwarding, the agent (every agent, for the broker) banning. */
  recoveryMs: number;
}

let node: PrivateNode | undefined;
let fleet: Fleet | undefined;

beforeAll(async () => {
  node = await startPrivateNode({ name: `n2bfault${process.pid}` });
}, 120_000);

afterAll(async () => {
  try {
    await fleet?.close();
  } finally {
    if (node !== undefined) await stopPrivateNode(node);
  }
}, 120_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** First log line of `proc` from index `from` on that matches; polls the lines the fleet collects. */
async function firstLine(
  proc: FleetProcess,
  match: (line: LogLine) => boolean,
  timeoutMs = RECOVERY_LIMIT_MS,
  from = 0,
): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  let index = from;
  for (;;) {
    for (; index < proc.lines.length; index++) {
      const line = proc.lines[index]!;
      if (match(line)) return line;
    }
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`${proc.name} exited: ${proc.stderr.slice(-5).join(" | ")}`);
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: no matching log line within ${timeoutMs} ms`);
    await sleep(20);
  }
}

const banned = (line: LogLine) => line.msg.startsWith("IP ") && line.msg.endsWith(" banned");
const forwarded = (line: LogLine) => line.msg.startsWith("Forwarding: ");

/** Counts of what each process logged, kept when it is killed and replaced. */
class LogCounts {
  readonly counts = new Map<string, number>();
  add(proc: FleetProcess): void {
    for (const line of proc.lines) {
      let key: string | undefined;
      if (line.msg === "message rejected") key = `rejected: ${String(line["reason"]).split(/[:\s]/)[0]}`;
      else if (line.level >= 50) key = `error: ${line.msg}`;
      else if (line.msg.includes("already carried out")) key = "redelivery of a done message acknowledged";
      else if (line.msg.includes("was in doubt after a crash")) key = "in doubt after a crash: resolved";
      else if (line.msg.startsWith("in-doubt ban: actionunban done")) key = "in doubt: actionunban ok";
      else if (line.msg.startsWith("in-doubt ban: actionunban failed")) key = "in doubt: actionunban failed";
      if (key !== undefined) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    }
  }
}

it(`${BANS} bans to ${AGENTS} agents through SIGKILLs of server, agent and broker: none lost, none twice`, async () => {
  const started = Date.now();
  const random = seededRandom(SEED);
  const broker = node!;
  fleet = await Fleet.create({
    agents: AGENTS,
    brokerUrl: broker.url,
    rounds: 1000,
    label: "faults",
    global: { prefetch: "32" },
  });
  const f = fleet;
  await f.startAll();

  // Sealed as net2banctl would: one v2 request per ban, its id fixed so that retries carry the same id.
  const { config } = parseConfig(await readFile(f.serverConfigPath, "utf8"), f.serverConfigPath);
  const codec = await createCodec({
    protocol: 2,
    keyId: "server",
    direction: "to-server",
    keys: config.server!,
  });
  const addresses = Array.from({ length: BANS }, (_, i) => banAddress(i));
  const streams: StreamItem[][] = Array.from({ length: PUBLISHERS }, () => []);
  for (const [i, ip] of addresses.entries()) {
    const id = `fault-${SEED}-${String(i).padStart(6, "0")}`;
    const message = createExecBanRequest({
      ip,
      action: "net2ban-demo",
      name: "faults",
      id,
      sender: "fault-suite",
    });
    streams[i % PUBLISHERS]!.push({ id, body: Buffer.from(codec.seal(message)) });
  }
  const logs = new LogCounts();
  const expectedBytes = addresses.reduce((sum, ip) => sum + `ban ${ip}\n`.length, 0) * AGENTS;
  /** Fraction of all executions (every agent, every ban) found in the ban logs. */
  const progress = async () => {
    let bytes = 0;
    for (const name of f.agentNames)
      bytes += await stat(f.banLog(name)).then(
        (s) => s.size,
        () => 0,
      );
    return bytes / expectedBytes;
  };

  // The publishers stream as fast as the agents keep up, at most LEAD bans ahead: the stream lasts the
  // whole run, so every kill falls while work still flows in.
  let confirmed = 0;
  const counts = streams.map(() => 0);
  const keepPace = async () => {
    while (confirmed - (await progress()) * BANS > LEAD) await sleep(100);
  };
  const publishing = Promise.all(
    streams.map((items, p) =>
      streamConfirmed({
        url: broker.url,
        queue: f.inputQueue,
        items,
        beforeWindow: keepPace,
        onConfirmed: (n) => {
          counts[p] = n;
          confirmed = counts.reduce((a, b) => a + b, 0);
        },
      }),
    ),
  );
  publishing.catch(() => undefined);

  // Kill points are counted in bans confirmed by the broker: a restarted server and agent always have
  // new work to show their recovery with.
  const untilSent = async (point: number) => {
    let seen = confirmed;
    let deadline = Date.now() + RECOVERY_LIMIT_MS;
    while (confirmed < point * BANS) {
      if (confirmed !== seen) {
        seen = confirmed;
        deadline = Date.now() + RECOVERY_LIMIT_MS;
      } else if (Date.now() > deadline) {
        throw new Error(`no publish confirmed for ${RECOVERY_LIMIT_MS} ms, at ${confirmed}/${BANS}`);
      }
      await sleep(50);
    }
  };

  // Kill points: seeded, spread over 10-80 % of the stream, one kill at a time (each recovers first).
  const order = [...KILLS];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const points = order.map(() => 0.1 + random() * 0.7).sort((a, b) => a - b);
  const kills: KillRecord[] = [];
  for (const [i, target] of order.entries()) {
    const point = points[i]!;
    await untilSent(point);
    const atSent = Math.round((confirmed / BANS) * 1000) / 1000;
    const atExecuted = Math.round((await progress()) * 1000) / 1000;
    if (target === "agent") {
      const name = f.agentNames[Math.floor(random() * AGENTS)]!;
      const old = f.process(name);
      const t0 = Date.now();
      await f.stop(name, "SIGKILL");
      logs.add(old);
      const proc = await f.startAgent(name);
      const restartMs = Date.now() - t0;
      const first = await firstLine(proc, banned);
      kills.push({ target: name, atSent, atExecuted, restartMs, recoveryMs: first.time - t0 });
    } else if (target === "server") {
      const old = f.process("server");
      const t0 = Date.now();
      await f.stop("server", "SIGKILL");
      logs.add(old);
      const proc = await f.startServer();
      const restartMs = Date.now() - t0;
      const first = await firstLine(proc, forwarded);
      kills.push({ target: "server", atSent, atExecuted, restartMs, recoveryMs: first.time - t0 });
    } else {
      const marks = new Map(["server", ...f.agentNames].map((n) => [n, f.process(n).lines.length]));
      const t0 = Date.now();
      await killPrivateNode(broker);
      await restartPrivateNode(broker);
      const up = Date.now();
      // Every process must take up work again: the server forwarding, each agent banning.
      const resumed = await Promise.all(
        [...marks].map(([name, from]) =>
          firstLine(
            f.process(name),
            (l) => l.time >= up && (name === "server" ? forwarded(l) : banned(l)),
            RECOVERY_LIMIT_MS,
            from,
          ),
        ),
      );
      kills.push({
        target: "broker",
        atSent,
        atExecuted,
        restartMs: up - t0,
        recoveryMs: Math.max(...resumed.map((l) => l.time)) - t0,
      });
    }
  }

  const published: StreamReport[] = await publishing;
  const publishedAfterSeconds = Math.round((Date.now() - started) / 1000);
  // Every agent has every address, or no agent banned anything for a while (lost bans are reported,
  // not waited for forever).
  let tallies = new Map<string, BanTally>();
  let lastProgress = await progress();
  let lastChange = Date.now();
  for (;;) {
    tallies = new Map();
    for (const name of f.agentNames) tallies.set(name, tallyBanLog(await f.banLines(name), addresses));
    if ([...tallies.values()].every((t) => t.lost.length === 0)) break;
    const now = await progress();
    if (now !== lastProgress) lastChange = Date.now();
    else if (Date.now() - lastChange > RECOVERY_LIMIT_MS) break;
    lastProgress = now;
    await sleep(1000);
  }
  const drainDeadline = Date.now() + RECOVERY_LIMIT_MS;
  // Quiet: nothing left in any queue, and no ban log grew for 2 s (duplicates would show up by now).
  const queues = [f.inputQueue, ...f.agentNames.map((n) => `${f.prefix}_${n}`)];
  const depth = async () => {
    const connection = await amqp.connect(broker.url);
    try {
      const channel = await connection.createChannel();
      let total = 0;
      for (const queue of queues) total += (await channel.checkQueue(queue)).messageCount;
      return total;
    } finally {
      await connection.close();
    }
  };
  let lastBytes = -1;
  while (Date.now() < drainDeadline) {
    const bytes = await progress();
    if (bytes === lastBytes && (await depth()) === 0) break;
    lastBytes = bytes;
    await sleep(2000);
  }
  const drainedAfterSeconds = Math.round((Date.now() - started) / 1000);
  for (const name of ["server", ...f.agentNames]) {
    const proc = f.process(name);
    await f.stop(name, "SIGTERM");
    logs.add(proc);
  }
  // Stopped consumers hand back what they held: anything still queued now would be unfinished work.
  const leftInQueues = await depth();
  for (const name of f.agentNames) tallies.set(name, tallyBanLog(await f.banLines(name), addresses));

  const report = {
    command: "pnpm build && npx vitest run packages/fleet/src/faults.int.test.ts",
    seed: SEED,
    sent: BANS,
    publishers: PUBLISHERS,
    publishedConfirmed: published.reduce((s, p) => s + p.confirmed, 0),
    publishesResent: published.reduce((s, p) => s + p.resent, 0),
    publisherReconnects: published.reduce((s, p) => s + p.reconnects, 0),
    agents: Object.fromEntries(
      [...tallies].map(([name, t]) => [
        name,
        {
          executed: t.executed,
          lost: t.lost.length,
          duplicated: t.duplicated.length,
          reappliedAfterCrash: t.reapplied.length,
          banLines: t.banLines,
          unbanLines: t.unbanLines,
          unexpectedLines: t.unexpected.length,
        },
      ]),
    ),
    lost: [...tallies.values()].reduce((s, t) => s + t.lost.length, 0),
    duplicated: [...tallies.values()].reduce((s, t) => s + t.duplicated.length, 0),
    leftInQueues,
    kills,
    logged: Object.fromEntries([...logs.counts].sort()),
    publishedAfterSeconds,
    drainedAfterSeconds,
    durationSeconds: Math.round((Date.now() - started) / 1000),
  };
  console.log(`fault-injection report\n${JSON.stringify(report, null, 2)}`);
  const out = process.env["NET2BAN_FAULT_REPORT"];
  if (out !== undefined && out !== "") await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);

  expect(report.publishedConfirmed).toBe(BANS);
  expect(kills.map((k) => (k.target.startsWith("agent") ? "agent" : k.target)).sort()).toEqual(
    [...KILLS].sort(),
  );
  for (const [name, t] of tallies) {
    expect({ name, lost: t.lost.slice(0, 5), duplicated: t.duplicated.slice(0, 5) }).toEqual({
      name,
      lost: [],
      duplicated: [],
    });
    expect(t.unexpected).toEqual([]);
    expect(t.executed).toBe(BANS);
  }
  expect(leftInQueues).toBe(0);
  // ~7 min on the shared 2-core machine at load 15, ~13 min inside a full parallel run: a wide limit.
}, 1_500_000);
