// Running the RabbitMQ command-line tools with a deadline and their output kept for error messages.

import { execFile } from "node:child_process";

export interface CommandResult {
  ok: boolean;
  stdout: string;
  stderr: string;
  /** Why it failed (exit code, signal, missing binary), empty when ok. */
  failure: string;
}

/** Runs a command without a shell; never rejects, so callers can retry or quote the output. */
export function runCommand(
  file: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: options.timeoutMs, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ ok: true, stdout, stderr, failure: "" });
          return;
        }
        const e = error as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null };
        const failure = e.killed
          ? `timed out after ${options.timeoutMs} ms`
          : e.code === "ENOENT"
            ? `${file} not found`
            : `exit ${String(e.code ?? e.signal ?? "?")}`;
        resolve({ ok: false, stdout, stderr, failure });
      },
    );
  });
}

/** The last lines of some output, for an error message. */
export function tail(text: string, lines = 15): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}
