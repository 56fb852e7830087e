// End to end: a ban published to the server's input queue until its action (an appending shell command)
// is done on every agent, for 10 and 100 in-process agents and for 10 agents as separate processes;
// compared with the broker's own round trip of a bare persistent message.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type Net2banConfig, parseConfig } from "@net2ban/config";
import { Fleet } from "@net2ban/fleet";
import { type Codec, createCodec, createExecBanRequest } from "@net2ban/protocol";
import { Net2banServer } from "@net2ban/server";
import { type Broker, connectBroker } from "@net2ban/transport";
import amqp from "amqplib";
import { NOOP_ACTION } from "./agent-host.js";
import { timedBroker } from "./broker-timing.js";
import { type BenchContext, cpuMeter, describeCpu, monotonicMs } from "./context.js";
import { deleteQueues, queuesOf, serverConfigText } from "./fixtures.js";
import { AgentHosts, type BanTimes } from "./hosts.js";
import { sinkLogger } from "./logger.js";
import { formatNumber, median, summarize } from "./stats.js";

export const E2E_TARGET_P99_MS = 50;
export const AGENTS_PER_HOST = 10;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Publish -> consume of one bare persistent message at a time, raw amqplib, durable queue. */
export async function brokerRoundTrip(brokerUrl: string, queue: string, count: number): Promise<number[]> {
  const publisher = await amqp.connect(brokerUrl);
  const consumer = await amqp.connect(brokerUrl);
  try {
    const pub = await publisher.createConfirmChannel();
    const sub = await consumer.createChannel();
    await sub.assertQueue(queue, { durable: true });
    let arrived: ((at: number) => void) | undefined;
    await sub.consume(queue, (message) => {
      const at = monotonicMs();
      if (message !== null) sub.ack(message);
      arrived?.(at);
    });
    const payload = Buffer.alloc(272, 1);
    const samples: number[] = [];
    for (let i = 0; i < count + 5; i++) {
      const got = new Promise<number>((resolve) => {
        arrived = resolve;
      });
      const started = monotonicMs();
      pub.publish("", queue, payload, { persistent: true });
      const at = await got;
      if (i >= 5) samples.push(at - started);
      await pub.waitForConfirms();
    }
    await sub.deleteQueue(queue);
    return samples;
  } finally {
    await publisher.close().catch(() => {});
    await consumer.close().catch(() => {});
  }
}

/**
 * The broker's own floor for one ban to `queues` agents: ready-made persistent payloads published on a
 * confirm channel to `queues` durable queues (one each, as the server does), each consumed and acked by a
 * raw amqplib consumer; per delivery, the time from the first publish of the round. No net2ban code.
 */
export async function brokerFanoutFloor(
  brokerUrl: string,
  prefix: string,
  queues: number,
  rounds: number,
): Promise<number[]> {
  const names = Array.from({ length: queues }, (_, i) => `${prefix}_fan${i}`);
  const publisher = await amqp.connect(brokerUrl);
  // Consumers spread over connections as the in-process agents are (AGENTS_PER_HOST per host process).
  const consumers = await Promise.all(
    Array.from({ length: Math.ceil(queues / AGENTS_PER_HOST) }, () => amqp.connect(brokerUrl)),
  );
  try {
    const pub = await publisher.createConfirmChannel();
    let expected = 0;
    let roundStart = 0;
    let allArrived: (() => void) | undefined;
    const samples: number[] = [];
    let counting = false;
    for (const [i, name] of names.entries()) {
      const sub = await consumers[Math.floor(i / AGENTS_PER_HOST)]!.createChannel();
      await sub.assertQueue(name, { durable: true });
      await sub.purgeQueue(name);
      await sub.consume(name, (message) => {
        const at = monotonicMs();
        if (message === null) return;
        sub.ack(message);
        if (counting) samples.push(at - roundStart);
        expected -= 1;
        if (expected === 0) allArrived?.();
      });
    }
    const payload = Buffer.alloc(320, 1);
    for (let round = 0; round < rounds + 3; round++) {
      counting = round >= 3;
      expected = queues;
      const done = new Promise<void>((resolve) => {
        allArrived = resolve;
      });
      roundStart = monotonicMs();
      for (const name of names) pub.publish("", name, payload, { persistent: true });
      await Promise.all([pub.waitForConfirms(), done]);
      await sleep(10);
    }
    const cleanup = await publisher.createChannel();
    for (const name of names) await cleanup.deleteQueue(name);
    return samples;
  } finally {
    await publisher.close().catch(() => {});
    await Promise.all(consumers.map((c) => c.close().catch(() => {})));
  }
}

