// Runs a command to completion with a deadline and keeps its output, so a failed check can quote it.
import { spawn } from "node:child_process";

export interface ProcessResult {
  /** Exit code, or null when a signal (or the deadline) ended it. */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  input?: string;
}

/** Spawns `file args` without a shell; never rejects for a non-zero exit (only for a missing binary). */
export function runProcess(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 120_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${file}: ${error.message}`, { cause: error }));
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined && child.stdin) {
      // A child that exits without reading its input makes the write fail with EPIPE: not our error.
      child.stdin.on("error", () => {});
      child.stdin.end(options.input);
    }
  });
}

/** The command and the tail of its output, for an assertion message. */
export function describeRun(what: string, result: ProcessResult): string {
  const tail = (text: string) => text.trim().split("\n").slice(-20).join("\n");
  return `${what} exited ${result.code}\n--- stdout\n${tail(result.stdout)}\n--- stderr\n${tail(result.stderr)}`;
}
