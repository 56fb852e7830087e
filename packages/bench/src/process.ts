// Child processes for the process-level benchmarks: wall time of a whole run, daemons started until
// their "started" line, and their resident memory from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { monotonicMs } from "./context.js";

/** bin/<name>.js of a workspace package, as an installed package would lay it out. */
export function binOf(pkg: string, bin: string): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve(`${pkg}/package.json`)), "bin", `${bin}.js`);
}

export interface TimedRun {
  wallMs: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ...args` to completion; wall time from spawn to exit, as a shell would see it. */
export function timeNode(args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const started = monotonicMs();
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ wallMs: monotonicMs() - started, code, stdout, stderr }));
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
