// Wall time of a whole `net2banctl exec` process (start, config, key derivation, connect, publish, confirm,
// close) against `node -e ''`, interleaved run by run; plus the bundle's load alone and `--help`.
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import amqp from "amqplib";
import type { BenchContext } from "./context.js";
import { serverConfigText } from "./fixtures.js";
import { binOf, timeNode } from "./process.js";
import { formatNumber, median } from "./stats.js";

export const CTL_TARGET_RATIO = 1.5;

export async function benchCtlProcess(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "net2ban-bench-ctl-"));
  const prefix = `${ctx.prefix}_ctl`;
  const configPath = join(dir, "net2ban.cfg");
  await writeFile(
    configPath,
    serverConfigText({ brokerUrl: ctx.brokerUrl, prefix, clients: 1, rounds: 12000 }),
    { mode: 0o600 },
  );
  const inputQueue = `${prefix}_input`;
  const connection = await amqp.connect(ctx.brokerUrl);
  const channel = await connection.createChannel();
  await channel.assertQueue(inputQueue, { durable: true });
  const bin = binOf("@net2ban/ctl", "net2banctl");
  const loader = join(bin, "..", "load-bundle.cjs");
  const env = { ...process.env, NET2BAN_CONFIG: configPath };
  try {
    const kinds = {
      floor: ["-e", ""],
      // Node, the bin's loader and the bundle's top level (from the code cache), and nothing else.
      load: existsSync(loader) ? ["-e", `require(${JSON.stringify(loader)}).loadBundle();`] : undefined,
      exec: [bin, "exec", "net2ban-demo", "actionban", "ip=203.0.113.9", "name=bench"],
      execNoCache: [bin, "exec", "net2ban-demo", "actionban", "ip=203.0.113.9", "name=bench"],
      help: [bin, "--help"],
      // Before the bundle: the same exec through the unbundled ESM modules and yargs (dist/cli.js).
      unbundled: [
        "--input-type=module",
        "-e",
        `import { runFull } from ${JSON.stringify(pathToFileURL(join(bin, "..", "..", "dist", "cli.js")).href)}; process.exitCode = await runFull(${JSON.stringify(["exec", "net2ban-demo", "actionban", "ip=203.0.113.9", "name=bench"])});`,
      ],
    };
    const times: Record<string, number[]> = {
      floor: [],
      load: [],
      exec: [],
      execNoCache: [],
      help: [],
      unbundled: [],
    };
    const runs = ctx.pick(8, 30);
    for (let i = 0; i < runs + 1; i++) {
      for (const [kind, args] of Object.entries(kinds)) {
        if (args === undefined) continue;
        if ((kind === "help" || kind === "unbundled") && i % 3 !== 0) continue;
        const result = await timeNode(
          args,
          kind === "execNoCache" ? { ...env, NET2BAN_CTL_NO_CODE_CACHE: "1" } : env,
        );
        if (result.code !== 0) {
          throw new Error(
            `node ${args.join(" ")} exited ${result.code}: ${result.stderr.trim().slice(0, 300)}`,
          );
        }
        // The first round warms the page cache; it is not counted.
        if (i > 0) times[kind]!.push(result.wallMs);
      }
      if (i % 5 === 0 && i > 0) {
        ctx.progress(
          `${i}/${runs}: exec ${formatNumber(median(times["exec"]!))} ms, node -e '' ${formatNumber(median(times["floor"]!))} ms (medians)`,
        );
      }
    }
    // CPU of node itself (10 ms ticks, so means, not medians): what load on a shared machine inflates least.
    const cpu: Record<"floor" | "exec", number[]> = { floor: [], exec: [] };
    for (let i = 0; i < runs; i++) {
      for (const kind of ["floor", "exec"] as const) {
        const result = await timeNode(kinds[kind], env, { cpu: true });
        if (result.code === 0 && !Number.isNaN(result.cpuMs)) cpu[kind].push(result.cpuMs);
      }
    }
    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
    const floorCpu = mean(cpu.floor);
    const execCpu = mean(cpu.exec);
    const floor = median(times["floor"]!);
    const exec = median(times["exec"]!);
    const ratio = exec / floor;
    ctx.recorder.figure({
      id: "ctl.exec",
      group: "ctl",
      what: "`net2banctl exec` process, wall time (start, config, derive, connect, publish, confirm, exit)",
      value: exec,
      unit: "ms",
      floor: { what: "node -e ''", value: floor, unit: "ms" },
      ratio: { value: ratio, text: `${ratio.toFixed(2)}x the floor` },
      target: { text: `<= ${CTL_TARGET_RATIO}x`, met: ratio <= CTL_TARGET_RATIO },
      note: `median of ${times["exec"]!.length} runs, interleaved with the floor; CPU time ${formatNumber(execCpu)} ms against ${formatNumber(floorCpu)} ms, ${(execCpu / floorCpu).toFixed(2)}x`,
    });
    const help = median(times["help"]!);
    const load = times["load"]!.length > 0 ? median(times["load"]!) : Number.NaN;
    ctx.recorder.figure({
      id: "ctl.help",
      group: "ctl",
      what: "`net2banctl --help` process (yargs, loaded only for it)",
      value: help,
      unit: "ms",
      floor: { what: "node -e ''", value: floor, unit: "ms" },
      ratio: { value: help / floor, text: `${(help / floor).toFixed(2)}x the floor` },
    });
    const noCache = median(times["execNoCache"]!);
    ctx.recorder.note(
      `net2banctl exec, medians: node -e '' ${formatNumber(floor)} ms; node loading the bundle from its code cache and nothing else ${formatNumber(load)} ms (+${formatNumber(load - floor)}); the whole exec ${formatNumber(exec)} ms (+${formatNumber(exec - load)} for config, PBKDF2 at 12,000 rounds overlapped with the broker connection, publish, confirm, close); the same exec compiling the bundle without the code cache ${formatNumber(noCache)} ms (${(noCache / floor).toFixed(2)}x the floor); before the bundle (unbundled modules and yargs) ${formatNumber(median(times["unbundled"]!))} ms (${(median(times["unbundled"]!) / floor).toFixed(2)}x).`,
    );
  } finally {
    await channel.deleteQueue(inputQueue).catch(() => {});
    await connection.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}
