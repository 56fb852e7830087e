// The agent's ban state with a real action engine and an in-memory broker: apply (ban, extend, unban of
// what is not held), sync (missing applied, extras lifted, incomplete sets kept), expiry on its own,
// crash leftovers undone at start, probes dropping bans gone from the host, and the digests it sends.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ActionEngine } from "@net2ban/actions";
import { Allowlist, type PeerConfig } from "@net2ban/config";
import { banKey, digestOf } from "@net2ban/ledger";
import { type Codec, createCodec, type Message } from "@net2ban/protocol";
import type { ApplyMessage, DigestMessage, ResultMessage, SyncMessage } from "@net2ban/protocol/fleet";
import { MemoryBroker, memoryLogger, type TempDir, tempDir, waitFor } from "@net2ban/test-utils";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BanProber } from "./probe.js";
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

let dir: TempDir;
let banlog: string;
let broker: MemoryBroker;
/** Opens what the agent sent (its from-agent codec). */
let fromAgent: Codec;
/** The results and digests sent so far. */
const sent = (): Message[] => broker.published.map((item) => fromAgent.open(item.body).message as Message);
let stateOf:
  | { state: AgentState; schedule: BanSchedule; logger: ReturnType<typeof memoryLogger> }
  | undefined;

beforeEach(async () => {
  dir = await tempDir("agent-state");
  banlog = join(dir.path, "bans.log");
  broker = new MemoryBroker();
  await writeFile(
    join(dir.path, "demo.conf"),
    [
      "[Definition]",
      "actionban = echo ban <ip> <port> >> <banlog>",
      "actionunban = echo unban <ip> <port> >> <banlog>",
      "actionprobe = grep -qx 'ban <ip> <port>' <banlog>",
      "[Init]",
      `banlog = ${banlog}`,
      "port = ssh",
      "",
    ].join("\n"),
  );
  await writeFile(join(dir.path, "broken.conf"), "[Definition]\nactionban = exit 3\nactionunban = true\n");
});

afterEach(async () => {
  await stateOf?.state.stop();
  stateOf = undefined;
  await dir.remove();
});

async function start(options: { allowlist?: Allowlist; driftIntervalSeconds?: number } = {}) {
  fromAgent = await createCodec({ protocol: 2, keyId: "web1", direction: "from-agent", keys: peer });
  const logger = memoryLogger();
  const engine = new ActionEngine({ actionsDir: dir.path, logger });
  let turn: Promise<unknown> = Promise.resolve();
  let state: AgentState | undefined;
  const schedule = await BanSchedule.open({
    dir: join(dir.path, "state"),
    logger,
    onDue: (bans) => state?.onDue(bans),
  });
  state = await AgentState.create({
    peer,
    broker,
    logger,
    engine,
    schedule,
    prober: new BanProber({ actionsDir: dir.path, timeoutSeconds: 5 }),
    resultsQueue: "n2b_results",
    driftIntervalSeconds: options.driftIntervalSeconds ?? 3600,
    allowlist: options.allowlist ?? new Allowlist(),
    serially: (task) => {
      const run = turn.then(task);
      turn = run.catch(() => undefined);
      return run;
    },
  });
  await state.prepare();
  state.start();
  stateOf = { state, schedule, logger };
  return stateOf;
}

const lines = async () =>
  (await readFile(banlog, "utf8").catch(() => "")).split("\n").filter((l) => l !== "");
const results = () => sent().filter((m): m is ResultMessage => m.cmd === "result");
const digests = () => sent().filter((m): m is DigestMessage => m.cmd === "digest");
const now = () => Date.now() / 1000;

const apply = (over: Partial<ApplyMessage> = {}): ApplyMessage => ({
  cmd: "apply",
  op: "ban",
  file: "demo",
  name: "sshd",
  ip: "192.0.2.1",
  params: { port: "22" },
  expiresAt: now() + 3600,
  requestedAt: now(),
  timestamp: now(),
  id: `apply-${Math.random().toString(36).slice(2)}`,
  sender: "server",
  ...over,
});

const sync = (bans: SyncMessage["bans"], over: Partial<SyncMessage> = {}): SyncMessage => ({
  cmd: "sync",
  syncId: "sync-0001",
  seq: 0,
  last: true,
  bans,
  timestamp: now(),
  id: `sync-${Math.random().toString(36).slice(2)}`,
  sender: "server",
  ...over,
});

describe("apply", () => {
  test("a ban runs once; a repeat only moves its end; the unban uses the params it was applied with", async () => {
    const { state, schedule } = await start();
    await state.apply(apply());
    await state.apply(apply({ expiresAt: now() + 7200, params: { port: "80" } }));
    expect(await lines()).toEqual(["ban 192.0.2.1 22"]);
    expect(schedule.held()[0]!.expiresAt).toBeGreaterThan(now() + 7000);
    await state.apply(apply({ op: "unban", params: {} }));
    expect(await lines()).toEqual(["ban 192.0.2.1 22", "unban 192.0.2.1 22"]);
    expect(results().map((r) => [r.op, r.ok])).toEqual([
      ["ban", true],
      ["extend", true],
      ["unban", true],
    ]);
    expect(results()[0]).toMatchObject({ client: "web1", file: "demo", name: "sshd", ip: "192.0.2.1" });
    expect(results()[0]!.latencySeconds).toBeGreaterThanOrEqual(0);
  });

  test("an unban of what is not held here, or a ban already past its end, runs nothing", async () => {
    const { state } = await start();
    await state.apply(apply({ op: "unban" }));
    await state.apply(apply({ expiresAt: now() - 1 }));
    expect(await lines()).toEqual([]);
    expect(results().map((r) => [r.op, r.ok, r.detail])).toEqual([
      ["skip", true, "not applied here"],
      ["skip", true, "ended before it arrived"],
    ]);
  });

  test("a failed ban is reported and not held; a refused one counts as settled in the digest", async () => {
    const { state, schedule } = await start({ allowlist: Allowlist.of("[web1]", ["198.51.100.0/24"]) });
    await state.apply(apply({ file: "broken" }));
    await state.apply(apply({ ip: "198.51.100.7" }));
    expect(schedule.size).toBe(0);
    expect(results().map((r) => [r.op, r.ok, r.exitCode])).toEqual([
      ["ban", false, 3],
      ["ban", false, null],
    ]);
    expect(results()[1]!.detail).toMatch(/198.51.100.0\/24 is in ignoreip/);
    expect(state.digest()).toEqual(digestOf([banKey({ file: "demo", name: "sshd", ip: "198.51.100.7" })]));
  });
});

