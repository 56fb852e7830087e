// What every suite gets: quick or full, the broker, a queue prefix, progress output, the recorder, and
// CPU meters that say where the time of a measurement went (this process, the broker, the machine).
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import amqp from "amqplib";
import type { MachineInfo } from "./results.js";
import { RunRecorder } from "./results.js";

export interface BenchContext {
  quick: boolean;
  brokerUrl: string;
  /** Random per run: every queue a suite declares starts with it, and is deleted at the end. */
  prefix: string;
  recorder: RunRecorder;
  /** One progress line on stderr, prefixed with the elapsed time and the suite. */
  progress(message: string): void;
  /** Pick the quick or the full value. */
  pick<T>(quick: T, full: T): T;
}

export function createContext(
  options: { quick: boolean; brokerUrl: string },
  suite: () => string,
): BenchContext {
  const started = performance.now();
  return {
    quick: options.quick,
    brokerUrl: options.brokerUrl,
    prefix: `n2bbench_${randomBytes(4).toString("hex")}`,
    recorder: new RunRecorder(),
    progress(message) {
      const seconds = (performance.now() - started) / 1000;
      const stamp = `${String(Math.floor(seconds / 60)).padStart(2, "0")}:${(seconds % 60).toFixed(0).padStart(2, "0")}`;
      process.stderr.write(`[${stamp}] ${suite()}: ${message}\n`);
    },
    pick: (quick, full) => (options.quick ? quick : full),
  };
}

/** Milliseconds on the system's monotonic clock: the same clock in every process of this machine. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

export function load1(): number {
  return loadavg()[0] ?? 0;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of a process in ms, from /proc; undefined if it is gone or unreadable. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, v) => sum + v, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

let brokerPidCache: number | null | undefined;

/** Inodes of the sockets listening on TCP `port` (IPv4 or IPv6), from /proc/net. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9] !== undefined)
        inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * The pid of the RabbitMQ node that listens on the broker URL's port (several private nodes may run on
 * this machine), found once through /proc; null if it is not visible (another user, or not local).
 */
export function brokerPid(brokerUrl = "amqp://127.0.0.1:5672/"): number | null {
  if (brokerPidCache !== undefined) return brokerPidCache;
  brokerPidCache = null;
  const port = Number(new URL(brokerUrl).port || 5672);
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return null;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        const target = readlinkSync(`/proc/${entry}/fd/${fd}`);
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        if (inode !== undefined && inodes.has(inode)) {
          brokerPidCache = Number(entry);
          return brokerPidCache;
        }
      }
    } catch {
      // Not ours to read, or the process ended while we looked.
    }
  }
  return null;
}

export interface CpuShare {
  wallMs: number;
  /** CPU used by this process (and the given extra pids), ms. */
  benchCpuMs: number;
  /** CPU used by the RabbitMQ node, ms (NaN if it is not visible). */
  brokerCpuMs: number;
  /** Share of all cores that were busy, 0..1, whoever used them. */
  machineBusy: number;
}

/** Starts measuring; `stop()` says how the wall time was spent. */
export function cpuMeter(extraPids: readonly number[] = []): { stop(): CpuShare } {
  const pid = brokerPid();
  const wall0 = performance.now();
  const self0 = process.cpuUsage();
  const extra0 = extraPids.map((p) => processCpuMs(p) ?? 0);
  const broker0 = pid === null ? undefined : processCpuMs(pid);
  const machine0 = machineJiffies();
  return {
    stop() {
      const self = process.cpuUsage(self0);
      const extra = extraPids.reduce((sum, p, i) => sum + ((processCpuMs(p) ?? 0) - (extra0[i] ?? 0)), 0);
      const broker1 = pid === null ? undefined : processCpuMs(pid);
      const machine1 = machineJiffies();
      return {
        wallMs: performance.now() - wall0,
        benchCpuMs: (self.user + self.system) / 1000 + extra,
        brokerCpuMs: broker0 === undefined || broker1 === undefined ? Number.NaN : broker1 - broker0,
        machineBusy: (machine1.busy - machine0.busy) / Math.max(1, machine1.total - machine0.total),
      };
    },
  };
}

/** "node 0.41 cores, broker 1.52 cores, machine 97 % busy" */
export function describeCpu(share: CpuShare, benchLabel = "net2ban"): string {
  const cores = (ms: number) => (Number.isNaN(ms) ? "?" : (ms / share.wallMs).toFixed(2));
  return `${benchLabel} ${cores(share.benchCpuMs)} cores, RabbitMQ ${cores(share.brokerCpuMs)} cores, machine ${Math.round(share.machineBusy * 100)} % busy`;
}

function osName(): string {
  try {
    const text = readFileSync("/etc/os-release", "utf8");
    const pretty = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1];
    return `${pretty ?? "Linux"}, kernel ${release()}`;
  } catch {
    return `kernel ${release()}`;
  }
}

/** The machine and the broker's version (from its connection properties). */
export async function describeMachine(brokerUrl: string): Promise<MachineInfo> {
  const connection = await amqp.connect(brokerUrl);
  let rabbitmq = "?";
  let erlang = "?";
  try {
    const properties = (
      connection as unknown as { connection: { serverProperties?: Record<string, unknown> } }
    ).connection.serverProperties;
    rabbitmq = String(properties?.["version"] ?? "?");
    erlang = String(properties?.["platform"] ?? "?").replace(/^Erlang\/OTP\s*/, "");
  } finally {
    await connection.close();
  }
  const cpuList = cpus();
  return {
    cpuModel: cpuList[0]?.model.trim() ?? "?",
    cores: cpuList.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: osName(),
    node: process.versions.node,
    rabbitmq,
    erlang,
  };
}
