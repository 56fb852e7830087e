// `pnpm bench [--quick] [--only a,b] [--no-docs]`: runs the suites against the local RabbitMQ, prints
// progress and a summary, writes .bench-out/*.json and (full runs) docs/benchmarks.md and its chart.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import amqp from "amqplib";
import { benchBurst } from "./burst.js";
import { benchCatchUpSuite } from "./catchup.js";
import { renderCdfSvg } from "./chart.js";
import { type BenchContext, brokerPid, createContext, describeMachine, load1 } from "./context.js";
import { benchCtlProcess } from "./ctl-process.js";
import { benchEndToEnd, E2E_TARGET_P99_MS } from "./e2e.js";
import { benchEnvelope } from "./envelope.js";
import { benchFanout } from "./fanout.js";
import { benchJournal } from "./journal.js";
import { benchKeys } from "./keys.js";
import { benchMemory } from "./memory.js";
import { renderFigureTable, renderResultsBlock, spliceResultsBlock } from "./report.js";
import type { BenchRun } from "./results.js";
import { benchSets } from "./sets.js";

export const SUITES: Readonly<Record<string, (ctx: BenchContext) => Promise<void>>> = {
  envelope: benchEnvelope,
  keys: benchKeys,
  ctl: benchCtlProcess,
  fanout: benchFanout,
  e2e: benchEndToEnd,
  journal: benchJournal,
  memory: benchMemory,
  burst: benchBurst,
  catchup: benchCatchUpSuite,
  sets: benchSets,
};

/** Left out of `--quick` unless named in --only: the quick run's minute is spent (catchup: ~10 s quick). */
export const NOT_QUICK: ReadonlySet<string> = new Set(["catchup"]);

const USAGE = `usage: pnpm bench [--quick] [--only ${Object.keys(SUITES).join(",")}] [--no-docs] [--docs]

  --quick    fewer samples and rounds; finishes in about a minute; does not touch docs/;
             leaves out ${[...NOT_QUICK].join(", ")} unless named in --only
  --only     run these suites (comma-separated)
  --no-docs  do not rewrite docs/benchmarks.md (full runs rewrite it by default)
  --docs     rewrite docs/benchmarks.md even after --quick or --only
env: NET2BAN_BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/)`;

function repoRoot(): string {
  return resolve(new URL("../../..", import.meta.url).pathname);
}

async function probe(url: string): Promise<void> {
  try {
    const connection = await amqp.connect(url, { timeout: 3000 });
    await connection.close();
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new Error(
      `RabbitMQ is not answering at ${url.replace(/:[^:@/]*@/, ":***@")} (${reason}); start it with \`rabbitmq-server -detached\` or set NET2BAN_BENCH_AMQP_URL`,
    );
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      only: { type: "string" },
      docs: { type: "boolean" },
      "no-docs": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const only =
    values.only?.split(",").map((s) => s.trim()) ??
    Object.keys(SUITES).filter((name) => !(values.quick && NOT_QUICK.has(name)));
  const unknown = only.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown suite ${unknown.join(", ")}\n${USAGE}\n`);
    return 2;
  }
  const quick = values.quick;
  const writeDocs = values.docs ?? (!quick && values.only === undefined && !values["no-docs"]);
  const brokerUrl = process.env["NET2BAN_BENCH_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5672/";
  await probe(brokerUrl);
  brokerPid(brokerUrl);

  let suite = "setup";
  const ctx = createContext({ quick, brokerUrl }, () => suite);
  const run: BenchRun = {
    command: `pnpm bench${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
    quick,
    startedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    finishedAt: "",
    load: [],
    machine: await describeMachine(brokerUrl),
    figures: ctx.recorder.figures,
    latencies: ctx.recorder.latencies,
    notes: ctx.recorder.notes,
    failures: [],
  };
  ctx.progress(
    `${quick ? "quick" : "full"} run of ${only.join(", ")}; ${run.machine.cores} cores, load ${load1().toFixed(2)}, RabbitMQ ${run.machine.rabbitmq}`,
  );
  for (const name of only) {
    suite = name;
    run.load.push({ suite: name, load1: load1() });
    const started = performance.now();
    try {
      await SUITES[name]!(ctx);
      ctx.progress(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      run.failures.push({ suite: name, error: message });
      ctx.progress(`FAILED: ${(error as Error)?.stack ?? message}`);
    }
  }
  suite = "report";
  run.finishedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");

  const root = repoRoot();
  const outDir = join(root, ".bench-out");
  await mkdir(outDir, { recursive: true });
  const stamp = run.startedAt.replace(/[:]/g, "-");
  const json = `${JSON.stringify(run, null, 2)}\n`;
  await writeFile(join(outDir, `bench-${stamp}${quick ? "-quick" : ""}.json`), json);
  await writeFile(join(outDir, "latest.json"), json);

  const chartSeries = run.latencies.map((row) => ({
    label: row.what,
    samples: row.samples,
    dashed: row.id === "e2e.floor",
  }));
  const chart =
    chartSeries.length > 0
      ? renderCdfSvg({
          title: "net2ban end to end: ban published -> action done on each agent",
          series: chartSeries,
          marker: { atMs: E2E_TARGET_P99_MS, label: `target p99 ${E2E_TARGET_P99_MS} ms (100 agents)` },
        })
      : undefined;
  if (chart !== undefined) await writeFile(join(outDir, "benchmarks-e2e.svg"), chart);
  if (writeDocs) {
    const docPath = join(root, "docs", "benchmarks.md");
    const chartName = "benchmarks-e2e.svg";
    if (chart !== undefined) await writeFile(join(root, "docs", chartName), chart);
    const doc = await readFile(docPath, "utf8").catch(() => "# Benchmarks\n");
    await writeFile(
      docPath,
      spliceResultsBlock(doc, renderResultsBlock(run, chart === undefined ? undefined : chartName)),
    );
    ctx.progress(`wrote ${docPath}`);
  }
  process.stdout.write(`\n${renderFigureTable(run.figures)}\n\n`);
  for (const row of run.latencies) {
    const s = row.summary;
    process.stdout.write(
      `${row.what}: p50 ${s.p50.toFixed(1)} ms, p95 ${s.p95.toFixed(1)}, p99 ${s.p99.toFixed(1)}, max ${s.max.toFixed(1)} (n=${s.count})\n`,
    );
  }
  for (const note of run.notes) process.stdout.write(`- ${note}\n`);
  for (const failure of run.failures) process.stdout.write(`FAILED ${failure.suite}: ${failure.error}\n`);
  process.stdout.write(`\nresults: ${join(outDir, "latest.json")}\n`);
  // Benchmarks are not tests: a missed target never fails the run; a suite that could not run does.
  return run.failures.length > 0 ? 1 : 0;
}
