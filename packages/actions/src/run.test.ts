// runCommand: /bin/sh -c with $0.. values, exit codes, captured and bounded output, group kill on timeout.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OUTPUT_LIMIT_BYTES, runCommand } from "./run.js";

const dir = mkdtempSync(join(tmpdir(), "n2b-run-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

async function until(condition: () => boolean, attempts = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe("runCommand", () => {
  it("returns the exit code and both outputs", async () => {
    const result = await runCommand("printf out; printf err >&2; exit 3", { timeoutMs: 10_000 });
    expect(result).toMatchObject({
      exitCode: 3,
      signal: null,
      stdout: "out",
      stderr: "err",
      timedOut: false,
      aborted: false,
    });
  });

  it("passes array values as $0 $1 ... without the shell parsing them", async () => {
    const result = await runCommand(['printf \'%s|%s\' "$0" "$1"', "a b", "c;$(echo d)`e`"], {
      timeoutMs: 10_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("a b|c;$(echo d)`e`");
  });

  it("runs a fail2ban-style f2bV_ command", async () => {
    const result = await runCommand(['f2bV_matches=$0 \necho "$f2bV_matches"', "x; y"], {
      timeoutMs: 10_000,
    });
    expect(result.stdout).toBe("x; y\n");
  });

  it("kills the whole process group on timeout", async () => {
    const pidFile = join(dir, "pid");
    const result = await runCommand(`sleep 30 & echo $! > ${pidFile}; wait`, { timeoutMs: 300 });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(["SIGTERM", "SIGKILL"]).toContain(result.signal);
    const pid = Number(readFileSync(pidFile, "utf8"));
    expect(pid).toBeGreaterThan(0);
    expect(await until(() => !alive(pid))).toBe(true);
  });

  it("kills a command that ignores SIGTERM", async () => {
    const result = await runCommand("trap '' TERM; while :; do sleep 1; done", { timeoutMs: 200 });
    expect(result.timedOut).toBe(true);
    expect(result.signal).toBe("SIGKILL");
  });

  it("bounds huge output and marks the truncation", async () => {
    const result = await runCommand(
      "head -c 1000000 /dev/zero | tr '\\0' a; head -c 300000 /dev/zero | tr '\\0' b >&2",
      {
        timeoutMs: 10_000,
      },
    );
    expect(result.exitCode).toBe(0);
    expect(result.stdoutTruncated).toBe(true);
    expect(result.stderrTruncated).toBe(true);
    expect(result.stdout.startsWith("a".repeat(OUTPUT_LIMIT_BYTES))).toBe(true);
    expect(result.stdout).toContain(`output truncated, ${1_000_000 - OUTPUT_LIMIT_BYTES} more bytes`);
    expect(result.stderr).toContain(`output truncated, ${300_000 - OUTPUT_LIMIT_BYTES} more bytes`);
  });

  it("does not truncate output within the bound", async () => {
    const result = await runCommand("head -c 1000 /dev/zero | tr '\\0' a", {
      timeoutMs: 10_000,
      outputLimitBytes: 1000,
    });
    expect(result.stdoutTruncated).toBe(false);
    expect(result.stdout).toBe("a".repeat(1000));
  });

  it("stops on abort", async () => {
    const controller = new AbortController();
    const running = runCommand("sleep 30", { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const result = await running;
    expect(result.aborted).toBe(true);
    expect(result.timedOut).toBe(false);
    expect(result.exitCode).toBeNull();
  });

  it("does not wait for a background child that keeps the pipes open", async () => {
    const pidFile = join(dir, "bg");
    const result = await runCommand(`(trap '' HUP; exec setsid sleep 30) & echo $! > ${pidFile}; echo done`, {
      timeoutMs: 20_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe("done\n");
    process.kill(Number(readFileSync(pidFile, "utf8")), "SIGKILL");
  });

  it("checks its arguments", () => {
    expect(() => runCommand("true", { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => runCommand(["true", 1 as unknown as string], { timeoutMs: 10 })).toThrow(TypeError);
  });
});
