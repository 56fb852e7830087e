// Resident memory of the real daemons: net2ban-server with 1000 clients, and an idle net2ban-agent,
// each started from its bin with a config file and measured from /proc once it has settled.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportClientConfig, parseConfig } from "@net2ban/config";
import { demoActionFile } from "@net2ban/fleet";
import type { BenchContext } from "./context.js";
import { deleteQueues, queuesOf, serverConfigText } from "./fixtures.js";
import { binOf, type Daemon, residentMemory, startDaemon } from "./process.js";
import { formatNumber } from "./stats.js";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function measureDaemon(
  ctx: BenchContext,
  label: string,
  bin: string,
  configPath: string,
  ready: string,
  settleMs: number,
): Promise<{ rssMiB: number; peakMiB: number; startMs: number }> {
  const started = performance.now();
  const daemon: Daemon = await startDaemon(bin, ["--config", configPath], ready, 120_000);
  const startMs = performance.now() - started;
  try {
    ctx.progress(`${label}: started in ${formatNumber(startMs)} ms; settling ${settleMs} ms`);
    await sleep(settleMs);
    return { ...residentMemory(daemon.child.pid!), startMs };
  } finally {
    await daemon.stop();
  }
}

export async function benchMemory(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "net2ban-bench-mem-"));
  const clients = 1000;
  // Rounds change only how long the server takes to start (one derivation per client), not its memory.
  const rounds = ctx.pick(1000, 12000);
  const prefix = `${ctx.prefix}_m`;
  const actionsDir = join(dir, "actions");
  await mkdir(actionsDir);
  await writeFile(join(actionsDir, "net2ban-demo.conf"), demoActionFile(join(dir, "bans.log")));
  // The bins keep their state under the temp dir, never in the machine's /var/lib/net2ban.
  const stateDir = join(dir, "state");
  const text = serverConfigText({ brokerUrl: ctx.brokerUrl, prefix, clients, rounds, actionsDir, stateDir });
  const config = parseConfig(text, "server.cfg").config;
  const serverPath = join(dir, "server.cfg");
  const agentPath = join(dir, "agent.cfg");
  await writeFile(serverPath, text, { mode: 0o600 });
  await writeFile(agentPath, exportClientConfig(config, "client1"), { mode: 0o600 });
  const settleMs = ctx.pick(1000, 5000);
  try {
    const server = await measureDaemon(
      ctx,
      `net2ban-server, ${clients} clients, ${rounds} rounds`,
      binOf("@net2ban/server", "net2ban-server"),
      serverPath,
      "net2ban server started",
      settleMs,
    );
    ctx.recorder.figure({
      id: "memory.server1000",
      group: "memory",
      what: `net2ban-server RSS with ${clients} clients, idle after start`,
      value: server.rssMiB,
      unit: "MiB",
      note: `peak ${formatNumber(server.peakMiB)} MiB; start-up ${formatNumber(server.startMs / 1000)} s at ${rounds} rounds`,
    });
    const agent = await measureDaemon(
      ctx,
      "net2ban-agent, idle",
      binOf("@net2ban/agent", "net2ban-agent"),
      agentPath,
      "net2ban agent client1 started",
      settleMs,
    );
    ctx.recorder.figure({
      id: "memory.agent",
      group: "memory",
      what: "net2ban-agent RSS, idle after start",
      value: agent.rssMiB,
      unit: "MiB",
      note: `peak ${formatNumber(agent.peakMiB)} MiB`,
    });
  } finally {
    await deleteQueues(ctx.brokerUrl, queuesOf(config)).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
