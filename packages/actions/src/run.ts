// Runs a rendered command the way fail2ban's Utils.executeCmd does: /bin/sh -c script args..., in its
// own process group, killed as a group on timeout; output captured up to a bound.

import { spawn } from "node:child_process";
import { assertObject, assertPositiveNumber } from "./assert.js";
import type { RenderedCommand } from "./render.js";

/** fail2ban's default `timeout` for an action command, in seconds. */
export const DEFAULT_TIMEOUT_SECONDS = 60;
/** Bytes of stdout and of stderr kept; the rest is counted and marked. */
export const OUTPUT_LIMIT_BYTES = 64 * 1024;
// Between SIGTERM and SIGKILL of the group, and how long to wait for pipes held open by escaped children.
const KILL_GRACE_MS = 200;
const PIPE_GRACE_MS = 1000;
// setTimeout fires at once for delays beyond 2^31-1 ms: longer timeouts wait that long (~24.8 days)
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** The environment of the shell (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Bytes kept per stream (default 64 KiB). */
  outputLimitBytes?: number;
  /**
   * Text written to the shell's stdin (a set backend's transaction, read by `nft -f -` or
   * `ipset restore`); without it stdin is /dev/null, as under fail2ban.
   */
  input?: string;
}

export interface RunResult {
  /** The shell's exit code; null when it was killed by a signal or could not start. */
  exitCode: number | null;
  /** The signal that ended the shell (e.g. "SIGKILL" after a timeout), else null. */
  signal: string | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
  /** Ended because `signal` was aborted. */
  aborted: boolean;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly limit: number) {}

  add(chunk: Buffer): void {
    const room = this.limit - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(0, room));
  }

  get truncated(): boolean {
    return this.dropped > 0;
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString("utf8");
    return this.dropped > 0 ? `${text}\n[net2ban: output truncated, ${this.dropped} more bytes]` : text;
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

/**
 * Runs `command` (a rendered command: a script, or a script and its `$0 $1 ...` values) with
 * `spawn("/bin/sh", ["-c", script, ...args])`, never through a concatenated shell line, as fail2ban's
 * Popen(shell=True) does. stdin is /dev/null unless `options.input` is given. On timeout or abort the whole process group gets
 * SIGTERM, then SIGKILL. Never rejects: a shell that cannot start gives exitCode null and the reason in stderr.
 */
export function runCommand(command: Exclude<RenderedCommand, null>, options: RunOptions): Promise<RunResult> {
  const [script, ...args] = typeof command === "string" ? [command] : command;
  if (typeof script !== "string" || !args.every((a) => typeof a === "string")) {
    throw new TypeError(`"command" expected a string or an array of strings`);
  }
  assertObject(options, "options");
  assertPositiveNumber(options.timeoutMs, "options.timeoutMs");
  const limit = options.outputLimitBytes ?? OUTPUT_LIMIT_BYTES;
  assertPositiveNumber(limit, "options.outputLimitBytes");
  const started = performance.now();
  const stdout = new BoundedBuffer(limit);
  const stderr = new BoundedBuffer(limit);

  return new Promise<RunResult>((resolve) => {
    let timedOut = false;
    let aborted = false;
    let settled = false;
    const argv = ["-c", script, ...args];
    const env = options.env ?? process.env;
    const child =
      options.input === undefined
        ? spawn("/bin/sh", argv, { detached: true, stdio: ["ignore", "pipe", "pipe"], env })
        : spawn("/bin/sh", argv, { detached: true, stdio: ["pipe", "pipe", "pipe"], env });
    if (child.stdin !== null) {
      // a program that exits without reading all of it closes the pipe: its exit status tells
      child.stdin.on("error", () => undefined);
      child.stdin.end(options.input);
    }
    const timers: NodeJS.Timeout[] = [];
    const stop = (): void => {
      killGroup(child.pid, "SIGTERM");
      timers.push(setTimeout(() => killGroup(child.pid, "SIGKILL"), KILL_GRACE_MS));
    };
    const finish = (exitCode: number | null, signal: string | null, extraError?: string): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({
        exitCode,
        signal,
        stdout: stdout.text(),
        stderr: extraError === undefined ? stderr.text() : `${stderr.text()}${extraError}`,
        durationMs: performance.now() - started,
        timedOut,
        aborted,
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated,
      });
    };
    const onAbort = (): void => {
      aborted = true;
      stop();
    };
    child.stdout.on("data", (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.add(chunk));
    child.on("error", (error) => finish(null, null, `net2ban: cannot run /bin/sh: ${error.message}`));
    child.on("exit", (code, signal) => {
      clearTimeout(timeout);
      // a background child may keep the pipes open: do not wait for it forever
      timers.push(
        setTimeout(() => {
          child.stdout.destroy();
          child.stderr.destroy();
          finish(code, signal);
        }, PIPE_GRACE_MS),
      );
    });
    child.on("close", (code, signal) => finish(code, signal));
    const timeout = setTimeout(
      () => {
        timedOut = true;
        stop();
      },
      Math.min(options.timeoutMs, MAX_TIMER_MS),
    );
    timers.push(timeout);
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener("abort", onAbort, { once: true });
  });
}
