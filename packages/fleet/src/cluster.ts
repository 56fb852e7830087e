// The failover scenario of issue 9 on a 3-node RabbitMQ cluster of private nodes: a server and two agents
// on different nodes, thousands of bans streamed through the library while nodes are killed and restarted,
// then every agent's ban log (the action's own side effect) is tallied. Shared by cluster.int.test.ts
// (quorum queues, must lose nothing) and scripts/cluster-classic.mjs (classic queues, measured only).

import { hostname } from "node:os";
import { loadConfig } from "@net2ban/config";
import { createCodec, createExecRequest } from "@net2ban/protocol";
import {
  describeCluster,
  isQuorumCritical,
  killClusterNode,
  type PrivateCluster,
  type PrivateNode,
  restartClusterNode,
  startCluster,
  stopCluster,
} from "@net2ban/test-utils";
import { type Broker, connectBroker, PublishError, preferredUrlIndex } from "@net2ban/transport";
import { Fleet, type LogLine } from "./fleet.js";

export interface FailoverOptions {
  queueType: "classic" | "quorum";
  /**
   * The wire of every peer, the sender's included (default 2). With 1 the agents have no message id to
   * deduplicate by, only the bytes they receive (the MAC): a request the server forwards again must
   * reach them as the same bytes.
   */
  protocol?: 1 | 2;
  /** Bans streamed (default 3000), each to a distinct address. */
  bans?: number;
  /** Seeds the addresses and their order. */
  seed?: number;
  /** Bans started per second at most (default 20); `maxBacklog` may slow it further. */
  ratePerSecond?: number;
  /** Publishes awaiting their confirm at once (default 16). */
  window?: number;
  /**
   * Most bans sent but not yet executed by every agent (default 32): the stream slows to what the agents
   * carry out, so a backlog does not hide an outage (nor inflate the gap after it) on a busy machine.
   */
  maxBacklog?: number;
  /** Node A (the server's) is killed once this share of the bans is confirmed (default 0.25). */
  killFirstAt?: number;
  /**
   * This many bans just before that point are published as fast as confirms come, neither paced nor
   * held back by the agents (default 0): node A then dies while the server is forwarding a backlog, with
   * up to `prefetch` publishes to the agents unconfirmed, each of which it forwards again.
   */
  burstBeforeFirstKill?: number;
  /** ...and restarted this long after the kill (default 5 s). */
  downtimeMs?: number;
  /** Node B (agent1's) is killed once A is back and this share is confirmed (default 0.6). */
  killSecondAt?: number;
  /** Node names get this suffix (default: random), e.g. n2bc1<suffix>. */
  nameSuffix?: string;
  /**
   * AMQP and Erlang distribution ports (default: free ones). Fixed ports collide when two runs share a
   * machine (two engineers' test suites): the second node dies with dist_port_already_used.
   */
  ports?: readonly [number, number, number];
  distPorts?: readonly [number, number, number];
  /** Limit for the whole stream plus the drain (default 420 s). */
  timeoutMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface AgentTally {
  /** Distinct bans sent that the agent's action carried out. */
  executed: number;
  /** Bans sent that the action never carried out. */
  lost: number;
  /** Action runs beyond the first, per ban, summed. */
  duplicated: number;
  /** Lines for addresses that were never sent (must be 0). */
  unexpected: number;
}

export interface ServiceGap {
  /** "killed A (...)", ... */
  event: string;
  agent: string;
  /**
   * From the kill to the agent's first execution of a ban sent after the kill, ms (null: none). A ban
   * already queued before the kill does not count: an agent working off a backlog would hide the outage.
   */
  gapMs: number | null;
}

export interface Latency {
  /** From a ban's first publish attempt to its execution by the agent, ms. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface FailoverReport {
  queueType: "classic" | "quorum";
  protocol: 1 | 2;
  seed: number;
  /** Bans confirmed by the broker (each exactly once from the sender's side, retried until confirmed). */
  sent: number;
  /** Publish attempts that were not confirmed, by PublishError reason. */
  refusedAttempts: Record<string, number>;
  /** Bans that needed more than one attempt. */
  retriedBans: number;
  /** Longest time one ban waited from its first attempt to its confirm, ms. */
  longestPublishMs: number;
  /**
   * Longest time without any confirmed publish while the stream ran, ms: a one-shot net2banctl (which
   * does not retry; nor does fail2ban) run in that window fails and its ban is lost.
   */
  longestPublishOutageMs: number;
  agents: Record<string, AgentTally>;
  /** Per kill and agent: from the kill to the agent's next executed ban. */
  gaps: ServiceGap[];
  /** The largest of `gaps` (the issue's "longest gap in service"), ms. */
  longestGapMs: number;
  /** Per agent: end-to-end latency of the bans it executed. */
  latency: Record<string, Latency>;
  /** The slowest bans (any agent): when they were first sent (ms from the start) and how long they took. */
  slowest: { agent: string; ip: string; sentAtMs: number; latencyMs: number }[];
  /** Longest pause between two consecutive executed bans of one agent while the stream ran, ms. */
  longestPauseMs: number;
  /** Messages left in the `.dead` queues at the end (replays refused, messages given up on). */
  deadLettered: Record<string, number>;
  /**
   * What each process dropped instead of carrying it out: messages `rejected`, by reason (`replay`: the
   * server refusing the sender's resends and redelivered inputs it had forwarded, an agent refusing a
   * request the server forwarded again), and `redeliveries` of commands an agent had already carried
   * out, acknowledged without running.
   */
  copiesDropped: Record<string, { rejected: Record<string, number>; redeliveries: number }>;
  /** When each node went down and came back, ms from the start of the stream. */
  timeline: { atMs: number; event: string }[];
  /** Which node each process connected to, in order. */
  connections: Record<string, string[]>;
  durationMs: number;
  /** Bans per second the stream achieved (the agents' pace when it is below `ratePerSecond`). */
  achievedRate: number;
}

/** mulberry32: a small seeded PRNG, enough to pick addresses reproducibly. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * `count` distinct addresses of 198.18.0.0/15 (RFC 2544 benchmarking: never a real host, never in an
 * allowlist), in a seeded random order.
 */
export function banAddresses(count: number, seed: number): string[] {
  if (!Number.isInteger(count) || count < 1 || count > 131_072)
    throw new RangeError(`"count" expected an integer from 1 to 131072, got ${count}`);
  const random = seededRandom(seed);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(random() * 131_072));
  return [...picked].map((n) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`);
}

/** Counts what an agent's ban log (`ban <ip>` lines) says about the bans sent. */
export function tallyBans(sent: readonly string[], banLogLines: readonly string[]): AgentTally {
  const runs = new Map<string, number>();
  for (const line of banLogLines) {
    const ip = line.startsWith("ban ") ? line.slice(4).trim() : undefined;
    if (ip !== undefined) runs.set(ip, (runs.get(ip) ?? 0) + 1);
  }
  const expected = new Set(sent);
  let executed = 0;
  let duplicated = 0;
  let unexpected = 0;
  for (const [ip, n] of runs) {
    if (!expected.has(ip)) {
      unexpected += n;
      continue;
    }
    executed += 1;
    duplicated += n - 1;
  }
  return { executed, lost: expected.size - executed, duplicated, unexpected };
}

/** When an agent executed a ban: its address and the time of its "IP ... banned" log line (ms). */
export interface Execution {
  ip: string;
  at: number;
}

/**
 * From `eventAt` to the first execution of a ban whose first publish attempt was at or after it
 * (`sentAt`: first attempt per address); null if there is none.
 */
export function gapAfter(
  eventAt: number,
  executions: readonly Execution[],
  sentAt: ReadonlyMap<string, number>,
): number | null {
  let next = Number.POSITIVE_INFINITY;
  for (const { ip, at } of executions) {
    const sent = sentAt.get(ip);
    if (sent !== undefined && sent >= eventAt && at < next) next = at;
  }
  return next === Number.POSITIVE_INFINITY ? null : next - eventAt;
}

/** p50, p99 and max of execution time minus first attempt, over the executions of sent bans. */
export function latencyOf(executions: readonly Execution[], sentAt: ReadonlyMap<string, number>): Latency {
  const values = executions
    .flatMap(({ ip, at }) => {
      const sent = sentAt.get(ip);
      return sent === undefined ? [] : [at - sent];
    })
    .sort((a, b) => a - b);
  const pick = (q: number) => values[Math.min(values.length - 1, Math.floor(q * values.length))] ?? 0;
  return { p50Ms: pick(0.5), p99Ms: pick(0.99), maxMs: values.at(-1) ?? 0 };
}

/** The longest interval between consecutive ban times within [from, to]. */
export function longestPause(banTimes: readonly number[], from: number, to: number): number {
  const inside = banTimes.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let longest = 0;
  let previous = from;
  for (const t of inside) {
    longest = Math.max(longest, t - previous);
    previous = t;
  }
  return inside.length === 0 ? to - from : longest;
}

/**
 * `urls` reordered so that a client with connection name `connectionName` (which starts at
 * preferredUrlIndex of it) starts at `urls[target]`; the rest follow in their order.
 */
export function urlsPreferring(urls: readonly string[], target: number, connectionName: string): string[] {
  const rotated = [...urls.slice(target), ...urls.slice(0, target)];
  const start = preferredUrlIndex(connectionName, urls.length);
  // The client reads position `start` first: put the target there, keeping the cyclic order after it.
  return rotated.map((_, i) => rotated[(i - start + urls.length) % urls.length]!);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The node a "Connected to RabbitMQ at <url>" line names, as "A"/"B"/"C". */
function connectionsOf(lines: readonly LogLine[], nodes: readonly PrivateNode[]): string[] {
  return lines
    .filter((l) => typeof l.msg === "string" && l.msg.startsWith("Connected to RabbitMQ at"))
    .map((l) => {
      const i = nodes.findIndex((n) => l.msg.includes(`:${n.port}/`));
      return i === -1 ? "?" : "ABC"[i]!;
    });
}

/** Runs the whole scenario: cluster up, fleet, stream with kills, drain, tally, teardown (also on failure). */
export async function runFailoverScenario(options: FailoverOptions): Promise<FailoverReport> {
  const bans = options.bans ?? 3000;
  const protocol = options.protocol ?? 2;
  const seed = options.seed ?? 9;
  const rate = options.ratePerSecond ?? 20;
  const window = options.window ?? 16;
  const maxBacklog = options.maxBacklog ?? 32;
  const killFirstAt = Math.floor(bans * (options.killFirstAt ?? 0.25));
  const burstFrom = killFirstAt - (options.burstBeforeFirstKill ?? 0);
  const killSecondAt = Math.floor(bans * (options.killSecondAt ?? 0.6));
  const downtimeMs = options.downtimeMs ?? 5000;
  const timeoutMs = options.timeoutMs ?? 420_000;
  const log = options.log ?? (() => undefined);
  const suffix = options.nameSuffix ?? Math.random().toString(16).slice(2, 6);
  const addresses = banAddresses(bans, seed);

  const cluster: PrivateCluster = await startCluster({
    names: [1, 2, 3].map((i) => `n2bc${i}${suffix}`),
    ...(options.ports === undefined ? {} : { ports: options.ports }),
    ...(options.distPorts === undefined ? {} : { distPorts: options.distPorts }),
  });
  const [nodeA, nodeB] = cluster.nodes as [PrivateNode, PrivateNode, PrivateNode];
  log(`cluster up: ${cluster.nodes.map((n) => `${n.nodename}:${n.port}`).join(", ")}`);
  let fleet: Fleet | undefined;
  let sender: Broker | undefined;
  try {
    const host = hostname();
    const urls = cluster.urls;
    // Each process prefers the node the scenario gives it (see preferredUrlIndex): server A, agents B and C.
    const list = (target: number, name: string) => urlsPreferring(urls, target, name).join(", ");
    fleet = await Fleet.create({
      agents: 2,
      brokerUrl: urls.join(", "),
      label: `cluster${options.queueType}${protocol === 1 ? "v1" : ""}`,
      protocols: [protocol, protocol],
      serverProtocol: protocol,
      global: { queue_type: options.queueType },
      sections: {
        server: { url: list(0, `net2ban-server@${host}`) },
        agent1: { url: list(1, `net2ban-agent agent1@${host}`) },
        agent2: { url: list(2, `net2ban-agent agent2@${host}`) },
      },
    });
    await fleet.startAll();
    const placed = {
      server: connectionsOf(fleet.process("server").lines, cluster.nodes)[0],
      agent1: connectionsOf(fleet.process("agent1").lines, cluster.nodes)[0],
      agent2: connectionsOf(fleet.process("agent2").lines, cluster.nodes)[0],
    };
    if (placed.server !== "A" || placed.agent1 !== "B" || placed.agent2 !== "C") {
      throw new Error(`processes not on the nodes the scenario needs: ${JSON.stringify(placed)}`);
    }
    log(
      `fleet up: server on A, agent1 on B, agent2 on C (${options.queueType} queues, protocol ${protocol})`,
    );

    const { config } = await loadConfig({ path: fleet.serverConfigPath, env: {} });
    const serverPeer = config.server!;
    const codec = await createCodec({
      protocol: serverPeer.protocol,
      keyId: "server",
      direction: "to-server",
      keys: serverPeer,
    });
    const senderName = "net2ban-cluster-sender";
    // The sender prefers A too: the first kill takes the server's and the sender's node at once.
    const connectedSender = await connectBroker({
      urls: urlsPreferring(urls, 0, senderName),
      connectionName: senderName,
      logger: {
        debug() {},
        info() {},
        warn: (o, msg) => log(`sender: ${msg ?? ""} ${JSON.stringify(o)}`),
        error: (o, msg) => log(`sender: ${msg ?? ""} ${JSON.stringify(o)}`),
      },
      recover: true,
      operationTimeoutMs: 10_000,
      reconnect: { initialDelayMs: 200, maxDelayMs: 2000 },
    });
    sender = connectedSender;

    const sentAt = new Map<string, number>();
    const refusedAttempts: Record<string, number> = {};
    let retriedBans = 0;
    let longestPublishMs = 0;
    let confirmed = 0;
    const confirmTimes: number[] = [];
    const timeline: { atMs: number; event: string }[] = [];
    const start = Date.now();
    const deadline = start + timeoutMs;
    const mark = (event: string) => {
      timeline.push({ atMs: Date.now() - start, event });
      log(`${((Date.now() - start) / 1000).toFixed(1)} s: ${event} (${confirmed} confirmed)`);
    };

    const sendOne = async (ip: string) => {
      const message = createExecRequest({
        file: "net2ban-demo",
        action: "actionban",
        params: { name: "cluster", ip },
        sender: senderName,
      });
      const body = codec.seal(message);
      const first = Date.now();
      sentAt.set(ip, first);
      for (let attempt = 1; ; attempt++) {
        try {
          await connectedSender.publish(serverPeer.queue, body, { messageId: message.id });
          break;
        } catch (error) {
          const reason = error instanceof PublishError ? error.reason : "other";
          refusedAttempts[reason] = (refusedAttempts[reason] ?? 0) + 1;
          if (attempt === 2) retriedBans += 1;
          if (Date.now() > deadline) throw new Error(`ban ${ip} never confirmed`, { cause: error });
          // As a sender that retries (fail2ban does not): the same message, so the server can drop a copy.
          await sleep(250);
        }
      }
      longestPublishMs = Math.max(longestPublishMs, Date.now() - first);
      confirmed += 1;
      confirmTimes.push(Date.now());
    };

    const failures: unknown[] = [];
    // Waits of the fault sequence end when the stream failed, so teardown never races a late kill.
    const until = async (done: () => boolean) => {
      while (!done() && failures.length === 0) await sleep(20);
      if (failures.length > 0) throw new Error("stream failed");
    };
    const faults = (async () => {
      await until(() => confirmed >= killFirstAt);
      const killedA = Date.now();
      await killClusterNode(nodeA);
      mark("killed A (the server's and the sender's node)");
      await sleep(Math.max(0, downtimeMs - (Date.now() - killedA)));
      mark("restarting A");
      await restartClusterNode(cluster, nodeA);
      mark("A back in the cluster");
      // Killing B is safe only when A's queue replicas can stand in for it (A + C keep the majority).
      while ((await isQuorumCritical(nodeB)) && Date.now() < deadline) await sleep(500);
      mark("B no longer quorum-critical");
      await until(() => confirmed >= killSecondAt);
      await killClusterNode(nodeB);
      mark("killed B (agent1's node)");
    })().catch((error: unknown) => {
      if (failures.length === 0) failures.push(error);
    });

    // Executions so far per agent, read incrementally from their log lines.
    const seen = new Map(fleet.agentNames.map((name) => [name, { scanned: 0, executed: 0 }]));
    const slowestAgent = () => {
      let least = Number.POSITIVE_INFINITY;
      for (const [name, counter] of seen) {
        const lines = fleet!.process(name).lines;
        for (; counter.scanned < lines.length; counter.scanned++) {
          const l = lines[counter.scanned]!;
          if (typeof l.ip === "string" && l.msg === `IP ${l.ip} banned`) counter.executed += 1;
        }
        least = Math.min(least, counter.executed);
      }
      return least;
    };
    const inFlight = new Set<Promise<void>>();
    let due = start;
    for (const [index, ip] of addresses.entries()) {
      const burst = index >= burstFrom && index < killFirstAt;
      due = burst ? Date.now() : Math.max(due + 1000 / rate, Date.now() - 1000);
      if (due > Date.now()) await sleep(due - Date.now());
      while (inFlight.size >= window) await Promise.race(inFlight);
      while (
        !burst &&
        sentAt.size - slowestAgent() >= maxBacklog &&
        failures.length === 0 &&
        Date.now() < deadline
      ) {
        await sleep(10);
      }
      const task = sendOne(ip).catch((error: unknown) => {
        failures.push(error);
      });
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      if (failures.length > 0) break;
    }
    await Promise.all(inFlight);
    await faults;
    if (failures.length > 0) throw failures[0];
    const streamEnd = Date.now();
    mark(`all ${bans} bans confirmed`);

    const agents = fleet.agentNames;
    for (const name of agents) {
      for (;;) {
        const tally = tallyBans(addresses, await fleet.banLines(name));
        if (tally.lost === 0) break;
        if (Date.now() > deadline) {
          log(`${name}: ${tally.lost} bans still missing at the deadline`);
          break;
        }
        await sleep(200);
      }
    }
    // Late duplicates (a redelivery after the last ban) would show up now.
    await sleep(3000);
    mark("drained");

    const report: FailoverReport = {
      queueType: options.queueType,
      protocol,
      seed,
      sent: confirmed,
      refusedAttempts,
      retriedBans,
      longestPublishMs,
      longestPublishOutageMs: longestPause(confirmTimes, start, streamEnd),
      agents: {},
      gaps: [],
      longestGapMs: 0,
      latency: {},
      slowest: [],
      longestPauseMs: 0,
      deadLettered: {},
      copiesDropped: {},
      timeline,
      connections: {},
      durationMs: Date.now() - start,
      achievedRate: Math.round((bans * 1000) / Math.max(1, streamEnd - start)),
    };
    const kills = timeline.filter((t) => t.event.startsWith("killed"));
    for (const name of agents) {
      report.agents[name] = tallyBans(addresses, await fleet.banLines(name));
      const executions: Execution[] = fleet
        .process(name)
        .lines.filter((l) => typeof l.ip === "string" && l.msg === `IP ${l.ip} banned`)
        .map((l) => ({ ip: l.ip as string, at: l.time }));
      for (const kill of kills) {
        const gapMs = gapAfter(start + kill.atMs, executions, sentAt);
        report.gaps.push({ event: kill.event, agent: name, gapMs });
        report.longestGapMs = Math.max(report.longestGapMs, gapMs ?? Number.POSITIVE_INFINITY);
      }
      report.latency[name] = latencyOf(executions, sentAt);
      for (const { ip, at } of executions) {
        const sent = sentAt.get(ip);
        if (sent !== undefined) {
          report.slowest.push({ agent: name, ip, sentAtMs: sent - start, latencyMs: at - sent });
        }
      }
      report.slowest = report.slowest.sort((a, b) => b.latencyMs - a.latencyMs).slice(0, 5);
      const times = executions.map((e) => e.at);
      report.longestPauseMs = Math.max(report.longestPauseMs, longestPause(times, start, streamEnd));
    }
    for (const name of ["server", ...agents]) {
      const lines = fleet.process(name).lines;
      report.connections[name] = connectionsOf(lines, cluster.nodes);
      const rejected: Record<string, number> = {};
      for (const l of lines) {
        if (l.msg === "message rejected")
          rejected[String(l["reason"])] = (rejected[String(l["reason"])] ?? 0) + 1;
      }
      const redeliveries = lines.filter((l) =>
        / already carried out; redelivery acknowledged$/.test(l.msg),
      ).length;
      report.copiesDropped[name] = { rejected, redeliveries };
      // Anything else worth a look (dead letters not explained above): the last warnings of each process.
      const warnings = lines.filter((l) => l.level >= 40 && l.msg !== "message rejected").slice(-10);
      if (warnings.length > 0) log(`${name} warnings:\n${warnings.map((l) => JSON.stringify(l)).join("\n")}`);
    }
    const queues = [fleet.inputQueue, ...agents.map((a) => `${fleet!.prefix}_${a}`)];
    for (const queue of queues) {
      const info = await connectedSender.queueInfo(`${queue}.dead`).catch(() => null);
      report.deadLettered[`${queue}.dead`] = info?.messageCount ?? 0;
    }
    return report;
  } catch (error) {
    // Everything an operator would look at, before the nodes and the fleet are gone.
    const processes = fleet === undefined ? [] : ["server", ...fleet.agentNames];
    for (const name of processes) {
      let lines: LogLine[] = [];
      try {
        lines =
          fleet
            ?.process(name)
            .lines.filter((l) => l.level >= 40)
            .slice(-15) ?? [];
      } catch {
        // the process is gone
      }
      log(`${name} warnings:\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
    }
    log(await describeCluster(cluster));
    throw error;
  } finally {
    await sender?.close().catch(() => undefined);
    await fleet?.close().catch(() => undefined);
    await stopCluster(cluster);
  }
}