interface StageTimes {
  serverIn: Map<string, number>;
  serverOut: Map<string, number>;
}

interface RunResult {
  latencies: number[];
  /** The same number of shells as agents, started at once from the same hosts, without net2ban. */
  shellFloor: number[];
  /** Publish -> the command reached each agent's handler: the net2ban and broker part, before the action. */
  delivered: number[];
  notes: string[];
}

async function inProcessRun(
  ctx: BenchContext,
  agents: number,
  hostsCount: number,
  bans: number,
  options: { journal: boolean; shellRounds: number; action?: string },
): Promise<RunResult> {
  const actionFile = options.action ?? "net2ban-demo";
  const prefix = `${ctx.prefix}_e${agents}`;
  const root = await mkdtemp(join(tmpdir(), "net2ban-bench-e2e-"));
  const text = serverConfigText({ brokerUrl: ctx.brokerUrl, prefix, clients: agents, rounds: 12000 });
  const config: Net2banConfig = parseConfig(text, "bench-server.cfg").config;
  const stages: StageTimes = { serverIn: new Map(), serverOut: new Map() };
  const serverBroker = timedBroker(
    await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }), recover: false }),
    {
      delivered: (id) => stages.serverIn.set(id ?? "?", monotonicMs()),
      settled: (id) => stages.serverOut.set(id ?? "?", monotonicMs()),
    },
  );
  const publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
  let hosts: AgentHosts | undefined;
  try {
    ctx.progress(`${agents} agents in ${hostsCount} host processes: deriving keys, starting`);
    const server = await Net2banServer.create(config, { broker: serverBroker, logger: sinkLogger() });
    await server.start();
    hosts = await AgentHosts.start(hostsCount, {
      brokerUrl: ctx.brokerUrl,
      configText: text,
      names: config.clients.map((c) => c.name),
      root,
      prefetch: config.broker.prefetch,
      journal: options.journal,
    });
    const input = await createCodec({
      protocol: config.server!.protocol,
      keyId: "server",
      direction: "to-server",
      keys: config.server!,
    });
    const ips: string[] = [];
    const send = async (n: number): Promise<{ t0: number; times: BanTimes; id: string }> => {
      const ip = `10.${agents}.${n >> 8}.${n & 255}`;
      ips.push(ip);
      const ban = createExecBanRequest({ ip, name: "bench", action: actionFile, sender: "bench" });
      const expected = hosts!.expect(ban.id, 60_000);
      const body = input.seal(ban);
      const t0 = monotonicMs();
      await publisher.publish(config.server!.queue, body, { messageId: ban.id });
      return { t0, times: await expected, id: ban.id };
    };
    // Warm-up: the first ban also runs actionstart on every agent, and JIT-compiles the path.
    for (let n = 0; n < 3; n++) await send(n);
    const latencies: number[] = [];
    const inputHop: number[] = [];
    const forward: number[] = [];
    const delivered: number[] = [];
    const action: number[] = [];
    const agentWork: number[] = [];
    const meter = cpuMeter(hosts.pids);
    for (let n = 3; n < bans + 3; n++) {
      const { t0, times, id } = await send(n);
      for (const [agent, done] of times.done) {
        latencies.push(done - t0);
        const at = times.delivered.get(agent);
        if (at !== undefined) {
          delivered.push(at - t0);
          agentWork.push(done - at);
        }
        action.push(times.actionMs.get(agent) ?? Number.NaN);
      }
      inputHop.push((stages.serverIn.get(id) ?? Number.NaN) - t0);
      forward.push((stages.serverOut.get(id) ?? Number.NaN) - (stages.serverIn.get(id) ?? Number.NaN));
      if ((n - 2) % Math.max(1, Math.floor(bans / 5)) === 0) {
        ctx.progress(
          `${agents} agents: ${n - 2}/${bans} bans, last p50 ${formatNumber(median([...times.done.values()].map((d) => d - t0)))} ms`,
        );
      }
      await sleep(10);
    }
    const cpu = meter.stop();
    const shellFloor: number[] = [];
    for (let round = 0; round < options.shellRounds; round++) {
      shellFloor.push(...(await hosts.shells(agents, root)));
      await sleep(10);
    }
    // None lost: every agent's own file holds every ban, once.
    let missing = 0;
    let duplicates = 0;
    // (An empty action leaves no file: every agent's "banned" line was awaited for every ban instead.)
    for (const client of actionFile === NOOP_ACTION ? [] : config.clients) {
      const lines = (await readFile(join(root, client.name, "bans.log"), "utf8")).split("\n").filter(Boolean);
      const seen = new Set(lines);
      duplicates += lines.length - seen.size;
      for (const ip of ips) if (!seen.has(`ban ${ip}`)) missing++;
    }
    if (missing > 0) throw new Error(`${agents} agents: ${missing} bans missing from the agents' files`);
    const m = (values: number[]) => formatNumber(median(values.filter((v) => !Number.isNaN(v))));
    const s = summarize(latencies);
    return {
      latencies,
      shellFloor,
      delivered,
      notes: [
        `end to end, ${agents} in-process agents (${hostsCount} host processes${options.journal ? ", with journals" : ", no journals"}, action ${actionFile}): medians per ban: publish -> server has it ${m(inputHop)} ms; server open + seal ${agents} + confirmed publishAll ${m(forward)} ms; publish -> command at agent ${m(delivered)} ms (p99 ${formatNumber(summarize(delivered).p99)}); command at agent -> action done ${m(agentWork)} ms (p99 ${formatNumber(summarize(agentWork).p99)}), of which the shell command itself ${m(action)} ms; p99 end to end ${formatNumber(s.p99)} ms. CPU while measuring: ${describeCpu(cpu, "bench + agent hosts")}. ${actionFile === NOOP_ACTION ? `every agent reported every ban done (${ips.length * agents}); an empty action writes no file.` : `${ips.length * agents} actions checked in the agents' files: none missing, ${duplicates} duplicates.`}`,
      ],
    };
  } finally {
    await hosts?.stop();
    await serverBroker.close();
    await publisher.close();
    await deleteQueues(ctx.brokerUrl, queuesOf(config));
    await rm(root, { recursive: true, force: true });
  }
}

