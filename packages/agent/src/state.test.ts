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
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

/** The engine's calls: one entry per execute (1) and per executeBatch (its size). */
let engineCalls: Array<{ method: "execute" | "executeBatch"; size: number }> = [];

async function start(
  options: {
    allowlist?: Allowlist;
    driftIntervalSeconds?: number;
    sets?: Pick<ActionEngine, "probeBatch">;
  } = {},
) {
  fromAgent = await createCodec({ protocol: 2, keyId: "web1", direction: "from-agent", keys: peer });
  const logger = memoryLogger();
  const real = new ActionEngine({ actionsDir: dir.path, logger });
  engineCalls = [];
  const engine: Pick<ActionEngine, "execute" | "executeBatch"> = {
    execute: (request) => {
      engineCalls.push({ method: "execute", size: 1 });
      return real.execute(request);
    },
    executeBatch: (requests) => {
      engineCalls.push({ method: "executeBatch", size: requests.length });
      return real.executeBatch(requests);
    },
  };
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
    prober: new BanProber({
      actionsDir: dir.path,
      timeoutSeconds: 5,
      ...(options.sets === undefined ? {} : { sets: options.sets }),
    }),
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
  it("a ban runs once; a repeat only moves its end; the unban uses the params it was applied with", async () => {
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

  it("an unban of what is not held here, or a ban already past its end, runs nothing", async () => {
    const { state } = await start();
    await state.apply(apply({ op: "unban" }));
    await state.apply(apply({ expiresAt: now() - 1 }));
    expect(await lines()).toEqual([]);
    expect(results().map((r) => [r.op, r.ok, r.detail])).toEqual([
      ["skip", true, "not applied here"],
      ["skip", true, "ended before it arrived"],
    ]);
  });

  it("a failed ban is reported and not held; a refused one counts as settled in the digest", async () => {
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

describe("the ban's end in its ticket", () => {
  it("actionban gets time and bantime from the ledger's end (permanent: -1), also in a sync batch", async () => {
    await writeFile(
      join(dir.path, "timed.conf"),
      `[Definition]\nactionban = echo ban <ip> <time> <bantime> >> <banlog>\nactionunban = true\n[Init]\nbanlog = ${banlog}\n`,
    );
    const { state } = await start();
    const t = Math.floor(now());
    await state.apply(apply({ file: "timed", expiresAt: t + 7200 }));
    await state.sync(
      sync([{ file: "timed", name: "sshd", ip: "192.0.2.2", params: {}, expiresAt: null }], { last: false }),
    );
    const [applied, synced] = (await lines()).map((l) => l.split(" "));
    expect(applied?.[1]).toBe("192.0.2.1");
    // Rendered a moment later: what is left of the 2 h, to the second.
    expect(Number(applied?.[2]) + Number(applied?.[3])).toBe(t + 7200);
    expect(synced?.slice(1).map((v, i) => (i === 1 ? "t" : v))).toEqual(["192.0.2.2", "t", "-1"]);
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

  it("applies what is missing, takes the ledger's end, lifts what the set lacks, then reports a digest", async () => {
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

  it("parts add up; a set with a missing part lifts nothing", async () => {
    const { state, logger } = await start();
    await state.apply(apply({ ip: "192.0.2.9" }));
    await state.sync(sync([held("192.0.2.1")], { syncId: "sync-a", seq: 0, last: false }));
    await state.sync(sync([held("192.0.2.2")], { syncId: "sync-a", seq: 1, last: true }));
    expect(await lines()).toEqual([
      "ban 192.0.2.9 22",
      "ban 192.0.2.1 22",
      "ban 192.0.2.2 22",
      "unban 192.0.2.9 22",
    ]);
    // The line counts every part's bans, not the last part's.
    expect(logger.find("info", "sync done").map((e) => e.msg)).toEqual([
      "sync done: 2 ban(s) applied, 1 lifted, 2 held",
    ]);
    await state.apply(apply({ ip: "192.0.2.9" }));
    await state.sync(sync([held("192.0.2.1")], { syncId: "sync-b", seq: 1, last: true }));
    expect((await lines()).at(-1)).toBe("ban 192.0.2.9 22");
  });
});

describe("batches", () => {
  const held = (ip: string, file = "demo", expiresAt: number | null = now() + 3600) => ({
    file,
    name: "sshd",
    ip,
    params: { port: "22" },
    expiresAt,
  });
  const ips = (count: number) => Array.from({ length: count }, (_, i) => `10.9.${i >> 8}.${i & 255}`);

  it("a sync part of N bans is one executeBatch and two flushes of the schedule; each ban has its line", async () => {
    const { state, schedule, logger } = await start();
    const all = ips(300);
    const flushes = schedule.flushes;
    await state.sync(sync(all.map((ip) => held(ip))));
    expect(engineCalls).toEqual([{ method: "executeBatch", size: 300 }]);
    // begin (all new bans) and settle (held or forgotten): not two per ban.
    expect(schedule.flushes - flushes).toBe(2);
    expect((await lines()).sort()).toEqual(all.map((ip) => `ban ${ip} 22`).sort());
    expect(schedule.size).toBe(300);
    expect(logger.find("info", "banned")).toHaveLength(300);
    expect(logger.find("info", "in one batch").map((e) => e.msg)).toEqual([
      "sync sync-0001 part 0: 300 ban(s) applied in one batch",
    ]);
    expect(results()).toEqual([]);
    expect(digests().at(-1)).toMatchObject({ reason: "sync", count: 300, hash: state.digest().hash });
  });

  it("a sync lifts what the ledger lacks in one batch and reports each lift", async () => {
    const { state, schedule } = await start();
    const all = ips(40);
    await state.sync(
      sync(
        all.map((ip) => held(ip)),
        { syncId: "s1" },
      ),
    );
    engineCalls = [];
    broker.take();
    await state.sync(
      sync(
        all.slice(0, 10).map((ip) => held(ip)),
        { syncId: "s2" },
      ),
    );
    // Nothing new to apply; the 30 lifts in one batch.
    expect(engineCalls).toEqual([{ method: "executeBatch", size: 30 }]);
    expect(schedule.size).toBe(10);
    expect(results().map((r) => [r.op, r.ok, r.ip])).toEqual(all.slice(10).map((ip) => ["unban", true, ip]));
  });

  it("a ban that fails inside a batch is reported for that ban only; the others are held", async () => {
    await writeFile(
      join(dir.path, "picky.conf"),
      [
        "[Definition]",
        "actionban = [ '<ip>' != 10.9.0.7 ] && echo ban <ip> <port> >> <banlog>",
        "actionunban = echo unban <ip> <port> >> <banlog>",
        "[Init]",
        `banlog = ${banlog}`,
        "",
      ].join("\n"),
    );
    const { state, schedule, logger } = await start();
    const all = ips(20);
    await state.sync(sync(all.map((ip) => held(ip, "picky"))));
    expect(engineCalls).toEqual([{ method: "executeBatch", size: 20 }]);
    expect(schedule.held().map((b) => b.ip)).toEqual(all.filter((ip) => ip !== "10.9.0.7"));
    expect(results().map((r) => [r.op, r.ok, r.ip, r.exitCode])).toEqual([["sync", false, "10.9.0.7", 1]]);
    expect(logger.find("error", "picky/actionban failed with exit code 1")).toHaveLength(1);
    expect(logger.find("warn", "in one batch").map((e) => e.msg)).toEqual([
      expect.stringMatching(/^sync sync-0001 part 0: 19 ban\(s\) applied in one batch, 1 failed/),
    ]);
    // Not held: not in the digest, so the server sends it again.
    expect(state.digest().count).toBe(19);
  });

  it("bans of one batch that the engine refuses (bad params) fail alone; extensions and duplicates run nothing", async () => {
    const { state, schedule } = await start();
    await state.sync(sync([held("10.9.0.1")], { syncId: "s1" }));
    engineCalls = [];
    broker.take();
    const later = now() + 9000;
    await state.sync(
      sync(
        [
          held("10.9.0.1", "demo", later),
          held("10.9.0.2"),
          held("10.9.0.2", "demo", later),
          { ...held("10.9.0.3"), params: { port: "22; reboot" } },
        ],
        { syncId: "s2" },
      ),
    );
    expect(engineCalls).toEqual([{ method: "executeBatch", size: 2 }]);
    expect(schedule.held().map((b) => [b.ip, b.expiresAt])).toEqual([
      ["10.9.0.1", later],
      ["10.9.0.2", later],
    ]);
    expect(results().map((r) => [r.op, r.ok, r.ip])).toEqual([["sync", false, "10.9.0.3"]]);
    expect((await lines()).filter((l) => l.includes("10.9.0.2"))).toEqual(["ban 10.9.0.2 22"]);
  });

  it("bans reaching their end together are lifted in one batch", async () => {
    const { state, schedule } = await start();
    const end = now() + 1;
    await state.sync(sync(ips(25).map((ip) => held(ip, "demo", end))));
    engineCalls = [];
    await waitFor(() => results().filter((r) => r.op === "expire").length === 25, {
      what: "25 expiries reported",
      timeoutMs: 10_000,
    });
    expect(engineCalls).toEqual([{ method: "executeBatch", size: 25 }]);
    expect(schedule.size).toBe(0);
  });

  it("the drift check probes the bans of a set action all at once, not one process per ban", async () => {
    // A set action as the prober sees it; the engine's probeBatch stands for the whole-set listing.
    await writeFile(
      join(dir.path, "setdemo.conf"),
      [
        "[Definition]",
        "actionset_type = nftables",
        "actionset_target = inet f2b-table addr-set-<name>",
        "actionset_batch = true",
        "actionset_list = true",
        "actionban = echo ban <ip> <port> >> <banlog>",
        "actionunban = echo unban <ip> <port> >> <banlog>",
        "actionprobe = false",
        "[Init]",
        `banlog = ${banlog}`,
        "",
      ].join("\n"),
    );
    const probed: number[] = [];
    const gone = new Set(["10.9.0.3", "10.9.0.4"]);
    const sets: Pick<ActionEngine, "probeBatch"> = {
      probeBatch: async (requests) => {
        probed.push(requests.length);
        return requests.map((r) => (gone.has(r.params["ip"]!) ? { state: "missing" } : { state: "present" }));
      },
    };
    const { state, schedule, logger } = await start({ driftIntervalSeconds: 0.3, sets });
    await state.sync(sync(ips(50).map((ip) => held(ip, "setdemo"))));
    await waitFor(() => digests().some((d) => d.reason === "interval" && d.missing === 2), {
      what: "a digest that reports the 2 missing bans",
      timeoutMs: 5000,
    });
    // One listing call for the 50 bans per drift check; never the per-ban actionprobe (`false`).
    expect(probed[0]).toBe(50);
    expect(schedule.size).toBe(48);
    expect(logger.find("warn", "is no longer in effect on this host")).toHaveLength(2);
  });
});

describe("on its own", () => {
  it("lifts a ban at its end, without the server", async () => {
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

  it("at start: a ban whose end passed while down is lifted, one cut off by a crash is undone", async () => {
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

  it("the drift check drops a ban whose rule is gone and says so in its digest", async () => {
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
