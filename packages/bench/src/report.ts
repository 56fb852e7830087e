// Renders a run as Markdown (the generated block of docs/benchmarks.md) and splices it into the doc.
import type { BenchRun, Figure } from "./results.js";
import { formatNumber } from "./stats.js";

export const BLOCK_BEGIN = "<!-- bench:results:begin (written by `pnpm bench`; edit outside this block) -->";
export const BLOCK_END = "<!-- bench:results:end -->";

function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

function measured(figure: Figure): string {
  return `${formatNumber(figure.value)} ${figure.unit}`;
}

function floorText(figure: Figure): string {
  if (figure.floor === undefined) return "-";
  return `${figure.floor.what}: ${formatNumber(figure.floor.value)} ${figure.floor.unit}`;
}

function targetText(figure: Figure): string {
  if (figure.target === undefined) return "reported";
  return `${figure.target.text}: **${figure.target.met ? "met" : "missed"}**`;
}

/** The figures table, one row per figure, in recording order. */
export function renderFigureTable(figures: readonly Figure[]): string {
  const rows = ["| what | measured | floor (same run) | ratio | target |", "| --- | --- | --- | --- | --- |"];
  for (const figure of figures) {
    const what = figure.note === undefined ? figure.what : `${figure.what} (${figure.note})`;
    rows.push(
      `| ${cell(what)} | ${cell(measured(figure))} | ${cell(floorText(figure))} | ${cell(figure.ratio?.text ?? "-")} | ${cell(targetText(figure))} |`,
    );
  }
  return rows.join("\n");
}

function loadRange(run: BenchRun): string {
  if (run.load.length === 0) return "not recorded";
  const values = run.load.map((l) => l.load1);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? lo.toFixed(2) : `${lo.toFixed(2)} to ${hi.toFixed(2)}`;
}

/** The generated block: run, machine, figures, latency table, chart, notes, failures. */
export function renderResultsBlock(run: BenchRun, chartFile: string | undefined): string {
  const m = run.machine;
  const lines = [
    BLOCK_BEGIN,
    "",
    `Latest run: ${run.startedAt} to ${run.finishedAt}, \`${run.command}\`${run.quick ? " (quick: fewer samples)" : ""}.`,
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, ${m.os}; Node ${m.node}; RabbitMQ ${m.rabbitmq} (Erlang ${m.erlang}) on the same host.`,
    `1-minute load average at the start of each suite: ${loadRange(run)} (${run.load.map((l) => `${l.suite} ${l.load1.toFixed(2)}`).join(", ")}).`,
    "",
    renderFigureTable(run.figures),
    "",
  ];
  if (run.latencies.length > 0) {
    lines.push(
      "End-to-end latency (ms): ban published until its action is done on an agent; every agent is a sample.",
      "",
      "| path | samples | p50 | p90 | p95 | p99 | max |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const row of run.latencies) {
      const s = row.summary;
      lines.push(
        `| ${cell(row.what)} | ${s.count} | ${formatNumber(s.p50)} | ${formatNumber(s.p90)} | ${formatNumber(s.p95)} | ${formatNumber(s.p99)} | ${formatNumber(s.max)} |`,
      );
    }
    lines.push("");
  }
  if (chartFile !== undefined) {
    lines.push(`![End-to-end latency, cumulative distribution](${chartFile})`, "");
  }
  if (run.notes.length > 0) {
    lines.push("Measured in the same run:", "", ...run.notes.map((n) => `- ${n}`), "");
  }
  if (run.failures.length > 0) {
    lines.push(
      "Suites that failed in this run:",
      "",
      ...run.failures.map((f) => `- ${f.suite}: ${cell(f.error)}`),
      "",
    );
  }
  lines.push(BLOCK_END);
  return lines.join("\n");
}

/** Replaces the generated block of `doc`, or appends it when the doc has none yet. */
export function spliceResultsBlock(doc: string, block: string): string {
  const begin = doc.indexOf(BLOCK_BEGIN);
  const end = doc.indexOf(BLOCK_END);
  if (begin === -1 && end === -1) return `${doc.trimEnd()}\n\n${block}\n`;
  if (begin === -1 || end === -1 || end < begin) {
    throw new Error("docs/benchmarks.md: the generated block's markers are damaged; restore both or neither");
  }
  return doc.slice(0, begin) + block + doc.slice(end + BLOCK_END.length);
}
