// Burst: 10,000 bans published at once to the server of 10 in-process agents; time until every agent has
// run every action, checked against the agents' own files (none lost, duplicates counted).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@net2ban/config";
import { createCodec, createExecBanRequest } from "@net2ban/protocol";
import { Net2banServer } from "@net2ban/server";
import { connectBroker, type PublishItem } from "@net2ban/transport";
import { timedBroker } from "./broker-timing.js";
import { type BenchContext, cpuMeter, describeCpu, monotonicMs } from "./context.js";
import { deleteQueues, queuesOf, serverConfigText } from "./fixtures.js";
import { AgentHosts } from "./hosts.js";
import { sinkLogger } from "./logger.js";
import { formatNumber } from "./stats.js";

export async function benchBurst(ctx: BenchContext): Promise<void> {
  const agents = 10;
  const bans = ctx.pick(100, 10_000);
  const prefix = `${ctx.prefix}_b`;
  const root = await mkdtemp(join(tmpdir(), "net2ban-bench-burst-"));
  const text = serverConfigText({ brokerUrl: ctx.brokerUrl, prefix, clients: agents, rounds: 12000 });
  const config = parseConfig(text, "bench-server.cfg").config;
  let forwarded = 0;
  let allForwardedAt = Number.NaN;
  const serverBroker = timedBroker(
    await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }), recover: false }),
    {
      settled: () => {
        forwarded++;
        if (forwarded === bans) allForwardedAt = monotonicMs();
      },
    },
  );
  const publisher = await connectBroker({ urls: [ctx.brokerUrl], logger: sinkLogger({ level: "warn" }) });
  let hosts: AgentHosts | undefined;
  try {
    const server = await Net2banServer.create(config, { broker: serverBroker, logger: sinkLogger() });
    await server.start();
    // Two hosts of five agents: each host forks one shell per action, so two of them use both cores.
    hosts = await AgentHosts.start(2, {
      brokerUrl: ctx.brokerUrl,
      configText: text,
      names: config.clients.map((c) => c.name),
      root,
      prefetch: config.broker.prefetch,
      journal: true,
    });
    const input = await createCodec({
      protocol: config.server!.protocol,
      keyId: "server",
      direction: "to-server",
      keys: config.server!,
    });
    // One warm-up ban: actionstart runs once per agent before its first ban.
    const warm = createExecBanRequest({
      ip: "10.250.0.1",
      name: "bench",
      action: "net2ban-demo",
      sender: "bench",
    });
    const warmed = hosts.expect(warm.id, 60_000);
    await publisher.publish(config.server!.queue, input.seal(warm), { messageId: warm.id });
    await warmed;
    hosts.doneCount.clear();
    const ips: string[] = [];
    const items: PublishItem[] = [];
    for (let n = 0; n < bans; n++) {
      const ip = `10.${100 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
      ips.push(ip);
      const ban = createExecBanRequest({ ip, name: "bench", action: "net2ban-demo", sender: "bench" });
      items.push({ queue: config.server!.queue, body: input.seal(ban), messageId: ban.id });
    }
    ctx.progress(`${bans} bans to ${agents} agents: publishing`);
    forwarded = 0;
    const meter = cpuMeter(hosts.pids);
    const t0 = monotonicMs();
    await publisher.publishAll(items);
    const publishedAt = monotonicMs();
    await hosts.waitForDone(bans * agents, ctx.pick(120_000, 1_800_000), (done) =>
      ctx.progress(`${done} of ${bans * agents} actions done`),
    );
    const allDone = monotonicMs();
    const cpu = meter.stop();
    let missing = 0;
    let duplicates = 0;
    for (const client of config.clients) {
      const lines = (await readFile(join(root, client.name, "bans.log"), "utf8")).split("\n").filter(Boolean);
      const seen = new Set(lines);
      duplicates += lines.length - seen.size;
      for (const ip of ips) if (!seen.has(`ban ${ip}`)) missing++;
    }
    const seconds = (allDone - t0) / 1000;
    ctx.recorder.figure({
      id: "burst.10agents",
      group: "burst",
      what: `burst: ${bans.toLocaleString("en-US")} bans at once to ${agents} agents, until every action is done`,
      value: seconds,
      unit: "s",
      target: { text: "reported, none lost", met: missing === 0 },
      note: `${missing} lost, ${duplicates} duplicates; ${formatNumber((bans * agents) / seconds)} actions/s`,
    });
    ctx.recorder.note(
      `burst of ${bans} bans to ${agents} agents: published (confirmed) in ${formatNumber((publishedAt - t0) / 1000)} s, all forwarded by the server after ${formatNumber((allForwardedAt - t0) / 1000)} s, all ${bans * agents} actions done after ${formatNumber(seconds)} s; each agent runs one command at a time (fail2ban's command lock), so the agents' shells set the pace. CPU: ${describeCpu(cpu, "bench + agent hosts")}.`,
    );
    if (missing > 0)
      throw new Error(`burst: ${missing} of ${bans * agents} bans missing from the agents' files`);
  } finally {
    await hosts?.stop();
    await serverBroker.close();
    await publisher.close();
    await deleteQueues(ctx.brokerUrl, queuesOf(config));
    await rm(root, { recursive: true, force: true });
  }
}