/** 10 agents as real processes (the Fleet harness): times from each agent's own log line, ms resolution. */
async function fleetRun(ctx: BenchContext, agents: number, bans: number): Promise<number[]> {
  const fleet = await Fleet.create({ agents, brokerUrl: ctx.brokerUrl, label: "bench" });
  let publisher: Broker | undefined;
  try {
    ctx.progress(`${agents} agents as separate processes: starting the fleet`);
    await fleet.startAll();
    const { config } = await loadConfig({ path: fleet.serverConfigPath, env: {} });
    const input: Codec = await createCodec({
      protocol: config.server!.protocol,
      keyId: "server",
      direction: "to-server",
      keys: config.server!,
    });
    publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
    const latencies: number[] = [];
    for (let n = 0; n < bans + 3; n++) {
      const ip = `10.200.${n >> 8}.${n & 255}`;
      const ban = createExecBanRequest({ ip, name: "bench", action: "net2ban-demo", sender: "bench" });
      const body = input.seal(ban);
      const t0 = Date.now();
      await publisher.publish(fleet.inputQueue, body, { messageId: ban.id });
      const lines = await Promise.all(
        fleet.agentNames.map((name) => fleet.waitForLog(name, (l) => l.msg === `IP ${ip} banned`, 60_000)),
      );
      if (n >= 3) for (const line of lines) latencies.push(line.time - t0);
      await sleep(10);
    }
    return latencies;
  } finally {
    await publisher?.close();
    await fleet.close();
  }
}

