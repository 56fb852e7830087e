// The agent journal's own cost: a begin (flushed with fdatasync before the action may run) and a finish
// (flushed before the ack) per command, on the disk that holds state_dir; sequential, and ten at once.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Journal } from "@net2ban/agent";
import type { BenchContext } from "./context.js";
import { sinkLogger } from "./logger.js";
import { formatNumber, summarize } from "./stats.js";

export async function benchJournal(ctx: BenchContext): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "net2ban-bench-journal-"));
  const logger = sinkLogger({ level: "warn" });
  const journals: Journal[] = [];
  try {
    const count = ctx.pick(100, 500);
    const journal = await Journal.open({ dir: join(dir, "one"), retentionSeconds: 3600, logger });
    journals.push(journal);
    const now = Math.floor(Date.now() / 1000);
    const begins: number[] = [];
    const finishes: number[] = [];
    for (let i = 0; i < count; i++) {
      const key = `bench-journal-${i}-0000`;
      let started = performance.now();
      await journal.begin(key, now);
      begins.push(performance.now() - started);
      started = performance.now();
      await journal.finish(key);
      finishes.push(performance.now() - started);
    }
    const begin = summarize(begins);
    const finish = summarize(finishes);
    ctx.recorder.figure({
      id: "journal.sequential",
      group: "journal",
      what: "agent journal: begin + finish of one command, each flushed (fdatasync), one agent",
      value: begin.p50 + finish.p50,
      unit: "ms",
      note: `begin p50 ${formatNumber(begin.p50)} ms (p99 ${formatNumber(begin.p99)}), finish p50 ${formatNumber(finish.p50)} ms (p99 ${formatNumber(finish.p99)}); ${count} commands`,
    });
    // Ten agents on one host flush at the same moment when a ban reaches them all.
    const ten = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        Journal.open({ dir: join(dir, `agent${i}`), retentionSeconds: 3600, logger }),
      ),
    );
    journals.push(...ten);
    const together: number[] = [];
    for (let round = 0; round < ctx.pick(20, 100); round++) {
      const started = performance.now();
      await Promise.all(ten.map((j, i) => j.begin(`bench-ten-${round}-${i}-0000`, now)));
      together.push(performance.now() - started);
    }
    const tenSummary = summarize(together);
    ctx.recorder.figure({
      id: "journal.ten",
      group: "journal",
      what: "agent journal: ten agents' begin records flushed at once (one host)",
      value: tenSummary.p50,
      unit: "ms",
      note: `p99 ${formatNumber(tenSummary.p99)} ms`,
    });
  } finally {
    await Promise.all(journals.map((j) => j.close()));
    await rm(dir, { recursive: true, force: true });
  }
}
