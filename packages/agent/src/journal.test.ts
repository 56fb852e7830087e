// The journal alone (records, crashes, expiry, bounds, compaction), and the agent with it across a
// simulated crash between the start and the end of an action.
import { randomBytes } from "node:crypto";
import { appendFile, copyFile, mkdir, mkdtemp, open, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ActionEngine, runCommand } from "@net2ban/actions";
import { clientConfig, type PeerConfig, parseConfig } from "@net2ban/config";
import {
  createCodec,
  createExecBanRequest,
  createExecUnbanRequest,
  type Net2banMessage,
} from "@net2ban/protocol";
import type { Logger } from "@net2ban/runtime";
import type { Broker, Delivery } from "@net2ban/transport";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { Net2banAgent } from "./agent.js";
import {
  formatRecord,
  Journal,
  JournalClosedError,
  type JournalOptions,
  JournalWriteError,
  parseRecord,
} from "./journal.js";
import { BanSchedule } from "./schedule.js";

interface Entry {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A pino-shaped logger that keeps what an operator would have read. */
function memoryLogger() {
  const entries: Entry[] = [];
  const at =
    (level: string) =>
    (fields: object, msg = "") =>
      entries.push({ level, msg, fields: { ...fields } as Record<string, unknown> });
  const logger = {
    entries,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: () => logger,
    find: (level: string, text = "") => entries.filter((e) => e.level === level && e.msg.includes(text)),
  };
  return logger;
}

const dirs: string[] = [];
const journals: Journal[] = [];

afterEach(async () => {
  await Promise.all(journals.splice(0).map((j) => j.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function scratch(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `n2b-${label}-`));
  dirs.push(dir);
  return dir;
}

/** A clock the test moves; starts at 2024-01-01 (ms). */
function clock(start = 1_704_067_200_000) {
  let ms = start;
  return { now: () => ms, advance: (seconds: number) => (ms += seconds * 1000), seconds: () => ms / 1000 };
}

async function openJournal(dir: string, options: Partial<JournalOptions> = {}) {
  const logger = memoryLogger();
  const journal = await Journal.open({ dir, retentionSeconds: 3600, logger, ...options });
  journals.push(journal);
  return { journal, logger };
}

const journalFile = (dir: string) => join(dir, "journal");

/**
 * The state a kill leaves once every record awaited so far is on disk: close() writes nothing more,
 * it only lets a compaction under way finish, so that the next "process" does not race with it.
 */
const crash = (journal: Journal) => journal.close();

describe("records", () => {
  it("a record reads back; any change to it, or a cut, makes it unreadable", () => {
    const line = formatRecord("S", "3f2c1a9e-0d4b-4c2a-9f1e-5b6a7c8d9e0f", 1704067200.125);
    expect(line.endsWith("\n")).toBe(true);
    const text = line.slice(0, -1);
    expect(parseRecord(text)).toEqual({
      kind: "S",
      key: "3f2c1a9e-0d4b-4c2a-9f1e-5b6a7c8d9e0f",
      timestamp: 1704067200.125,
    });
    for (let cut = 0; cut < text.length; cut++) expect(parseRecord(text.slice(0, cut))).toBeUndefined();
    for (let i = 0; i < text.length; i++) {
      const flipped = text.slice(0, i) + (text[i] === "a" ? "b" : "a") + text.slice(i + 1);
      expect(parseRecord(flipped)).toBeUndefined();
    }
  });

  it("an id cut short by a torn write is not taken for a shorter id", () => {
    const full = formatRecord("D", "abcdef0123456789", 1704067200).slice(0, -1);
    // "D abcdef01234" + " 1704067200 <crc>" could only pass with a CRC computed for the short id.
    const short = `D abcdef01234 1704067200 ${full.slice(-8)}`;
    expect(parseRecord(short)).toBeUndefined();
  });
});

describe("Journal", () => {
  it("started and done survive a reopen; a start without its end comes back in doubt", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const { journal } = await openJournal(dir, { now: t.now });
    await journal.begin("message-0001", t.seconds());
    await journal.finish("message-0001");
    await journal.begin("message-0002", t.seconds());
    expect(journal.lookup("message-0002")).toEqual({
      state: "started",
      timestamp: t.seconds(),
      inDoubt: false,
    });
    // Crash: the process is gone without finishing message-0002.
    await crash(journal);
    const reopened = await openJournal(dir, { now: t.now });
    expect(reopened.journal.lookup("message-0001")).toMatchObject({ state: "done", inDoubt: false });
    expect(reopened.journal.lookup("message-0002")).toMatchObject({ state: "started", inDoubt: true });
    expect(reopened.journal.inDoubt()).toEqual(["message-0002"]);
    expect(reopened.logger.find("warn", "were being carried out when the agent stopped")).toHaveLength(1);
    expect(reopened.journal.lookup("message-0003")).toBeUndefined();
  });

  it("resolving an in-doubt id clears the doubt; an abandoned id is forgotten", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const first = await openJournal(dir, { now: t.now });
    await first.journal.begin("message-0001", t.seconds());
    await first.journal.begin("message-0002", t.seconds());
    await first.journal.abandon("message-0002");
    await crash(first.journal);
    const second = await openJournal(dir, { now: t.now });
    expect(second.journal.lookup("message-0002")).toBeUndefined();
    await second.journal.begin("message-0001", t.seconds());
    expect(second.journal.inDoubt()).toEqual([]);
    await second.journal.finish("message-0001");
    await crash(second.journal);
    const third = await openJournal(dir, { now: t.now });
    expect(third.journal.lookup("message-0001")).toMatchObject({ state: "done", inDoubt: false });
    expect(third.logger.find("warn")).toHaveLength(0);
  });

  it("a torn last line and garbled lines are skipped, logged, and cleaned away", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const first = await openJournal(dir, { now: t.now });
    await first.journal.begin("message-0001", t.seconds());
    await first.journal.finish("message-0001");
    await crash(first.journal);
    const torn = formatRecord("D", "message-0002", t.seconds()).slice(0, 17);
    await appendFile(journalFile(dir), `garbage line\n${torn}`);
    const second = await openJournal(dir, { now: t.now });
    expect(second.journal.lookup("message-0001")).toMatchObject({ state: "done" });
    expect(second.journal.lookup("message-0002")).toBeUndefined();
    const [warning] = second.logger.find("warn", "not fully written");
    expect(warning?.fields).toMatchObject({ tornLastLine: true, garbledLines: 1 });
    // Rewritten at open: the next record starts on a line of its own and the file reads clean.
    await second.journal.begin("message-0003", t.seconds());
    await crash(second.journal);
    const text = await readFile(journalFile(dir), "utf8");
    expect(text.split("\n").filter((l) => l !== "" && parseRecord(l) === undefined)).toEqual([]);
    const third = await openJournal(dir, { now: t.now });
    expect(third.journal.lookup("message-0003")).toMatchObject({ state: "started", inDoubt: true });
    expect(third.logger.find("warn", "not fully written")).toHaveLength(0);
  });

  it("ids expire with the window; one still in doubt when it expires is reported as an error", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const first = await openJournal(dir, { now: t.now, retentionSeconds: 60 });
    await first.journal.begin("message-old1", t.seconds());
    await first.journal.finish("message-old1");
    await first.journal.begin("message-old2", t.seconds());
    t.advance(30);
    await first.journal.begin("message-new1", t.seconds());
    await first.journal.finish("message-new1");
    t.advance(31);
    // message-old1/old2 are now 61 s old: the freshness check would refuse them, so they are forgotten.
    expect(first.journal.lookup("message-old1")).toBeUndefined();
    expect(first.journal.lookup("message-new1")).toMatchObject({ state: "done" });
    await crash(first.journal);
    const second = await openJournal(dir, { now: t.now, retentionSeconds: 60 });
    expect(second.journal.size).toBe(1);
    const [error] = second.logger.find("error", "was in doubt after a crash");
    expect(error?.fields).toMatchObject({ id: "message-old2" });
  });