export async function benchEndToEnd(ctx: BenchContext): Promise<void> {
  ctx.progress("broker round trip of a bare persistent message (the floor)");
  const floor = await brokerRoundTrip(ctx.brokerUrl, `${ctx.prefix}_rtt`, ctx.pick(50, 500));
  const floorSummary = summarize(floor);
  ctx.recorder.latency({
    id: "e2e.floor",
    what: "floor: broker round trip of a bare persistent message (publish -> consume)",
    summary: floorSummary,
    samples: floor,
  });
  for (const agents of [10, 100]) {
    // Ten agents per host process: a host's RSS stays near a real agent's, and a fork() (one per action)
    // costs more the larger the forking process is (measured: ~3 ms of CPU at 60 MiB, ~16 ms at 350 MiB).
    const hostsCount = Math.ceil(agents / AGENTS_PER_HOST);
    const bans = ctx.pick(agents === 100 ? 5 : 10, agents === 100 ? 60 : 150);
    const { latencies, shellFloor, delivered, notes } = await inProcessRun(ctx, agents, hostsCount, bans, {
      journal: true,
      shellRounds: ctx.pick(3, 20),
    });
    const summary = summarize(latencies);
    const shells = summarize(shellFloor);
    ctx.progress(
      `${agents} agents: raw persistent fan-out to ${agents} consumers (the broker's floor at this size)`,
    );
    const fanout = await brokerFanoutFloor(ctx.brokerUrl, `${ctx.prefix}_e${agents}f`, agents, bans);
    const fan = summarize(fanout);
    ctx.recorder.latency({
      id: `e2e.${agents}.fanout`,
      what: `floor: raw persistent fan-out, one payload to each of ${agents} durable queues, publish -> consumed`,
      summary: fan,
      samples: fanout,
    });
    const versusFan = (p99: number) =>
      `${(p99 / fan.p99).toFixed(2)}x the raw persistent fan-out to ${agents} consumers (p99 ${formatNumber(fan.p99)} ms)`;
    ctx.recorder.latency({
      id: `e2e.${agents}`,
      what: `${agents} agents in ${hostsCount} processes (${bans} bans)`,
      summary,
      samples: latencies,
    });
    ctx.recorder.latency({
      id: `e2e.${agents}.shells`,
      what: `floor: ${agents} demo-action shells at once from the same ${hostsCount} processes, no net2ban`,
      summary: shells,
      samples: shellFloor,
    });
    ctx.recorder.figure({
      id: `e2e.${agents}.p99`,
      group: "e2e",
      what: `end to end p99, ${agents} in-process agents, ban published -> action done on every agent`,
      value: summary.p99,
      unit: "ms",
      floor: { what: "broker round trip p99", value: floorSummary.p99, unit: "ms" },
      ratio: {
        value: summary.p99 / floorSummary.p99,
        text: `${(summary.p99 / floorSummary.p99).toFixed(1)}x the broker floor; ${versusFan(summary.p99)}; ${(summary.p99 / shells.p99).toFixed(2)}x ${agents} bare shells (p99 ${formatNumber(shells.p99)} ms)`,
      },
      ...(agents === 100
        ? { target: { text: `p99 <= ${E2E_TARGET_P99_MS} ms`, met: summary.p99 <= E2E_TARGET_P99_MS } }
        : {}),
      note: `p50 ${formatNumber(summary.p50)} ms, p95 ${formatNumber(summary.p95)} ms, max ${formatNumber(summary.max)} ms`,
    });
    const reached = summarize(delivered);
    ctx.recorder.figure({
      id: `e2e.${agents}.delivered.p99`,
      group: "e2e",
      what: `ban published -> command at the handler of every agent (${agents} in-process agents; before the action)`,
      value: reached.p99,
      unit: "ms",
      floor: { what: "broker round trip p99", value: floorSummary.p99, unit: "ms" },
      ratio: {
        value: reached.p99 / floorSummary.p99,
        text: `${(reached.p99 / floorSummary.p99).toFixed(1)}x the broker floor; ${versusFan(reached.p99)}`,
      },
      note: `p50 ${formatNumber(reached.p50)} ms, p95 ${formatNumber(reached.p95)} ms`,
    });
    for (const note of notes) ctx.recorder.note(note);
    if (agents === 100) {
      // The same 100 agents with an empty action: net2ban's own path (server, broker, agent, journal)
      // without the 100 processes that two cores must otherwise fork at once.
      const noop = await inProcessRun(ctx, agents, hostsCount, bans, {
        journal: true,
        shellRounds: 0,
        action: NOOP_ACTION,
      });
      const noopSummary = summarize(noop.latencies);
      ctx.recorder.latency({
        id: `e2e.${agents}.noop`,
        what: `${agents} agents in ${hostsCount} processes, empty action (no process to run)`,
        summary: noopSummary,
        samples: noop.latencies,
      });
      ctx.recorder.figure({
        id: `e2e.${agents}.noop.p99`,
        group: "e2e",
        what: `end to end p99, ${agents} in-process agents, an action with nothing to run (net2ban and the journal alone)`,
        value: noopSummary.p99,
        unit: "ms",
        floor: { what: "broker round trip p99", value: floorSummary.p99, unit: "ms" },
        ratio: {
          value: noopSummary.p99 / floorSummary.p99,
          text: `${(noopSummary.p99 / floorSummary.p99).toFixed(1)}x the broker floor; ${versusFan(noopSummary.p99)}`,
        },
        target: {
          text: `p99 <= ${E2E_TARGET_P99_MS} ms (without the shells)`,
          met: noopSummary.p99 <= E2E_TARGET_P99_MS,
        },
        note: `p50 ${formatNumber(noopSummary.p50)} ms, p95 ${formatNumber(noopSummary.p95)} ms, max ${formatNumber(noopSummary.max)} ms`,
      });
      for (const note of noop.notes) ctx.recorder.note(note);
    }
    if (agents === 10 && !ctx.quick) {
      // The journal's cost: the same run without journals (as net2ban-agent before the journal).
      const without = await inProcessRun(ctx, agents, hostsCount, bans, { journal: false, shellRounds: 0 });
      const off = summarize(without.latencies);
      ctx.recorder.figure({
        id: "journal.e2e10",
        group: "journal",
        what: "agent journal (fdatasync before and after each action): end to end p50 at 10 agents, with journals",
        value: summary.p50,
        unit: "ms",
        floor: { what: "the same without journals", value: off.p50, unit: "ms" },
        ratio: {
          value: summary.p50 - off.p50,
          text: `${summary.p50 >= off.p50 ? "+" : ""}${formatNumber(summary.p50 - off.p50)} ms p50, ${summary.p99 >= off.p99 ? "+" : ""}${formatNumber(summary.p99 - off.p99)} ms p99`,
        },
      });
    }
  }
  const fleetAgents = ctx.pick(5, 10);
  const fleetBans = ctx.pick(5, 60);
  const fleetLatencies = await fleetRun(ctx, fleetAgents, fleetBans);
  const fleetSummary = summarize(fleetLatencies);
  ctx.recorder.latency({
    id: `e2e.fleet${fleetAgents}`,
    what: `${fleetAgents} agents as separate processes (${fleetBans} bans, ms resolution)`,
    summary: fleetSummary,
    samples: fleetLatencies,
  });
  ctx.recorder.figure({
    id: `e2e.fleet${fleetAgents}.p99`,
    group: "e2e",
    what: `end to end p99, ${fleetAgents} agents as separate processes (net2ban-server + net2ban-agent bins)`,
    value: fleetSummary.p99,
    unit: "ms",
    floor: { what: "broker round trip p99", value: floorSummary.p99, unit: "ms" },
    ratio: {
      value: fleetSummary.p99 / floorSummary.p99,
      text: `${(fleetSummary.p99 / floorSummary.p99).toFixed(1)}x the floor`,
    },
    note: `p50 ${formatNumber(fleetSummary.p50)} ms, max ${formatNumber(fleetSummary.max)} ms`,
  });
}
