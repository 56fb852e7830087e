// The restore of held bans when the agent starts again (AgentState.start), with the action engine faked at
// its interface as a rule table: actionban adds one rule, actionunban removes one (and fails when there is
// none, as `iptables -D` does), actionstop empties the table. After a clean stop (table empty) every held
// ban is applied again; after a crash (rules still there) each ends up exactly once; bans that ended while
// down are lifted or dropped; one action at a time; the digest, logs, results and metrics say so.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ActionOutcome, ActionRequest, BatchOutcome } from "@net2ban/actions";
import { Allowlist, type PeerConfig } from "@net2ban/config";
import { banKey, digestOf } from "@net2ban/ledger";
import { type Codec, createCodec, type Message } from "@net2ban/protocol";
import type { ApplyMessage, DigestMessage, ResultMessage } from "@net2ban/protocol/fleet";
import { MetricsRegistry } from "@net2ban/runtime";
import { MemoryBroker, memoryLogger, type TempDir, tempDir } from "@net2ban/test-utils";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BanProber } from "./probe.js";
import { banParams } from "./restore.js";
import { BanSchedule } from "./schedule.js";
import { AgentState } from "./state.js";

const peer: PeerConfig = {
  name: "web1",
  key: "web1 key",
  secret: "s",
  rounds: 1,
  authkey: "a",
  validWindowSeconds: 3600,
  protocol: 2,
  queue: "n2b_web1",
  queueType: "classic",
};

/** The host's firewall as the fake engine keeps it: one entry per rule, `<file> <name> <ip>`. */
class RuleTable {
  rules: string[] = [];
  /** Every request the engine got, as `<action> <ip>` (restored tickets marked). */
  calls: string[] = [];
  #running = 0;
  /** Requests that ran while another one was running (the engine's lock was not held). */
  overlaps = 0;
  /** Size of each executeBatch call. */
  batches: number[] = [];
  /** Action files whose actionban fails. */
  readonly failing = new Set<string>();

  count(file: string, ip: string, name = "sshd"): number {
    return this.rules.filter((r) => r === `${file} ${name} ${ip}`).length;
  }

