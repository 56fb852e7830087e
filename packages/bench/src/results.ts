// What a benchmark run produces: figures beside their floors, latency rows, the machine; written as JSON
// and rendered into docs/benchmarks.md.
import type { LatencySummary } from "./stats.js";

/** One measured figure; ratios are phrased the way the issue phrases the target. */
export interface Figure {
  /** Stable id, e.g. "fanout.1000", for comparing runs. */
  id: string;
  /** Section of the report: envelope, keys, fanout, e2e, ctl, memory, burst, journal. */
  group: string;
  what: string;
  value: number;
  unit: string;
  floor?: { what: string; value: number; unit: string };
  ratio?: { value: number; text: string };
  target?: { text: string; met: boolean };
  note?: string;
}

/** A latency distribution (end to end, or the broker round trip it is compared with). */
export interface LatencyRow {
  id: string;
  what: string;
  summary: LatencySummary;
  /** Raw samples in ms, kept for the chart. */
  samples: number[];
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  rabbitmq: string;
  erlang: string;
}

export interface BenchRun {
  command: string;
  quick: boolean;
  startedAt: string;
  finishedAt: string;
  /** 1-minute load average when each suite started, as `uptime` prints it. */
  load: { suite: string; load1: number }[];
  machine: MachineInfo;
  figures: Figure[];
  latencies: LatencyRow[];
  /** Where the time goes: measured breakdowns, one line each. */
  notes: string[];
  /** Suites that failed, with their error: the run goes on and says so. */
  failures: { suite: string; error: string }[];
}

/** Collects figures as suites produce them, so a failing suite loses only its own. */
export class RunRecorder {
  readonly figures: Figure[] = [];
  readonly latencies: LatencyRow[] = [];
  readonly notes: string[] = [];

  figure(figure: Figure): Figure {
    if (this.figures.some((f) => f.id === figure.id)) throw new Error(`figure "${figure.id}" recorded twice`);
    this.figures.push(figure);
    return figure;
  }

  latency(row: LatencyRow): LatencyRow {
    this.latencies.push(row);
    return row;
  }

  note(line: string): void {
    this.notes.push(line);
  }
}