describe("sync", () => {
  const held = (ip: string, expiresAt: number | null = now() + 3600) => ({
    file: "demo",
    name: "sshd",
    ip,
    params: { port: "22" },
    expiresAt,
  });

  test("applies what is missing, takes the ledger's end, lifts what the set lacks, then reports a digest", async () => {
    const { state, schedule } = await start();
    await state.apply(apply({ ip: "192.0.2.1" }));
    await state.apply(apply({ ip: "192.0.2.2" }));
    broker.take();
    await state.sync(sync([held("192.0.2.1", null), held("192.0.2.3")]));
    expect(await lines()).toEqual([
      "ban 192.0.2.1 22",
      "ban 192.0.2.2 22",
      "ban 192.0.2.3 22",
      "unban 192.0.2.2 22",
    ]);
    expect(schedule.held().map((b) => [b.ip, b.expiresAt === null])).toEqual([
      ["192.0.2.1", true],
      ["192.0.2.3", false],
    ]);
    expect(results().map((r) => [r.op, r.ip, r.detail])).toEqual([
      ["unban", "192.0.2.2", "not in the server's ledger any more"],
    ]);
    expect(digests().at(-1)).toMatchObject({ reason: "sync", count: 2, hash: state.digest().hash });
  });

  test("parts add up; a set with a missing part lifts nothing", async () => {
    const { state } = await start();
    await state.apply(apply({ ip: "192.0.2.9" }));
    await state.sync(sync([held("192.0.2.1")], { syncId: "sync-a", seq: 0, last: false }));
    await state.sync(sync([held("192.0.2.2")], { syncId: "sync-a", seq: 1, last: true }));
    expect(await lines()).toEqual([
      "ban 192.0.2.9 22",
      "ban 192.0.2.1 22",
      "ban 192.0.2.2 22",
      "unban 192.0.2.9 22",
    ]);
    await state.apply(apply({ ip: "192.0.2.9" }));
    await state.sync(sync([held("192.0.2.1")], { syncId: "sync-b", seq: 1, last: true }));
    expect((await lines()).at(-1)).toBe("ban 192.0.2.9 22");
  });
});

describe("on its own", () => {
  test("lifts a ban at its end, without the server", async () => {
    const { state, schedule } = await start();
    await state.apply(apply({ expiresAt: now() + 1.5 }));
    // The action's line is written before the agent reports it: wait for the report, not the line.
    await waitFor(async () => results().some((r) => r.op === "expire"), {
      what: "the unban at the end, reported",
      timeoutMs: 15_000,
    });
    expect(await lines()).toEqual(["ban 192.0.2.1 22", "unban 192.0.2.1 22"]);
    expect(schedule.size).toBe(0);
    expect(results().at(-1)).toMatchObject({ op: "expire", ok: true, ip: "192.0.2.1" });
  });

  test("at start: a ban whose end passed while down is lifted, one cut off by a crash is undone", async () => {
    const first = await start();
    await first.state.apply(apply({ ip: "192.0.2.1", expiresAt: now() + 0.2 }));
    await first.schedule.begin({
      file: "demo",
      name: "sshd",
      ip: "192.0.2.2",
      params: { port: "22" },
      expiresAt: null,
    });
    await first.state.stop();
    stateOf = undefined;
    await new Promise((r) => setTimeout(r, 300));
    const { schedule, logger } = await start();
    expect(await lines()).toEqual(["ban 192.0.2.1 22", "unban 192.0.2.2 22", "unban 192.0.2.1 22"]);
    expect(schedule.size).toBe(0);
    expect(schedule.inDoubt()).toEqual([]);
    expect(logger.find("warn", "was being applied when the agent stopped")).toHaveLength(1);
    expect(digests()[0]).toMatchObject({ reason: "start", count: 0 });
  });

  test("the drift check drops a ban whose rule is gone and says so in its digest", async () => {
    const { state, schedule, logger } = await start({ driftIntervalSeconds: 0.2 });
    await state.apply(apply({ ip: "192.0.2.1" }));
    await state.apply(apply({ ip: "192.0.2.2" }));
    await writeFile(banlog, "ban 192.0.2.2 22\n");
    await waitFor(() => digests().some((d) => d.reason === "interval" && d.missing === 1), {
      what: "a digest that reports the missing ban",
      timeoutMs: 5000,
    });
    expect(schedule.held().map((b) => b.ip)).toEqual(["192.0.2.2"]);
    expect(logger.find("warn", "ban demo/sshd 192.0.2.1 is no longer in effect on this host")).toHaveLength(
      1,
    );
  });
});
