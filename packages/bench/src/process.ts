// Child processes for the process-level benchmarks: wall time of a whole run, daemons started until
// their "started" line, and their resident memory from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { monotonicMs } from "./context.js";

/** The file a workspace package's `bin` entry names, as an installed package would run it. */
export function binOf(pkg: string, bin: string): string {
  const require = createRequire(import.meta.url);
  const manifest = require.resolve(`${pkg}/package.json`);
  const bins = (require(manifest) as { bin?: Record<string, string> }).bin ?? {};
  const file = bins[bin];
  if (file === undefined) throw new Error(`${pkg} has no bin "${bin}"`);
  return join(dirname(manifest), file);
}

export interface TimedRun {
  wallMs: number;
  /** CPU (user + system) the node process used, ms, in 10 ms ticks; NaN if it could not be read. */
  cpuMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The shell waits for node and then prints its own /proc stat, whose cutime + cstime are the CPU of the
 * children it waited for: node's CPU, which load on a shared machine inflates far less than wall time.
 */
const CPU_WRAPPER = 'node=$1; shift; "$node" "$@"; status=$?; cat /proc/$$/stat >&3; exit $status';

/**
 * Runs `node ...args` to completion. Wall time from spawn to exit, as a shell would see it; with
 * `cpu: true` node runs under a shell that reports its CPU (the wall time then includes that shell).
 */
export function timeNode(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  options: { cpu?: boolean } = {},
): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = monotonicMs();
    const child = options.cpu
      ? spawn("/bin/sh", ["-c", CPU_WRAPPER, "sh", process.execPath, ...args], {
          stdio: ["ignore", "pipe", "pipe", "pipe"],
          env,
        })
      : spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    let stat = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    (child.stdio[3] as NodeJS.ReadableStream | null | undefined)?.on("data", (d: Buffer) => {
      stat += d.toString();
    });
    let wallMs = Number.NaN;
    child.once("error", reject);
    child.once("exit", () => {
      wallMs = monotonicMs() - started;
    });
    child.once("close", (code) => {
      if (stat === "") {
        resolve({ wallMs, cpuMs: Number.NaN, code, stdout, stderr });
        return;
      }
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[13]) + Number(fields[14]);
      resolve({ wallMs, cpuMs: (ticks * 1000) / 100, code, stdout, stderr });
    });
  });
}

export interface Daemon {
  child: ChildProcess;
  lines: string[];
  stop(): Promise<void>;
}

/** Starts `node bin args` and resolves once a stdout line contains `ready` (or rejects on exit/timeout). */
export function startDaemon(
  bin: string,
  args: readonly string[],
  ready: string,
  timeoutMs: number,
): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    const stderr: string[] = [];
    const stop = () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          done();
          return;
        }
        child.once("exit", () => done());
        child.kill("SIGTERM");
      });
    const timer = setTimeout(() => {
      void stop();
      reject(
        new Error(
          `${bin}: no "${ready}" within ${timeoutMs} ms; last: ${lines.slice(-3).join(" | ")} ${stderr.slice(-3).join(" | ")}`,
        ),
      );
    }, timeoutMs);
    createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      lines.push(line);
      if (line.includes(ready)) {
        clearTimeout(timer);
        resolve({ child, lines, stop });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${bin} exited with ${code}: ${stderr.slice(-5).join(" | ")}`));
    });
  });
}

/** VmRSS and VmHWM (peak) of a process in MiB. */
export function residentMemory(pid: number): { rssMiB: number; peakMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}