  readonly engine = {
    execute: async (request: ActionRequest): Promise<ActionOutcome> => {
      this.#running += 1;
      if (this.#running > 1) this.overlaps += 1;
      try {
        // A turn of the event loop, so that overlapping requests would be seen.
        await new Promise((r) => setImmediate(r));
        const { file, action, params } = request;
        const rule = `${file} ${params["name"]} ${params["ip"]}`;
        this.calls.push(`${action} ${params["ip"]}${params["restored"] === "1" ? " (restored)" : ""}`);
        let ok = true;
        if (action === "actionban") {
          ok = !this.failing.has(file);
          if (ok) this.rules.push(rule);
        } else if (action === "actionunban") {
          const at = this.rules.indexOf(rule);
          ok = at >= 0;
          if (ok) this.rules.splice(at, 1);
        }
        return {
          ok,
          command: `${action} ${params["ip"]}`,
          exitCode: ok ? 0 : 1,
          stderr: ok ? "" : "no such rule",
          durationMs: 1,
          timedOut: false,
          ran: true,
          steps: [],
        };
      } finally {
        this.#running -= 1;
      }
    },
    /** As the engine's: in order, one outcome each, under one lock (one batch call counted). */
    executeBatch: async (requests: readonly ActionRequest[]): Promise<BatchOutcome[]> => {
      this.batches.push(requests.length);
      const outcomes: BatchOutcome[] = [];
      for (const request of requests) outcomes.push(await this.engine.execute(request));
      return outcomes;
    },
    stopAll: async () => {
      // actionstop of the stock actions: the chain or set goes, with every ban in it.
      this.rules = [];
    },
  };

  /** Runs a rendered actionprobe (`probe <name> <ip> <file>`): exit 0 while the rule is in the table. */
  readonly probeRun = async (command: string | string[]) => {
    const text = typeof command === "string" ? command : command.join(" ");
    const [, name, ip, file] = /probe (\S+) (\S+) (\S+)/.exec(text) ?? [];
    this.calls.push(`actionprobe ${ip}`);
    const found = this.rules.includes(`${file} ${name} ${ip}`);
    return {
      exitCode: found ? 0 : 1,
      signal: null,
      stdout: "",
      stderr: "",
      durationMs: 1,
      timedOut: false,
      aborted: false,
      stdoutTruncated: false,
      stderrTruncated: false,
    };
  };
}

let dir: TempDir;
let table: RuleTable;
/** Every process of a test publishes here. */
let broker: MemoryBroker;
/** Opens what the agent sent (its from-agent codec). */
let fromAgent: Codec;
/** The results and digests sent so far. */
const sent = (): Message[] => broker.published.map((item) => fromAgent.open(item.body).message as Message);
const open: AgentState[] = [];

beforeEach(async () => {
  dir = await tempDir("agent-restore");
  table = new RuleTable();
  broker = new MemoryBroker();
  fromAgent = await createCodec({ protocol: 2, keyId: "web1", direction: "from-agent", keys: peer });
  // Only read by the prober (probe, norestored) here: the fake engine runs the actions.
  await writeFile(join(dir.path, "fw.conf"), "[Definition]\nactionban = x\nactionunban = x\n");
  await writeFile(
    join(dir.path, "fwprobe.conf"),
    "[Definition]\nactionban = x\nactionunban = x\nactionprobe = probe <name> <ip> fwprobe\n",
  );
  await writeFile(
    join(dir.path, "mail.conf"),
    "[Definition]\nnorestored = 1\nactionban = x\nactionunban =\n",
  );
});

afterEach(async () => {
  for (const state of open.splice(0)) await state.stop();
  await dir.remove();
});

const now = () => Date.now() / 1000;

/** An agent's ban state on state_dir `dir/state` (a new process each time), prepared and started. */
async function startAgent(options: { batchSize?: number; serially?: AgentStateSerially } = {}) {
  const logger = memoryLogger();
  const metrics = new MetricsRegistry();
  let turn: Promise<unknown> = Promise.resolve();
  let state: AgentState | undefined;
  const schedule = await BanSchedule.open({
    dir: join(dir.path, "state"),
    logger,
    onDue: (bans) => state?.onDue(bans),
  });
  const serially =
    options.serially ??
    (<T>(task: () => Promise<T>) => {
      const run = turn.then(task);
      turn = run.catch(() => undefined);
      return run;
    });
  state = await AgentState.create({
    peer,
    broker,
    logger,
    engine: table.engine,
    schedule,
    prober: new BanProber({
      actionsDir: dir.path,
      timeoutSeconds: 5,
      run: table.probeRun,
    }),
    resultsQueue: "n2b_results",
    driftIntervalSeconds: 3600,
    allowlist: new Allowlist(),
    serially,
    metrics,
    ...(options.batchSize === undefined ? {} : { batchSize: { others: options.batchSize } }),
  });
  open.push(state);
  await state.prepare();
  state.start();
  return { state, schedule, logger, metrics, serially };
}
type AgentStateSerially = <T>(task: () => Promise<T>) => Promise<T>;

/** Stops a started state as the agent does on SIGTERM: the state, then every action's actionstop. */
async function stopCleanly(state: AgentState): Promise<void> {
  await state.stop();
  open.splice(open.indexOf(state), 1);
  await table.engine.stopAll();
}

/** "Kills" it: the schedule file is left as it is and no actionstop runs (the rules stay). */
async function kill(state: AgentState): Promise<void> {
  await state.stop();
  open.splice(open.indexOf(state), 1);
}

const apply = (ip: string, over: Partial<ApplyMessage> = {}): ApplyMessage => ({
  cmd: "apply",
  op: "ban",
  file: "fw",
  name: "sshd",
  ip,
  params: { port: "22" },
  expiresAt: now() + 3600,
  requestedAt: now(),
  timestamp: now(),
  id: `apply-${Math.random().toString(36).slice(2)}`,
  sender: "server",
  ...over,
});

const digests = () => sent().filter((m): m is DigestMessage => m.cmd === "digest");
const results = () => sent().filter((m): m is ResultMessage => m.cmd === "result");

/** A first process applies `bans` and is stopped by `how`; the engine's calls and the sent messages are reset. */
async function firstRun(how: "clean" | "killed", bans: ApplyMessage[]): Promise<void> {
  const first = await startAgent();
  for (const ban of bans) await first.state.apply(ban);
  expect(table.rules).toHaveLength(bans.length);
  if (how === "clean") await stopCleanly(first.state);
  else await kill(first.state);
  table.calls = [];
  broker.take();
}

describe("restore after a restart", () => {
  it("after a clean stop (actionstop emptied the table), every held ban is applied again, once", async () => {
    await firstRun("clean", [apply("192.0.2.1"), apply("192.0.2.2")]);
    expect(table.rules).toEqual([]);
    const { state, schedule, logger, metrics } = await startAgent();
    await state.restored();
    expect(table.count("fw", "192.0.2.1")).toBe(1);
    expect(table.count("fw", "192.0.2.2")).toBe(1);
    expect(table.rules).toHaveLength(2);
    // No probe: each is undone first (that fails, nothing is there), then applied as a restored ticket:
    // one batch of undos, one of bans.
    expect(table.calls).toEqual([
      "actionunban 192.0.2.1",
      "actionunban 192.0.2.2",
      "actionban 192.0.2.1 (restored)",
      "actionban 192.0.2.2 (restored)",
    ]);
    expect(table.batches).toEqual([2, 2]);
    expect(schedule.size).toBe(2);
    expect(logger.find("info", "restored after restart").map((e) => e.msg)).toEqual([
      "ban fw/sshd 192.0.2.1 restored after restart",
      "ban fw/sshd 192.0.2.2 restored after restart",
    ]);
    expect(logger.find("info", "restore after restart:").map((e) => e.msg)).toEqual([
      "restore after restart: 2 ban(s) applied again, 0 failed, 0 skipped",
    ]);
    // The start digest still says what the ledger has: the server has nothing to send.
    const held = ["192.0.2.1", "192.0.2.2"].map((ip) => banKey({ file: "fw", name: "sshd", ip }));
    expect(digests()[0]).toMatchObject({ reason: "start", ...digestOf(held) });
    const text = await metrics.render();
    expect(text).toContain('net2ban_restored_total{outcome="ok"} 2');
    // The expected failures of the undo are not counted as failed actions.
    expect(text).not.toContain('net2ban_actions_total{action="actionunban",outcome="failed"}');
    expect(text).toContain('net2ban_actions_total{action="actionban",outcome="ok"} 2');
  });

  it("after a crash (no actionstop, the rules are still there), each ban is in effect exactly once", async () => {
    await firstRun("killed", [apply("192.0.2.1"), apply("192.0.2.2")]);
    expect(table.rules).toHaveLength(2);
    const { state } = await startAgent();
    await state.restored();
    expect(table.count("fw", "192.0.2.1")).toBe(1);
    expect(table.count("fw", "192.0.2.2")).toBe(1);
    expect(table.rules).toHaveLength(2);
    // ...so that the one unban at the end leaves nothing behind.
    await state.apply(apply("192.0.2.1", { op: "unban", params: {} }));
    expect(table.count("fw", "192.0.2.1")).toBe(0);
  });

  it("with an actionprobe: a ban found missing is only applied, one found in effect is undone first", async () => {
    await firstRun("killed", [
      apply("192.0.2.1", { file: "fwprobe" }),
      apply("192.0.2.2", { file: "fwprobe" }),
    ]);
    // The host lost one rule while the agent was down (a reboot would lose both).
    table.rules = table.rules.filter((r) => !r.endsWith(" 192.0.2.1"));
    const { state, logger } = await startAgent();
    await state.restored();
    expect(table.calls).toEqual([
      "actionprobe 192.0.2.1",
      "actionprobe 192.0.2.2",
      "actionunban 192.0.2.2",
      "actionban 192.0.2.1 (restored)",
      "actionban 192.0.2.2 (restored)",
    ]);
    expect(table.count("fwprobe", "192.0.2.1")).toBe(1);
    expect(table.count("fwprobe", "192.0.2.2")).toBe(1);
    expect(logger.find("info", "restored after restart").map((e) => e.fields["found"])).toEqual([
      "missing",
      "present",
    ]);
  });

  it("bans that ended while the agent was down: lifted where in effect, dropped where gone, never applied", async () => {
    const short = () => now() + 0.3;
    await firstRun("killed", [
      apply("192.0.2.1", { expiresAt: short() }),
      apply("192.0.2.2", { file: "fwprobe", expiresAt: short() }),
      apply("192.0.2.3", { file: "fwprobe", expiresAt: short() }),
      apply("192.0.2.4", { expiresAt: short() }),
      apply("192.0.2.9"),
    ]);
    // 192.0.2.3's and 192.0.2.4's rules are gone (a reboot); the others are still there (a crash).
    table.rules = table.rules.filter((r) => !r.endsWith(" 192.0.2.3") && !r.endsWith(" 192.0.2.4"));
    await new Promise((r) => setTimeout(r, 400));
    const { state, schedule, logger } = await startAgent();
    await state.restored();
    // Only the ban still running is in effect; nothing that ended was applied.
    expect(table.rules).toEqual(["fw sshd 192.0.2.9"]);
    expect(schedule.held().map((b) => b.ip)).toEqual(["192.0.2.9"]);
    expect(table.calls).toEqual([
      "actionprobe 192.0.2.2",
      // The probe finds it gone: forgotten, no actionunban.
      "actionprobe 192.0.2.3",
      // The others are lifted in one batch. 192.0.2.4 has no probe: its actionunban runs, fails
      // (nothing there), and it is forgotten all the same.
      "actionunban 192.0.2.1",
      "actionunban 192.0.2.2",
      "actionunban 192.0.2.4",
      "actionunban 192.0.2.9",
      "actionban 192.0.2.9 (restored)",
    ]);
    expect(logger.find("info", "ended while the agent was down").map((e) => e.msg)).toEqual([
      "ban fwprobe/sshd 192.0.2.3 ended while the agent was down and is no longer in effect: dropped",
    ]);
    expect(results().map((r) => [r.op, r.ip, r.ok])).toEqual([
      ["expire", "192.0.2.3", true],
      ["expire", "192.0.2.1", true],
      ["expire", "192.0.2.2", true],
      ["expire", "192.0.2.4", false],
    ]);
  });

  it("an action with norestored (mail, reports) is not run again, as fail2ban skips restored tickets", async () => {
    await firstRun("clean", [apply("192.0.2.1", { file: "mail" }), apply("192.0.2.2")]);
    const { state, schedule } = await startAgent();
    await state.restored();
    expect(table.calls).toEqual(["actionunban 192.0.2.2", "actionban 192.0.2.2 (restored)"]);
    expect(schedule.size).toBe(2);
  });

  it("a ban that cannot be applied again is dropped and reported, so that the server sends it again", async () => {
    await firstRun("clean", [apply("192.0.2.1"), apply("192.0.2.2", { file: "fwprobe" })]);
    table.failing.add("fwprobe");
    const { state, schedule, logger, metrics } = await startAgent();
    await state.restored();
    expect(schedule.held().map((b) => b.ip)).toEqual(["192.0.2.1"]);
    expect(logger.find("error", "could not be restored after restart").map((e) => e.msg)).toEqual([
      "ban fwprobe/sshd 192.0.2.2 could not be restored after restart (fwprobe/actionban failed with exit code 1): dropped, the server sends it again",
    ]);
    expect(results()).toEqual([
      expect.objectContaining({ op: "ban", ok: false, ip: "192.0.2.2", file: "fwprobe", exitCode: 1 }),
    ]);
    expect(logger.find("warn", "restore after restart:").map((e) => e.msg)).toEqual([
      "restore after restart: 1 ban(s) applied again, 1 failed, 0 skipped",
    ]);
    expect(await metrics.render()).toContain('net2ban_restored_total{outcome="failed"} 1');
    // The digest no longer counts it: it differs from the ledger, which sends it again.
    expect(state.digest().count).toBe(1);
  });

  it("commands run between the restore's slices, one action at a time; a ban lifted meanwhile stays lifted", async () => {
    const ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"];
    await firstRun(
      "clean",
      ips.map((ip) => apply(ip)),
    );
    let turn: Promise<unknown> = Promise.resolve();
    const pending: Array<Promise<unknown>> = [];
    const serially: AgentStateSerially = (task) => {
      const run = turn.then(async () => {
        const result = await task();
        // The unban of 192.0.2.3 arrives from the server once the restore has put 192.0.2.1 back: it
        // takes its turn after that slice, before the next one.
        const state = open.at(-1);
        if (pending.length === 0 && table.count("fw", "192.0.2.1") === 1 && state !== undefined) {
          pending.push(serially(() => state.apply(apply("192.0.2.3", { op: "unban", params: {} }))));
        }
        return result;
      });
      turn = run.catch(() => undefined);
      return run;
    };
    const started = await startAgent({ batchSize: 1, serially });
    await started.state.restored();
    expect(pending).toHaveLength(1);
    await Promise.all(pending);
    expect(table.overlaps).toBe(0);
    expect(table.rules.sort()).toEqual(["fw sshd 192.0.2.1", "fw sshd 192.0.2.2", "fw sshd 192.0.2.4"]);
    expect(started.schedule.held().map((b) => b.ip)).toEqual(["192.0.2.1", "192.0.2.2", "192.0.2.4"]);
    expect(table.calls.filter((c) => c.includes("192.0.2.3"))).toEqual(["actionunban 192.0.2.3"]);
  });

  it("a stop during the restore ends it after the ban it is at; the next start restores the rest", async () => {
    const ips = ["192.0.2.1", "192.0.2.2", "192.0.2.3"];
    await firstRun(
      "clean",
      ips.map((ip) => apply(ip)),
    );
    let stopping: Promise<void> | undefined;
    let turn: Promise<unknown> = Promise.resolve();
    const serially: AgentStateSerially = (task) => {
      const run = turn.then(async () => {
        const result = await task();
        // SIGTERM once the first ban is back.
        const state = open.at(-1);
        if (stopping === undefined && table.rules.length === 1 && state !== undefined)
          stopping = state.stop();
        return result;
      });
      turn = run.catch(() => undefined);
      return run;
    };
    const second = await startAgent({ batchSize: 1, serially });
    await second.state.restored();
    expect(stopping).toBeDefined();
    await stopping;
    open.splice(open.indexOf(second.state), 1);
    expect(table.rules).toEqual(["fw sshd 192.0.2.1"]);
    expect(second.logger.find("info", "restore after restart:")[0]?.fields).toMatchObject({
      restored: 1,
      stoppedAfter: 1,
    });
    await table.engine.stopAll();
    table.calls = [];
    const third = await startAgent();
    await third.state.restored();
    expect(table.rules.sort()).toEqual(ips.map((ip) => `fw sshd ${ip}`));
  });

  it("stock bans go back in batches of 200 per turn (one engine shell), undos and bans each one call", async () => {
    const ips = Array.from({ length: 450 }, (_, i) => `10.7.${i >> 8}.${i & 255}`);
    await firstRun(
      "clean",
      ips.map((ip) => apply(ip)),
    );
    table.batches = [];
    const { state, schedule } = await startAgent();
    await state.restored();
    expect(table.batches).toEqual([200, 200, 200, 200, 50, 50]);
    expect(table.rules).toHaveLength(450);
    expect(schedule.size).toBe(450);
  });

  it("nothing held: nothing runs and nothing is logged", async () => {
    const { state, logger } = await startAgent();
    await state.restored();
    expect(table.calls).toEqual([]);
    expect(logger.find("info", "restore after restart")).toEqual([]);
  });
});

describe("banParams: the ticket an action gets for a ledger ban", () => {
  const ban = { file: "demo", name: "sshd", ip: "192.0.2.1", params: {} as Record<string, string> };

  it("a ban without its own bantime: time now, bantime what is left (or -1 for ever)", () => {
    expect(banParams({ ...ban, expiresAt: 1_000_600.4 }, 1_000_000.9)).toMatchObject({
      time: "1000000",
      bantime: "601",
    });
    expect(banParams({ ...ban, expiresAt: null }, 1_000_000)).toMatchObject({ bantime: "-1" });
  });

  it("fail2ban's own bantime stays the ban's length, time its start: the same end", () => {
    const params = banParams({ ...ban, params: { bantime: "7200" }, expiresAt: 1_007_200 }, 1_003_000);
    expect(params).toMatchObject({ bantime: "7200", time: "1000000" });
    expect(Number(params["time"]) + Number(params["bantime"])).toBe(1_007_200);
  });
});
