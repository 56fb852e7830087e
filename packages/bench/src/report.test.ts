// The generated block of docs/benchmarks.md: tables from figures, splicing that keeps the hand-written text.
import { describe, expect, it } from "vitest";
import {
  BLOCK_BEGIN,
  BLOCK_END,
  renderFigureTable,
  renderResultsBlock,
  spliceResultsBlock,
} from "./report.js";
import type { BenchRun } from "./results.js";
import { summarize } from "./stats.js";

const run: BenchRun = {
  command: "pnpm bench",
  quick: false,
  startedAt: "2025-01-01T10:00:00Z",
  finishedAt: "2025-01-01T10:05:00Z",
  load: [
    { suite: "envelope", load1: 0.4 },
    { suite: "e2e", load1: 1.25 },
  ],
  machine: {
    cpuModel: "Test CPU",
    cores: 2,
    memoryGiB: 8,
    os: "Linux 6.1",
    node: "20.20.0",
    rabbitmq: "3.10.8",
    erlang: "25.2",
  },
  figures: [
    {
      id: "envelope.v2",
      group: "envelope",
      what: "envelope v2 encode + decode",
      value: 30000,
      unit: "ops/s",
      floor: { what: "raw AES-CBC | HMAC", value: 33000, unit: "ops/s" },
      ratio: { value: 1.1, text: "1.10x the raw cost" },
      target: { text: "<= 1.2x", met: true },
    },
    { id: "memory.agent", group: "memory", what: "idle agent RSS", value: 61.5, unit: "MiB" },
  ],
  latencies: [{ id: "e2e.100", what: "100 agents", summary: summarize([10, 20, 30]), samples: [10, 20, 30] }],
  notes: ["fan-out to 1000 queues: the broker used 1.9 of 2 cores"],
  failures: [{ suite: "burst", error: "timed out" }],
};

describe("renderFigureTable", () => {
  it("one row per figure, pipes escaped, targets marked met / reported", () => {
    const table = renderFigureTable(run.figures).split("\n");
    expect(table).toHaveLength(4);
    expect(table[2]).toContain("30,000 ops/s");
    expect(table[2]).toContain("raw AES-CBC \\| HMAC: 33,000 ops/s");
    expect(table[2]).toContain("<= 1.2x: **met**");
    expect(table[3]).toContain("| - | - | reported |");
  });
});

describe("renderResultsBlock", () => {
  const block = renderResultsBlock(run, "benchmarks-e2e.svg");

  it("is framed by the markers and names the command, machine and load", () => {
    expect(block.startsWith(BLOCK_BEGIN)).toBe(true);
    expect(block.endsWith(BLOCK_END)).toBe(true);
    expect(block).toContain("`pnpm bench`");
    expect(block).toContain("Test CPU, 2 cores");
    expect(block).toContain("0.40 to 1.25");
  });

  it("has the latency table, the chart, the notes and the failures", () => {
    expect(block).toContain("| 100 agents | 3 | 20.0 | 30.0 | 30.0 | 30.0 | 30.0 |");
    expect(block).toContain("(benchmarks-e2e.svg)");
    expect(block).toContain("- fan-out to 1000 queues");
    expect(block).toContain("- burst: timed out");
  });
});

describe("spliceResultsBlock", () => {
  it("replaces only the block, keeping the text around it", () => {
    const doc = `# Benchmarks\n\nMethod.\n\n${BLOCK_BEGIN}\nold\n${BLOCK_END}\n\n## Notes\nkept\n`;
    const next = spliceResultsBlock(doc, `${BLOCK_BEGIN}\nnew\n${BLOCK_END}`);
    expect(next).toBe(`# Benchmarks\n\nMethod.\n\n${BLOCK_BEGIN}\nnew\n${BLOCK_END}\n\n## Notes\nkept\n`);
  });

  it("appends the block to a doc that has none", () => {
    expect(spliceResultsBlock("# B\n", "X")).toBe("# B\n\nX\n");
  });

  it("refuses a doc with one marker", () => {
    expect(() => spliceResultsBlock(`a ${BLOCK_END}`, "X")).toThrow(/markers are damaged/);
  });
});
