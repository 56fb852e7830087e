// ActionEngine lifecycle with an injected runner: start once per jail/family, check/repair after a
// failed ban, stopAll, typed refusals before anything runs, cache invalidation.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActionEngine, type ActionLogger } from "./engine.js";
import { ActionNotFoundError, ParamRefusedError } from "./errors.js";
import type { RenderedCommand } from "./render.js";
import type { RunOptions, RunResult } from "./run.js";

const silent: ActionLogger = { info() {}, warn() {}, error() {}, debug() {} };

interface Call {
  script: string;
  args: string[];
  timeoutMs: number;
}

let dir: string;
let calls: Call[];
let failWhen: (script: string, nth: number) => boolean;

function fakeRun(command: Exclude<RenderedCommand, null>, options: RunOptions): Promise<RunResult> {
  const [script, ...args] = typeof command === "string" ? [command] : command;
  calls.push({ script, args, timeoutMs: options.timeoutMs });
  const nth = calls.filter((c) => c.script === script).length;
  const failed = failWhen(script, nth);
  return Promise.resolve({
    exitCode: failed ? 1 : 0,
    signal: null,
    stdout: "",
    stderr: failed ? `failed: ${script}` : "",
    durationMs: 1,
    timedOut: false,
    aborted: false,
    stdoutTruncated: false,
    stderrTruncated: false,
  });
}

function engine(extra: Partial<ConstructorParameters<typeof ActionEngine>[0]> = {}): ActionEngine {
  return new ActionEngine({
    actionsDir: dir,
    logger: silent,
    hostname: { fq: "h.example", short: "h" },
    run: fakeRun,
    now: () => 1700000000,
    ...extra,
  });
}

function write(name: string, text: string): void {
  writeFileSync(join(dir, name), text);
}