  it("when full, the oldest id is forgotten and the floor rises, also after a reopen", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const { journal, logger } = await openJournal(dir, { now: t.now, maxEntries: 3 });
    for (let i = 1; i <= 5; i++) {
      await journal.begin(`message-000${i}`, t.seconds() + i);
      await journal.finish(`message-000${i}`);
    }
    expect(journal.size).toBe(3);
    expect(journal.lookup("message-0001")).toBeUndefined();
    expect(journal.lookup("message-0003")).toMatchObject({ state: "done" });
    expect(journal.floor).toBe(t.seconds() + 2);
    // Two evictions within a minute: one warning, not one per message.
    expect(logger.find("warn", "journal full")).toHaveLength(1);
    await crash(journal);
    const reopened = await openJournal(dir, { now: t.now, maxEntries: 3 });
    expect(reopened.journal.floor).toBe(t.seconds() + 2);
    expect(reopened.journal.size).toBe(3);
  });

  it("the file is rewritten when dead records pile up, and stays bounded", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const { journal } = await openJournal(dir, {
      now: t.now,
      retentionSeconds: 10,
      compactAfterDeadRecords: 20,
    });
    let largest = 0;
    for (let i = 0; i < 300; i++) {
      const key = `message-${String(i).padStart(4, "0")}`;
      await journal.begin(key, t.seconds());
      await journal.finish(key);
      t.advance(1);
      largest = Math.max(largest, (await stat(journalFile(dir))).size);
    }
    // About 11 live ids at any time; without compaction the file would hold 600 records.
    const lines = (await readFile(journalFile(dir), "utf8")).split("\n").filter((l) => l !== "");
    expect(lines.length).toBeLessThan(60);
    expect(largest).toBeLessThan(60 * formatRecord("D", "message-0000", t.seconds()).length);
    await crash(journal);
    const reopened = await openJournal(dir, { now: t.now, retentionSeconds: 10 });
    expect(reopened.journal.lookup("message-0299")).toMatchObject({ state: "done" });
    expect(reopened.journal.lookup("message-0280")).toBeUndefined();
    const live = Array.from({ length: 300 }, (_, i) => `message-${String(i).padStart(4, "0")}`).filter(
      (key) => journal.lookup(key) !== undefined,
    );
    expect(live.length).toBeGreaterThan(5);
    expect(reopened.journal.size).toBe(live.length);
  });

  it("records written together share one flush (group commit)", async () => {
    const dir = await scratch("journal");
    const t = clock();
    const { journal } = await openJournal(dir, { now: t.now });
    const before = journal.flushes;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        journal.begin(`message-${String(i).padStart(4, "0")}`, t.seconds()),
      ),
    );
    expect(journal.flushes - before).toBe(1);
    expect(journal.size).toBe(50);
  });

  it("a failed write rejects the records it carried and leaves no partial line behind", async () => {
    const dir = await scratch("journal");
    const t = clock();
    let failNextWrite = false;
    // A disk that takes half of a write and then fails (ENOSPC), as a full one does.
    const openFile = async (path: string, flags: number, mode?: number) => {
      const handle = await open(path, flags, mode);
      const write = handle.write.bind(handle) as (
        b: Buffer,
        o: number,
        l: number,
      ) => Promise<{ bytesWritten: number }>;
      return new Proxy(handle, {
        get(target, name) {
          if (name === "write") {
            return async (buffer: Buffer, offset: number, length: number) => {
              if (!failNextWrite) return write(buffer, offset, length);
              failNextWrite = false;
              await write(buffer, offset, Math.floor(length / 2));
              throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
            };
          }
          const value = Reflect.get(target, name) as unknown;
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    };
    const { journal } = await openJournal(dir, { now: t.now, openFile });
    await journal.begin("message-0001", t.seconds());
    failNextWrite = true;
    await expect(journal.begin("message-0002", t.seconds())).rejects.toSatisfy(
      (error) =>
        error instanceof JournalWriteError &&
        error.message === `cannot write the journal ${journalFile(dir)}: ENOSPC: no space left on device`,
    );
    await journal.finish("message-0001");
    await crash(journal);
    const text = await readFile(journalFile(dir), "utf8");
    expect(text.endsWith("\n")).toBe(true);
    expect(text.split("\n").filter((l) => l !== "" && parseRecord(l) === undefined)).toEqual([]);
    const reopened = await openJournal(dir, { now: t.now });
    expect(reopened.journal.lookup("message-0001")).toMatchObject({ state: "done" });
    expect(reopened.journal.lookup("message-0002")).toBeUndefined();
    expect(reopened.logger.find("warn", "not fully written")).toHaveLength(0);
  });

  it("argument and state checks name what is wrong", async () => {
    const dir = await scratch("journal");
    const logger = memoryLogger();
    await expect(Journal.open({ dir: "relative", retentionSeconds: 1, logger })).rejects.toThrow(
      /"options.dir"/,
    );
    await expect(Journal.open({ dir, retentionSeconds: 0, logger })).rejects.toThrow(
      /"options.retentionSeconds"/,
    );
    await expect(Journal.open({ dir, retentionSeconds: 1, logger, maxEntries: 0 })).rejects.toThrow(
      /"options.maxEntries"/,
    );
    const { journal } = await openJournal(dir);
    expect(() => journal.begin("has space", 1)).toThrow(/"key"/);
    expect(() => journal.begin("line\nbreak", 1)).toThrow(/"key"/);
    expect(() => journal.begin("message-0001", Number.NaN)).toThrow(/"timestamp"/);
    await expect(journal.finish("message-0404")).rejects.toThrow(/was not begun/);
    await journal.close();
    expect(() => journal.begin("message-0001", 1)).toThrow(JournalClosedError);
  });

  it("an unusable directory fails at open with the path", async () => {
    const dir = await scratch("journal");
    await writeFile(join(dir, "file"), "");
    await expect(
      Journal.open({ dir: join(dir, "file", "sub"), retentionSeconds: 1, logger: memoryLogger() }),
    ).rejects.toMatchObject({
      name: "JournalOpenError",
      message: expect.stringContaining(join(dir, "file")),
    });
  });

  it("property: after any sequence of records and a crash with a torn tail, reopening gives the model", async () => {
    const keys = ["message-aaaa", "message-bbbb", "message-cccc", "message-dddd"];
    const op = fc.record({
      kind: fc.constantFrom("begin", "finish", "abandon"),
      key: fc.constantFrom(...keys),
    });
    const tail = fc.oneof(
      fc.constant(""),
      // A record cut anywhere before its last character (a whole record would not be torn).
      fc
        .tuple(fc.constantFrom("S", "D", "A"), fc.constantFrom(...keys), fc.nat(40))
        .map(([kind, key, cut]) => {
          const line = formatRecord(kind as "S", key, 1);
          return line.slice(0, Math.min(cut, line.length - 2));
        }),
      fc.string({ maxLength: 40 }).map((s) => s.replaceAll("\n", "")),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), tail, async (ops, torn) => {
        const dir = await scratch("journal-prop");
        const t = clock();
        const { journal } = await openJournal(dir, { now: t.now, compactAfterDeadRecords: 4 });
        const model = new Map<string, "started" | "done">();
        for (const { kind, key } of ops) {
          if (kind === "begin") {
            await journal.begin(key, t.seconds());
            model.set(key, "started");
          } else if (kind === "finish" && model.has(key)) {
            await journal.finish(key);
            model.set(key, "done");
          } else if (kind === "abandon") {
            await journal.abandon(key);
            model.delete(key);
          }
        }
        await crash(journal);
        if (torn !== "") await appendFile(journalFile(dir), torn);
        const { journal: reopened } = await openJournal(dir, { now: t.now });
        for (const key of keys) {
          const state = model.get(key);
          const entry = reopened.lookup(key);
          if (state === undefined) expect(entry).toBeUndefined();
          else expect(entry).toMatchObject({ state, inDoubt: state === "started" });
        }
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Files that agents already have in their state_dir must still load and be written the same way.

/**
 * `fixtures/state-0.1.0` holds what net2ban 0.1.0 (commit ab6b988, before the journal and the ban
 * schedule shared @net2ban/ledger's AppendLog) wrote: `journal` and `bans` after the operations of
 * writeJournal() and writeSchedule() below, and `*.compacted` what it rewrote them to when it opened them
 * (at the clocks used here).
 */
const fixture = (name: string) => new URL(`./fixtures/state-0.1.0/${name}`, import.meta.url);
const JOURNAL_CLOCK = 1_704_067_200_000;
const SCHEDULE_CLOCK = 1_700_000_000_000;

async function writeJournal(journal: Journal): Promise<void> {
  const ts = 1704067200.125;
  await journal.begin("3f2c1a9e-0d4b-4c2a-9f1e-5b6a7c8d9e0f", ts);
  await journal.finish("3f2c1a9e-0d4b-4c2a-9f1e-5b6a7c8d9e0f");
  await journal.begin("v1-a1b2c3d4e5f60718", ts + 1);
  await journal.finish("v1-a1b2c3d4e5f60718");
  await journal.begin("0123456789abcdef0123456789abcdef", ts + 2);
  await journal.begin("message-abandoned", ts + 3);
  await journal.abandon("message-abandoned");
  await journal.begin("message-0005", ts + 4);
  await journal.finish("message-0005");
  // maxEntries 4: this one evicts the first id and writes a floor record.
  await journal.begin("message-0006", ts + 5);
  await journal.finish("message-0006");
}

async function writeSchedule(schedule: BanSchedule): Promise<void> {
  const sshd = { file: "iptables-multiport", name: "sshd" };
  const a = await schedule.begin({
    ...sshd,
    ip: "203.0.113.9",
    params: { port: "ssh" },
    expiresAt: 1_700_000_600,
  });
  await schedule.hold(a);
  const b = await schedule.begin({
    file: "nftables",
    name: "nginx",
    ip: "2001:db8::1",
    params: {},
    expiresAt: null,
  });
  await schedule.hold(b);
  await schedule.setEnd(a.key, 1_700_001_200);
  const c = await schedule.begin({
    file: "nftables",
    name: "recidive",
    ip: "198.51.100.7",
    params: { bantime: "86400" },
    expiresAt: 1_700_086_400,
  });
  await schedule.hold(c);
  await schedule.release(c.key);
  await schedule.begin({ ...sshd, ip: "192.0.2.44", params: { port: "ssh" }, expiresAt: 1_700_000_900 });
}

const openSchedule = (dir: string, ms: number) =>
  BanSchedule.open({ dir, logger: memoryLogger(), onDue: () => undefined, now: () => ms });

describe("state files written by net2ban 0.1.0", () => {
  it("a journal loads (done, in doubt, abandoned, evicted, the floor), also with a torn tail", async () => {
    const dir = await scratch("journal-0.1.0");
    await copyFile(fixture("journal"), journalFile(dir));
    await appendFile(journalFile(dir), "D message-0007 1704067206.125 8a0");
    const { journal, logger } = await openJournal(dir, { now: () => JOURNAL_CLOCK, maxEntries: 4 });
    expect(journal.floor).toBe(1704067200.125);
    expect(journal.size).toBe(4);
    expect(journal.lookup("3f2c1a9e-0d4b-4c2a-9f1e-5b6a7c8d9e0f")).toBeUndefined();
    expect(journal.lookup("v1-a1b2c3d4e5f60718")).toEqual({
      state: "done",
      timestamp: 1704067201.125,
      inDoubt: false,
    });
    expect(journal.inDoubt()).toEqual(["0123456789abcdef0123456789abcdef"]);
    expect(journal.lookup("message-abandoned")).toBeUndefined();
    expect(journal.lookup("message-0006")).toMatchObject({ state: "done" });
    expect(journal.lookup("message-0007")).toBeUndefined();
    expect(logger.find("warn", "not fully written")[0]?.fields).toMatchObject({
      tornLastLine: true,
      garbledLines: 0,
    });
    // The rewrite at open drops the torn tail and is what 0.1.0 rewrote the same file to, byte for byte.
    expect(await readFile(journalFile(dir))).toEqual(await readFile(fixture("journal.compacted")));
  });

  it("the same operations write the same journal bytes", async () => {
    const dir = await scratch("journal-0.1.0");
    const { journal } = await openJournal(dir, { now: () => JOURNAL_CLOCK, maxEntries: 4 });
    await writeJournal(journal);
    await crash(journal);
    expect(await readFile(journalFile(dir))).toEqual(await readFile(fixture("journal")));
  });

  it("a ban schedule loads (held, moved end, released, in doubt) and is rewritten as 0.1.0 did", async () => {
    const dir = await scratch("bans-0.1.0");
    await copyFile(fixture("bans"), join(dir, "bans"));
    const schedule = await openSchedule(dir, SCHEDULE_CLOCK + 10_000);
    try {
      expect(schedule.held().map((ban) => [ban.ip, ban.expiresAt])).toEqual([
        ["203.0.113.9", 1_700_001_200],
        ["2001:db8::1", null],
      ]);
      expect(schedule.inDoubt().map((ban) => ban.ip)).toEqual(["192.0.2.44"]);
    } finally {
      await schedule.close();
    }
    expect(await readFile(join(dir, "bans"))).toEqual(await readFile(fixture("bans.compacted")));
  });

  it("the same operations write the same ban schedule bytes", async () => {
    const dir = await scratch("bans-0.1.0");
    const schedule = await openSchedule(dir, SCHEDULE_CLOCK);
    try {
      await writeSchedule(schedule);
    } finally {
      await schedule.close();
    }
    expect(await readFile(join(dir, "bans"))).toEqual(await readFile(fixture("bans")));
  });
});

// ---------------------------------------------------------------------------------------------------
// The agent with its journal, across a crash between the start and the end of an action.

/**
 * An action with iptables' counting semantics: each ban adds a rule (`-I`), each unban removes one
 * (`-D`) and fails when there is none. `<rules>/<ip>` holds one line per rule in effect.
 */
function countingAction(rulesDir: string): string {
  return [
    "[Definition]",
    "actionstart = mkdir -p <rules>",
    "actionban = echo rule >> <rules>/<ip>",
    "actionunban = test -s <rules>/<ip> && sed -i '$d' <rules>/<ip>",
    "",
    "[Init]",
    `rules = ${rulesDir}`,
    "",
  ].join("\n");
}

interface AgentHost {
  dir: string;
  peer: PeerConfig;
  actionsDir: string;
  rulesDir: string;
  stateDir: string;
  seal(message: Net2banMessage): Promise<Buffer>;
  rules(ip: string): Promise<number>;
}

async function agentHost(): Promise<AgentHost> {
  const dir = await scratch("agent-journal");
  const actionsDir = join(dir, "actions");
  const rulesDir = join(dir, "rules");
  const stateDir = join(dir, "state");
  await mkdir(actionsDir);
  await writeFile(join(actionsDir, "counting.conf"), countingAction(rulesDir));
  const hex = () => randomBytes(16).toString("hex");
  const text = [
    "[global]",
    "url = amqp://guest:guest@127.0.0.1:5672/",
    "rounds = 1000",
    `secret = ${hex()}`,
    "mode = client",
    "valid_wtime = 3600",
    `authkey = ${hex()}`,
    `actions_dir = ${actionsDir}`,
    `state_dir = ${stateDir}`,
    "",
    "[web1]",
    `key = ${hex()}`,
    "protocol = 2",
    "",
  ].join("\n");
  const { config } = parseConfig(text, join(dir, "net2ban.cfg"));
  const peer = clientConfig(config, "web1");
  const codec = await createCodec({ protocol: 2, keyId: peer.name, direction: "to-agent", keys: peer });
  return {
    dir,
    peer,
    actionsDir,
    rulesDir,
    stateDir,
    seal: async (message) => Buffer.from(codec.seal(message)),
    rules: async (ip) => {
      try {
        return (await readFile(join(rulesDir, ip), "utf8")).split("\n").filter((l) => l !== "").length;
      } catch {
        return 0;
      }
    },
  };
}

/** Where a simulated crash hits: before or after the command whose text contains `command`. */
interface Crash {
  point: "before" | "after";
  command: string;
}

const BAN_COMMAND = "echo rule >>";
const UNBAN_COMMAND = "sed -i";

/** One agent process's worth of objects; `crash` makes one command never return, as if killed there. */
async function startAgent(host: AgentHost, crash?: Crash, startMs = Date.now()) {
  const logger = memoryLogger();
  // This process's clock: real time, shifted so that a test can start it later than now.
  const offset = startMs - Date.now();
  const now = () => Date.now() + offset;
  const journal = await Journal.open({
    dir: join(host.stateDir, host.peer.name),
    retentionSeconds: host.peer.validWindowSeconds,
    logger,
    now,
  });
  journals.push(journal);
  const hang = () => new Promise<never>(() => undefined);
  const engine = new ActionEngine({
    actionsDir: host.actionsDir,
    logger,
    run: async (command, options) => {
      const text = typeof command === "string" ? command : command.join(" ");
      const hit = crash !== undefined && text.includes(crash.command);
      if (hit && crash.point === "before") return hang();
      const result = await runCommand(command, options);
      if (hit) return hang();
      return result;
    },
  });
  const agent = await Net2banAgent.create({
    peer: host.peer,
    broker: {} as Broker, // start() is never called: deliveries are handed to handleCommand directly
    logger: logger as unknown as Logger,
    engine,
    actionsDir: host.actionsDir,
    prefetch: 4,
    journal,
    now,
  });
  return { agent, journal, logger };
}

function delivery(body: Buffer, redelivered: boolean): Delivery {
  return { body, redelivered, deliveryTag: 1, headers: {} };
}

const ban = (ip: string) => createExecBanRequest({ ip, action: "counting", name: "sshd", sender: "test" });
const unban = (ip: string) =>
  createExecUnbanRequest({ ip, action: "counting", name: "sshd", sender: "test" });

describe("the agent with its journal", () => {
  it("a message carried out is not run again when redelivered, nor when replayed", async () => {
    const host = await agentHost();
    const { agent, logger } = await startAgent(host);
    const body = await host.seal(ban("192.0.2.10"));
    expect(await agent.handleCommand(delivery(body, false))).toBe("ack");
    expect(await agent.handleCommand(delivery(body, true))).toBe("ack");
    expect(await agent.handleCommand(delivery(body, false))).toBe("reject");
    expect(await host.rules("192.0.2.10")).toBe(1);
    expect(logger.find("info", "already carried out")).toHaveLength(1);
    const reasons = logger.find("warn", "message rejected").map((e) => String(e.fields["reason"]));
    expect(reasons).toEqual([expect.stringMatching(/^replay/)]);
  });

  it("after a restart, a message that was done but not acknowledged is acknowledged, not run", async () => {
    const host = await agentHost();
    const first = await startAgent(host);
    const body = await host.seal(ban("192.0.2.11"));
    expect(await first.agent.handleCommand(delivery(body, false))).toBe("ack");
    // The ack was lost with the process; the broker redelivers to the new process.
    const second = await startAgent(host);
    expect(await second.agent.handleCommand(delivery(body, true))).toBe("ack");
    expect(await host.rules("192.0.2.11")).toBe(1);
  });

  it("a copy delivered while the first is still running waits for it and is not run twice", async () => {
    const host = await agentHost();
    const { agent } = await startAgent(host);
    const body = await host.seal(ban("192.0.2.12"));
    const verdicts = await Promise.all([
      agent.handleCommand(delivery(body, false)),
      agent.handleCommand(delivery(body, true)),
    ]);
    expect(verdicts).toEqual(["ack", "ack"]);
    expect(await host.rules("192.0.2.12")).toBe(1);
  });

  it.each<Crash["point"]>(["after", "before"])(
    "a ban in doubt (crash %s the command) is undone, then run: exactly one rule in effect",
    async (point) => {
      const host = await agentHost();
      const first = await startAgent(host, { point, command: BAN_COMMAND });
      const message = ban("192.0.2.20");
      const body = await host.seal(message);
      void first.agent.handleCommand(delivery(body, false));
      // The start record is on disk before the action runs.
      await waitUntil(() => first.journal.lookup(message.id)?.state === "started");
      await waitUntil(async () => point === "before" || (await host.rules("192.0.2.20")) === 1);
      const second = await startAgent(host);
      expect(second.journal.inDoubt()).toEqual([message.id]);
      expect(await second.agent.handleCommand(delivery(body, true))).toBe("ack");
      expect(await host.rules("192.0.2.20")).toBe(1);
      expect(second.logger.find("warn", "undoing it with actionunban")).toHaveLength(1);
      expect(second.journal.lookup(message.id)).toMatchObject({ state: "done", inDoubt: false });
      // The one unban that follows lifts the ban completely.
      expect(await second.agent.handleCommand(delivery(await host.seal(unban("192.0.2.20")), false))).toBe(
        "ack",
      );
      expect(await host.rules("192.0.2.20")).toBe(0);
    },
  );

  it("an unban in doubt runs again; where it already ran, the second run fails harmlessly", async () => {
    const host = await agentHost();
    const first = await startAgent(host);
    expect(await first.agent.handleCommand(delivery(await host.seal(ban("192.0.2.30")), false))).toBe("ack");
    expect(await host.rules("192.0.2.30")).toBe(1);
    // A second process crashes right after its unban ran.
    const crashing = await startAgent(host, { point: "after", command: UNBAN_COMMAND });
    const body = await host.seal(unban("192.0.2.30"));
    void crashing.agent.handleCommand(delivery(body, false));
    await waitUntil(async () => (await host.rules("192.0.2.30")) === 0);
    const third = await startAgent(host);
    expect(third.journal.inDoubt()).toHaveLength(1);
    expect(await third.agent.handleCommand(delivery(body, true))).toBe("ack");
    expect(await host.rules("192.0.2.30")).toBe(0);
    expect(third.logger.find("warn", "running it again")).toHaveLength(1);
    expect(third.logger.find("error", "actionunban failed").length).toBeGreaterThan(0);
  });

  it("a journal that cannot write stops the action: nothing runs, the broker gets the message back", async () => {
    const host = await agentHost();
    const { agent, journal } = await startAgent(host);
    await journal.close();
    const body = await host.seal(ban("192.0.2.40"));
    await expect(agent.handleCommand(delivery(body, false))).rejects.toBeInstanceOf(JournalClosedError);
    expect(await host.rules("192.0.2.40")).toBe(0);
  });

  it("an in-doubt message that arrives after the window is refused, and said so as an error", async () => {
    const host = await agentHost();
    const first = await startAgent(host, { point: "before", command: BAN_COMMAND });
    const message = ban("192.0.2.50");
    const body = await host.seal(message);
    void first.agent.handleCommand(delivery(body, false));
    await waitUntil(() => first.journal.lookup(message.id)?.state === "started");
    const second = await startAgent(host);
    expect(second.journal.inDoubt()).toEqual([message.id]);
    const late = await startAgent(host, undefined, Date.now() + (host.peer.validWindowSeconds + 5) * 1000);
    expect(await late.agent.handleCommand(delivery(body, true))).toBe("reject");
    expect(late.logger.find("error", "was in doubt after a crash")).toHaveLength(1);
    expect(await host.rules("192.0.2.50")).toBe(0);
  });
});

async function waitUntil<T>(probe: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}
