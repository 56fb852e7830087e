// Private RabbitMQ nodes whose test runner died (SIGKILL, OOM, a killed vitest) outlive it: the exit hook
// of private-node.ts never ran. Each node's directory names the process that started it (owner.json);
// sweepOrphanedNodes stops and removes the nodes, and the directories, whose owner is gone.
//
// A node is only ever touched when all of these hold: its beam's environment names it with one of our
// prefixes (never the shared rabbit@localhost), its pid file lies in one of our node directories named
// after it, and that directory's owner.json names a process that no longer exists. Nodes started by code
// that wrote no owner.json are left alone.

import { readdirSync, readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { runCommand, tail } from "./exec.js";
import { waitFor } from "./wait.js";

/** Names private nodes are given here and by the suites: n2bt<hex>, n2bfault<pid>, n2bc<i><suffix>. */
export const SWEPT_NODE_NAME = /^(?:n2bt|n2bfault|n2bc)[A-Za-z0-9_-]*$/;
/** `$TMPDIR/n2b-node-<name>-XXXXXX`, as startPrivateNode makes it (mkdtemp adds six characters). */
const NODE_DIR = /^n2b-node-([A-Za-z0-9_-]+)-[A-Za-z0-9]{6}$/;
export const OWNER_FILE = "owner.json";

export interface NodeOwner {
  pid: number;
  /** Field 22 of /proc/PID/stat: tells a reused pid from the owner. */
  startTime: string;
}

export interface SweepReport {
  /** Nodes stopped (or killed) and removed, as `name (dir)`. */
  stopped: string[];
  /** Directories of orphaned nodes that were no longer running, removed. */
  removedDirs: string[];
  /** What could not be cleaned up, one line each. */
  failures: string[];
}

/** When a process started (clock ticks since boot), or undefined if it is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after its last ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] === "Z") return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Records this process as the owner of a node directory. */
export async function writeOwner(dir: string): Promise<void> {
  const startTime = processStartTime(process.pid);
  if (startTime === undefined) throw new Error(`cannot read /proc/${process.pid}/stat`);
  const owner: NodeOwner = { pid: process.pid, startTime };
  await writeFile(join(dir, OWNER_FILE), `${JSON.stringify(owner)}\n`);
}

function readOwner(dir: string): NodeOwner | undefined {
  try {
    const value = JSON.parse(readFileSync(join(dir, OWNER_FILE), "utf8")) as Partial<NodeOwner>;
    if (!Number.isInteger(value.pid) || typeof value.startTime !== "string") return undefined;
    return { pid: value.pid as number, startTime: value.startTime };
  } catch {
    return undefined;
  }
}

function ownerIsGone(owner: NodeOwner): boolean {
  return processStartTime(owner.pid) !== owner.startTime;
}

interface NodeProcess {
  pid: number;
  /** The beam's own start time: a pid reused later is not this node. */
  startTime: string;
  name: string;
  dir: string;
  pidFile: string;
}

/** Beam processes of private nodes made by startPrivateNode (by their environment; the shared node has none). */
function privateNodeProcesses(): NodeProcess[] {
  const found: NodeProcess[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("beam")) continue;
      const env = new Map(
        readFileSync(`/proc/${pid}/environ`, "utf8")
          .split("\0")
          .map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)] as const),
      );
      const name = env.get("RABBITMQ_NODENAME");
      const pidFile = env.get("RABBITMQ_PID_FILE");
      if (name === undefined || pidFile === undefined || !SWEPT_NODE_NAME.test(name)) continue;
      const dir = dirname(pidFile);
      if (basename(pidFile) !== "pid" || NODE_DIR.exec(basename(dir))?.[1] !== name) continue;
      const startTime = processStartTime(pid);
      if (startTime === undefined) continue;
      found.push({ pid, startTime, name, dir, pidFile });
    } catch {
      // exited meanwhile, or not readable
    }
  }
  return found;
}

async function stopOrphan(node: NodeProcess): Promise<void> {
  const stopped = await runCommand("rabbitmqctl", ["-n", node.name, "stop", node.pidFile], {
    timeoutMs: 30_000,
  });
  const alive = () => processStartTime(node.pid) === node.startTime;
  if (alive()) {
    try {
      process.kill(node.pid, "SIGKILL");
    } catch {
      // exited meanwhile
    }
  }
  await waitFor(() => !alive(), {
    what: `orphaned node ${node.name} (beam ${node.pid}) to exit${stopped.ok ? "" : ` (rabbitmqctl stop: ${stopped.failure}: ${tail(stopped.stderr || stopped.stdout, 2)})`}`,
    timeoutMs: 15_000,
  });
  await rm(node.dir, { recursive: true, force: true });
}

/**
 * Stops and removes every private node whose owner process is gone (rabbitmqctl stop, SIGKILL if that
 * fails), and removes the directories of such nodes that had already died. Never throws: what it could not
 * clean up is in `failures`. startPrivateNode runs it before starting a node.
 */
export async function sweepOrphanedNodes(): Promise<SweepReport> {
  const report: SweepReport = { stopped: [], removedDirs: [], failures: [] };
  let running: NodeProcess[];
  try {
    running = privateNodeProcesses();
  } catch (error) {
    report.failures.push(`cannot list processes: ${(error as Error).message}`);
    return report;
  }
  const orphans = running.filter((node) => {
    const owner = readOwner(node.dir);
    return owner !== undefined && ownerIsGone(owner);
  });
  await Promise.all(
    orphans.map(async (node) => {
      try {
        await stopOrphan(node);
        report.stopped.push(`${node.name} (${node.dir})`);
      } catch (error) {
        report.failures.push(`orphaned node ${node.name} in ${node.dir}: ${(error as Error).message}`);
      }
    }),
  );
  // Nodes that died with (or before) their owner leave only their directory.
  const runningDirs = new Set(running.map((node) => node.dir));
  let entries: string[] = [];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    // no temp dir to sweep
  }
  for (const entry of entries) {
    if (!NODE_DIR.test(entry)) continue;
    const dir = join(tmpdir(), entry);
    if (runningDirs.has(dir)) continue;
    const owner = readOwner(dir);
    if (owner === undefined || !ownerIsGone(owner)) continue;
    try {
      await rm(dir, { recursive: true, force: true });
      report.removedDirs.push(dir);
    } catch (error) {
      report.failures.push(`directory ${dir}: ${(error as Error).message}`);
    }
  }
  return report;
}