const scripts = (): string[] => calls.map((c) => c.script);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "n2b-engine-"));
  calls = [];
  failWhen = () => false;
  write(
    "fam.conf",
    `[Definition]
actionstart = <cmd> -N f2b-<name>
actionstop = echo stop <name>
actioncheck = <cmd> -C f2b-<name>
actionban = <cmd> -I f2b-<name> -s <ip>
actionunban = <cmd> -D f2b-<name> -s <ip>
[Init]
cmd = iptables
[Init?family=inet6]
cmd = ip6tables
`,
  );
  write(
    "plain.conf",
    `[Definition]
actionstart = start <name> <port>
actionstop = stop <name> <port>
actionban = ban <name> <ip>
actionunban = unban <name> <ip>
[Init]
port = ssh
timeout = 1m 30s
`,
  );
  write(
    "repairable.conf",
    `[Definition]
actionstart = start
actionstop = stop
actioncheck = check
actionrepair = repair
actionban = ban <ip>
actionunban = unban <ip>
norestored = true
`,
  );
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("ActionEngine lifecycle", () => {
  it("starts a family-conditional action once per family, at its first ban", async () => {
    const e = engine();
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "192.0.2.1" } });
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "192.0.2.2" } });
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "2001:db8::1" } });
    await e.execute({ file: "fam", action: "actionban", params: { name: "web", ip: "192.0.2.3" } });
    expect(scripts()).toEqual([
      "iptables -N f2b-sshd",
      "iptables -I f2b-sshd -s 192.0.2.1",
      "iptables -I f2b-sshd -s 192.0.2.2",
      "ip6tables -N f2b-sshd",
      "ip6tables -I f2b-sshd -s 2001:db8::1",
      "iptables -N f2b-web",
      "iptables -I f2b-web -s 192.0.2.3",
    ]);
  });

  it("starts a plain action once before its first ban, with the action's timeout", async () => {
    const e = engine({ defaultTimeoutSeconds: 5 });
    const first = await e.execute({
      file: "plain",
      action: "actionban",
      params: { name: "sshd", ip: "192.0.2.1" },
    });
    await e.execute({ file: "plain", action: "actionban", params: { name: "sshd", ip: "192.0.2.2" } });
    expect(scripts()).toEqual(["start sshd ssh", "ban sshd 192.0.2.1", "ban sshd 192.0.2.2"]);
    expect(calls.every((c) => c.timeoutMs === 90_000)).toBe(true);
    expect(first).toMatchObject({
      ok: true,
      ran: true,
      command: "ban sshd 192.0.2.1",
      exitCode: 0,
      timedOut: false,
    });
    expect(first.steps.map((s) => s.operation)).toEqual(["actionstart", "actionban"]);
  });

  it("uses the engine's default timeout when the action sets none", async () => {
    const e = engine({ defaultTimeoutSeconds: 5 });
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "192.0.2.1" } });
    expect(calls.map((c) => c.timeoutMs)).toEqual([5000, 5000]);
  });

  it("runs actioncheck after a failed ban, then bans again", async () => {
    failWhen = (script, nth) => script.startsWith("iptables -I") && nth === 1;
    const outcome = await engine().execute({
      file: "fam",
      action: "actionban",
      params: { name: "sshd", ip: "192.0.2.1" },
    });
    expect(scripts()).toEqual([
      "iptables -N f2b-sshd",
      "iptables -I f2b-sshd -s 192.0.2.1",
      "iptables -C f2b-sshd",
      "iptables -I f2b-sshd -s 192.0.2.1",
    ]);
    expect(outcome.ok).toBe(true);
  });

  it("repairs when the check fails too, checks again and bans again", async () => {
    failWhen = (script, nth) =>
      (script === "ban 192.0.2.1" && nth === 1) || (script === "check" && nth === 1);
    const outcome = await engine().execute({
      file: "repairable",
      action: "actionban",
      params: { ip: "192.0.2.1" },
    });
    expect(scripts()).toEqual(["start", "ban 192.0.2.1", "check", "repair", "check", "ban 192.0.2.1"]);
    expect(outcome.ok).toBe(true);
  });

  it("restarts (stop + start) when there is no actionrepair, and reports a ban that keeps failing", async () => {
    failWhen = (script) => script.startsWith("iptables -I") || script === "iptables -C f2b-sshd";
    const outcome = await engine().execute({
      file: "fam",
      action: "actionban",
      params: { name: "sshd", ip: "192.0.2.1" },
    });
    expect(scripts()).toEqual([
      "iptables -N f2b-sshd",
      "iptables -I f2b-sshd -s 192.0.2.1",
      "iptables -C f2b-sshd",
      "echo stop sshd",
      "iptables -N f2b-sshd",
      "iptables -C f2b-sshd",
    ]);
    // the outcome describes the ban (the check that failed last is in steps)
    expect(outcome).toMatchObject({
      ok: false,
      ran: true,
      exitCode: 1,
      command: "iptables -I f2b-sshd -s 192.0.2.1",
    });
    expect(outcome.steps.at(-1)).toMatchObject({ operation: "actioncheck", ok: false });
  });

  it("retries a failed ban once when the action has no actioncheck", async () => {
    failWhen = (script) => script.startsWith("ban");
    const outcome = await engine().execute({
      file: "plain",
      action: "actionban",
      params: { name: "sshd", ip: "192.0.2.1" },
    });
    expect(scripts()).toEqual(["start sshd ssh", "ban sshd 192.0.2.1", "ban sshd 192.0.2.1"]);
    expect(outcome).toMatchObject({
      ok: false,
      exitCode: 1,
      command: "ban sshd 192.0.2.1",
      stderr: "failed: ban sshd 192.0.2.1",
    });
  });

  it("stopAll stops every started jail and family once (same command: run once)", async () => {
    const e = engine();
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "192.0.2.1" } });
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "2001:db8::1" } });
    await e.execute({
      file: "plain",
      action: "actionban",
      params: { name: "web", port: "443", ip: "192.0.2.1" },
    });
    calls = [];
    await e.stopAll();
    expect(scripts()).toEqual(["echo stop sshd", "stop web 443"]);
    calls = [];
    await e.stopAll();
    expect(scripts()).toEqual([]);
  });

  it("tracks explicit actionstart and actionstop", async () => {
    const e = engine();
    const started = await e.execute({ file: "fam", action: "actionstart", params: { name: "sshd" } });
    expect(started.steps.map((s) => s.command)).toEqual(["iptables -N f2b-sshd", "ip6tables -N f2b-sshd"]);
    await e.execute({ file: "fam", action: "actionban", params: { name: "sshd", ip: "192.0.2.1" } });
    await e.execute({ file: "fam", action: "actionstop", params: { name: "sshd" } });
    expect(scripts()).toEqual([
      "iptables -N f2b-sshd",
      "ip6tables -N f2b-sshd",
      "iptables -I f2b-sshd -s 192.0.2.1",
      "echo stop sshd",
    ]);
    calls = [];
    await e.stopAll();
    expect(scripts()).toEqual([]);
  });

  it("runs an explicit actionstop even when this process started nothing", async () => {
    const outcome = await engine().execute({ file: "plain", action: "actionstop", params: { name: "sshd" } });
    expect(scripts()).toEqual(["stop sshd ssh"]);
    expect(outcome).toMatchObject({ ok: true, ran: true, command: "stop sshd ssh" });
  });

  it("runs an unban even without a ban in this process (bans outlive agent restarts)", async () => {
    await engine().execute({
      file: "plain",
      action: "actionunban",
      params: { name: "sshd", ip: "192.0.2.1" },
    });
    expect(scripts()).toEqual(["unban sshd 192.0.2.1"]);
  });

  it("skips restored tickets of a norestored action", async () => {
    const outcome = await engine().execute({
      file: "repairable",
      action: "actionban",
      params: { ip: "192.0.2.1", restored: "1" },
    });
    expect(outcome).toMatchObject({ ok: true, ran: false, command: null });
    expect(scripts()).toEqual([]);
  });

  it("refuses bad params and unknown actions before running anything", async () => {
    const e = engine();
    await expect(
      e.execute({ file: "plain", action: "actionban", params: { ip: "not-an-ip" } }),
    ).rejects.toThrow(ParamRefusedError);
    await expect(
      e.execute({ file: "plain", action: "actionban", params: { ip: "192.0.2.1", actionban: "rm -rf /" } }),
    ).rejects.toThrow(ParamRefusedError);
    await expect(e.execute({ file: "plain", action: "actionban", params: { name: "sshd" } })).rejects.toThrow(
      /ip/,
    );
    await expect(
      e.execute({ file: "missing", action: "actionban", params: { ip: "192.0.2.1" } }),
    ).rejects.toThrow(ActionNotFoundError);
    await expect(
      e.execute({ file: "../etc/passwd", action: "actionban", params: { ip: "192.0.2.1" } }),
    ).rejects.toThrow(ParamRefusedError);
    await expect(e.execute({ file: "plain", action: "rm", params: {} })).rejects.toThrow(/request.action/);
    expect(calls).toEqual([]);
  });

  it("re-reads an action file that changed, and after reload()", async () => {
    const e = engine();
    await e.execute({ file: "plain", action: "actionunban", params: { name: "a", ip: "192.0.2.1" } });
    write("plain.conf", "[Definition]\nactionunban = unban-v2 <ip> <name>-longer\n");
    await e.execute({ file: "plain", action: "actionunban", params: { name: "a", ip: "192.0.2.1" } });
    write("plain.local", "[Definition]\nactionunban = unban-v3 <ip>\n");
    e.reload();
    await e.execute({ file: "plain", action: "actionunban", params: { name: "a", ip: "192.0.2.1" } });
    expect(scripts()).toEqual([
      "unban sshd 192.0.2.1".replace("sshd", "a"),
      "unban-v2 192.0.2.1 a-longer",
      "unban-v3 192.0.2.1",
    ]);
  });

  it("runs one command at a time", async () => {
    let running = 0;
    let most = 0;
    const e = engine({
      run: async (command, options) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running--;
        return fakeRun(command, options);
      },
    });
    await Promise.all(
      ["192.0.2.1", "192.0.2.2", "192.0.2.3"].map((ip) =>
        e.execute({ file: "plain", action: "actionunban", params: { ip } }),
      ),
    );
    expect(most).toBe(1);
    expect(calls).toHaveLength(3);
  });
});