/** The report as a few lines for a terminal or a doc. */
export function formatReport(report: FailoverReport): string {
  const lines = [
    `${report.queueType} queues, protocol ${report.protocol}, seed ${report.seed}: ${report.sent} bans sent (confirmed, ${report.achievedRate}/s), ${report.retriedBans} needed a retry (${JSON.stringify(report.refusedAttempts)}), longest wait for a confirm ${report.longestPublishMs} ms, longest time without any confirm ${report.longestPublishOutageMs} ms`,
  ];
  for (const [name, t] of Object.entries(report.agents)) {
    lines.push(
      `  ${name}: executed ${t.executed}, lost ${t.lost}, duplicated ${t.duplicated}, unexpected ${t.unexpected}`,
    );
  }
  for (const [name, l] of Object.entries(report.latency)) {
    lines.push(`  ${name}: ban sent -> executed p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms`);
  }
  const slow = report.slowest.map(
    (b) => `${b.agent} ${b.latencyMs} ms (sent at ${(b.sentAtMs / 1000).toFixed(1)} s)`,
  );
  lines.push(`  slowest bans: ${slow.join(", ")}`);
  for (const g of report.gaps) {
    lines.push(`  ${g.event} -> first ban sent after it executed on ${g.agent}: ${g.gapMs ?? "none"} ms`);
  }
  lines.push(
    `  longest gap in service ${report.longestGapMs} ms; longest pause between bans ${report.longestPauseMs} ms`,
  );
  lines.push(`  dead-lettered: ${JSON.stringify(report.deadLettered)}`);
  lines.push(`  copies dropped: ${JSON.stringify(report.copiesDropped)}`);
  lines.push(`  connections: ${JSON.stringify(report.connections)}`);
  lines.push(
    `  timeline: ${report.timeline.map((t) => `${(t.atMs / 1000).toFixed(1)} s ${t.event}`).join("; ")}`,
  );
  return lines.join("\n");
}
