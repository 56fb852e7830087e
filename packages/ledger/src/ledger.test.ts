// The ledger and its log: durability across reopen, torn and garbled lines, compaction, repeats that
// extend, unbans by address, expiry, host states, and the digest agents and server compare.
import {
  appendFile,
  copyFile,
  open as fsOpen,
  readdir,
  readFile,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { memoryLogger, type TempDir, tempDir } from "@net2ban/test-utils";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppendLog, formatLine, type LineCodec, parseLine } from "./append-log.js";
import { banKey, digestOf, parseBanKey } from "./digest.js";
import { type BanInput, Ledger } from "./ledger.js";

let dir: TempDir;
let clock = 1_700_000_000_000;
const now = () => clock;
const logger = memoryLogger();

beforeEach(async () => {
  dir = await tempDir("ledger");
  clock = 1_700_000_000_000;
});
afterEach(async () => {
  await dir.remove();
});

const ban = (over: Partial<BanInput> = {}): BanInput => ({
  file: "iptables-multiport",
  name: "sshd",
  ip: "203.0.113.9",
  params: { port: "ssh" },
  expiresAt: clock / 1000 + 600,
  requestId: "request-1",
  sender: "ctl",
  to: null,
  ...over,
});

/** The active bans as a fresh open reads them back from disk. */
async function reread(): Promise<ReturnType<Ledger["active"]>> {
  const ledger = await Ledger.open({ dir: dir.path, logger, now });
  try {
    return ledger.active();
  } finally {
    await ledger.close();
  }
}

const open = (options: { compactAfterDeadRecords?: number } = {}) =>
  Ledger.open({ dir: dir.path, logger, now, ...options });

describe("digest", () => {
  it("keys are unambiguous JSON and read back", () => {
    const key = banKey({ file: "f", name: 'a","b', ip: "192.0.2.1" });
    expect(parseBanKey(key)).toEqual({ file: "f", name: 'a","b', ip: "192.0.2.1" });
    expect(parseBanKey("[1,2,3]")).toBeUndefined();
    expect(parseBanKey("nope")).toBeUndefined();
  });

  it("order and duplicates do not matter; any difference changes the hash", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { minLength: 1, maxLength: 20 }), (keys) => {
        const digest = digestOf(keys);
        expect(digestOf([...keys].reverse().concat(keys[0]!))).toEqual(digest);
        expect(digest.count).toBe(keys.length);
        expect(digestOf(keys.slice(1)).hash).not.toBe(digest.hash);
      }),
    );
    expect(digestOf([])).toEqual({
      count: 0,
      hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    });
  });
});

describe("append log lines", () => {
  it("a line is the JSON and its CRC; any change to it is seen", () => {
    const line = formatLine({ t: "unban", k: "x y" });
    expect(parseLine(line.slice(0, -1))).toEqual({ t: "unban", k: "x y" });
    for (let i = 0; i < line.length - 1; i++) {
      const flipped = line.slice(0, i) + String.fromCharCode(line.charCodeAt(i) ^ 1) + line.slice(i + 1, -1);
      expect(parseLine(flipped), `byte ${i}`).toBeUndefined();
    }
  });

  it("checks its options", async () => {
    const base = { dir: dir.path, file: "x", logger, replay: () => undefined, snapshot: () => [] };
    await expect(AppendLog.open({ ...base, dir: "relative" })).rejects.toThrow(
      /"options.dir" expected an absolute/,
    );
    await expect(AppendLog.open({ ...base, file: "../x" })).rejects.toThrow(/"options.file"/);
    await expect(AppendLog.open({ ...base, compactAfterDeadRecords: -1 })).rejects.toThrow(/compactAfter/);
    await expect(AppendLog.open({ ...base, label: "" })).rejects.toThrow(/"options.label"/);
    await expect(
      AppendLog.open({ ...base, codec: { encode: String } as unknown as LineCodec<unknown> }),
    ).rejects.toThrow(/"options.codec"/);
  });

  /** Records `<word> <count>`, as an owner with its own compact lines (the agent's journal) has them. */
  const counts: LineCodec<{ word: string; count: number }> = {
    encode: ({ word, count }) => `${word} ${count}`,
    decode(text) {
      const match = /^([a-z]+) ([0-9]+)$/.exec(text);
      return match === null ? undefined : { word: match[1]!, count: Number(match[2]) };
    },
  };

  it("a codec's lines carry the same CRC; a line its decode refuses counts as garbled", () => {
    const line = formatLine({ word: "ban", count: 3 }, counts);
    expect(line).toBe(`ban 3 ${crc32("ban 3").toString(16).padStart(8, "0")}\n`);
    expect(parseLine(line.slice(0, -1), counts)).toEqual({ word: "ban", count: 3 });
    expect(parseLine(line.slice(0, -2), counts)).toBeUndefined();
    const upper = `BAN 3 ${crc32("BAN 3").toString(16).padStart(8, "0")}`;
    expect(parseLine(upper)).toBeUndefined(); // not JSON either
    expect(parseLine(upper, counts)).toBeUndefined();
    expect(() => formatLine({ word: "a\nb", count: 1 }, counts)).toThrow(/without a newline/);
  });

  it("with a codec and a label: replayed() runs before the rewrite at open; errors name the file", async () => {
    const state = new Map<string, number>();
    const options = {
      dir: dir.path,
      file: "counts",
      label: "tally",
      logger,
      codec: counts,
      replay: (record: { word: string; count: number }) => state.set(record.word, record.count),
      // What expired while the process was down: dropped before the rewrite, so the file loses it too.
      replayed: () => state.delete("old"),
      snapshot: () => [...state].map(([word, count]) => ({ word, count })),
    };
    const log = await AppendLog.open(options);
    state.set("old", 1).set("ban", 2);
    await log.append(
      [
        { word: "old", count: 1 },
        { word: "ban", count: 2 },
      ],
      state.size,
    );
    await log.close();
    await appendFile(join(dir.path, "counts"), "ban 9 0000");
    const before = logger.entries.length;
    state.clear();
    const again = await AppendLog.open(options);
    await again.close();
    expect(Object.fromEntries(state)).toEqual({ ban: 2 });
    expect(await readFile(join(dir.path, "counts"), "utf8")).toBe(
      formatLine({ word: "ban", count: 2 }, counts),
    );
    expect(logger.entries.slice(before)).toEqual([
      expect.objectContaining({ msg: "tally: skipped records that were not fully written" }),
    ]);
    await expect(again.append([{ word: "ban", count: 3 }], 1)).rejects.toThrow("tally is closed");
    await writeFile(join(dir.path, "file"), "");
    await expect(AppendLog.open({ ...options, dir: join(dir.path, "file", "sub") })).rejects.toMatchObject({
      name: "StateOpenError",
      message: expect.stringMatching(/^cannot create the tally directory .*\/file\/sub: /),
    });
  });
});

describe("AppendLog's temp file", () => {
  const options = (state: string[]) => ({
    dir: dir.path,
    file: "words",
    logger,
    replay: (record: unknown) => state.push(record as string),
    snapshot: () => [...state],
    compactAfterDeadRecords: 0,
  });
  const outside = () => join(dir.path, "..", `${dir.path.split("/").at(-1)}-outside`);

  it("a symlink planted at the temp path is not followed, at open and at a later compaction", async () => {
    const target = outside();
    await writeFile(target, "untouched\n");
    try {
      const state: string[] = [];
      await symlink(target, join(dir.path, "words.tmp"));
      const log = await AppendLog.open(options(state));
      expect(await readFile(target, "utf8")).toBe("untouched\n");
      // Planted again while running: the next compaction replaces it too and still rewrites the file.
      await symlink(target, join(dir.path, "words.tmp"));
      state.push("a");
      for (let i = 0; i < 3; i++) await log.append(["a"], 1);
      await log.close();
      expect(await readFile(target, "utf8")).toBe("untouched\n");
      expect(await readFile(join(dir.path, "words"), "utf8")).toBe(formatLine("a"));
      expect(await readdir(dir.path)).toEqual(["words"]);
    } finally {
      await rm(target, { force: true });
    }
  });

  it("one planted between the clean-up and the create fails the compaction with a clear error", async () => {
    const target = outside();
    await writeFile(target, "untouched\n");
    try {
      const openFile = async (path: string, flags: number, mode?: number) => {
        if (path.endsWith(".tmp")) await symlink(target, path);
        return fsOpen(path, flags, mode);
      };
      await expect(AppendLog.open({ ...options([]), openFile })).rejects.toMatchObject({
        name: "StateOpenError",
        message: expect.stringMatching(/^cannot write the state file .*\/words: EEXIST/),
      });
      expect(await readFile(target, "utf8")).toBe("untouched\n");
    } finally {
      await rm(target, { force: true });
    }
  });
});

describe("Ledger", () => {
  it("a ban is on disk when ban() resolves and comes back after reopen, with its host states", async () => {
    const ledger = await open();
    const { ban: entry, change } = await ledger.ban(ban());
    expect(change).toBe("new");
    await ledger.setHostStates([
      { key: entry.key, host: "web1", status: { state: "applied", at: 1 } },
      { key: entry.key, host: "web2", status: { state: "failed", at: 2, exitCode: 4, detail: "no chain" } },
    ]);
    await ledger.close();
    const again = await open();
    const [back] = again.active();
    expect(back).toMatchObject({
      file: "iptables-multiport",
      name: "sshd",
      ip: "203.0.113.9",
      params: { port: "ssh" },
    });
    expect(Object.fromEntries(back!.hosts)).toEqual({
      web1: { state: "applied", at: 1 },
      web2: { state: "failed", at: 2, exitCode: 4, detail: "no chain" },
    });
    await again.close();
  });

  it("a repeat extends when it ends later, else leaves the ban unchanged; params stay the applied ones", async () => {
    const ledger = await open();
    const first = await ledger.ban(ban());
    clock += 10_000;
    const longer = await ledger.ban(
      ban({ expiresAt: clock / 1000 + 3600, params: { port: "http" }, requestId: "r2" }),
    );
    expect(longer.change).toBe("extended");
    expect(longer.ban).toBe(first.ban);
    expect(longer.ban.expiresAt).toBe(clock / 1000 + 3600);
    expect(longer.ban.params).toEqual({ port: "ssh" });
    expect(longer.ban.requestId).toBe("r2");
    expect((await ledger.ban(ban({ expiresAt: clock / 1000 + 60 }))).change).toBe("unchanged");
    expect((await ledger.ban(ban({ expiresAt: null }))).change).toBe("extended");
    expect((await ledger.ban(ban({ expiresAt: clock / 1000 + 1e6 }))).change).toBe("unchanged");
    expect(ledger.active()).toHaveLength(1);
    await ledger.close();
  });

  it("a repeat for more hosts widens the target set; null (every host) absorbs any list", async () => {
    const ledger = await open();
    await ledger.ban(ban({ to: ["web1"] }));
    const wider = await ledger.ban(ban({ to: ["web2"] }));
    expect(wider.change).toBe("unchanged");
    expect(wider.ban.to).toEqual(["web1", "web2"]);
    await ledger.ban(ban({ to: null }));
    expect(ledger.active()[0]!.to).toBeNull();
    await ledger.close();
    const again = await open();
    expect(again.active()[0]!.to).toBeNull();
    await again.close();
  });

  it("a ban past its end is not active, expire() removes it, and a new ban of it starts afresh", async () => {
    const ledger = await open();
    await ledger.ban(ban({ expiresAt: clock / 1000 + 5 }));
    await ledger.ban(ban({ ip: "192.0.2.1", expiresAt: null }));
    expect(ledger.nextExpiry()).toBe(clock / 1000 + 5);
    clock += 5000;
    expect(ledger.active().map((b) => b.ip)).toEqual(["192.0.2.1"]);
    expect(ledger.get(ban())).toBeUndefined();
    expect(ledger.size).toBe(2);
    const again = await ledger.ban(ban({ expiresAt: clock / 1000 + 5 }));
    expect(again.change).toBe("new");
    expect(again.ban.hosts.size).toBe(0);
    clock += 5000;
    expect((await ledger.expire()).map((b) => b.ip)).toEqual(["203.0.113.9"]);
    expect(ledger.size).toBe(1);
    expect(ledger.nextExpiry()).toBeUndefined();
    await ledger.close();
    expect((await reread()).map((b) => b.ip)).toEqual(["192.0.2.1"]);
  });

  it("unban matches the address, and the file and name when given", async () => {
    const ledger = await open();
    await ledger.ban(ban());
    await ledger.ban(ban({ name: "web" }));
    await ledger.ban(ban({ file: "nftables" }));
    await ledger.ban(ban({ ip: "192.0.2.1" }));
    expect((await ledger.unban({ ip: "203.0.113.9", file: "nftables" })).map((b) => b.file)).toEqual([
      "nftables",
    ]);
    expect((await ledger.unban({ ip: "203.0.113.9", name: "nope" })).length).toBe(0);
    expect((await ledger.unban({ ip: "203.0.113.9" })).map((b) => b.name)).toEqual(["sshd", "web"]);
    expect(ledger.active().map((b) => b.ip)).toEqual(["192.0.2.1"]);
    await ledger.close();
    expect((await reread()).map((b) => b.ip)).toEqual(["192.0.2.1"]);
  });

  it("host states of bans that ended are dropped; forgetHost drops a host", async () => {
    const ledger = await open();
    const { ban: entry } = await ledger.ban(ban());
    await ledger.setHostStates([{ key: entry.key, host: "web1", status: { state: "pending", at: 1 } }]);
    await ledger.unban({ ip: entry.ip });
    await ledger.setHostStates([{ key: entry.key, host: "web1", status: { state: "applied", at: 2 } }]);
    expect(ledger.active()).toEqual([]);
    const { ban: other } = await ledger.ban(ban({ ip: "192.0.2.1" }));
    await ledger.setHostStates([{ key: other.key, host: "gone", status: { state: "applied", at: 2 } }]);
    ledger.forgetHost("gone");
    expect(other.hosts.size).toBe(0);
    await ledger.close();
  });

  it("a torn last line (crash mid-write) and a garbled line are skipped with one warning", async () => {
    const ledger = await open();
    await ledger.ban(ban());
    await ledger.close();
    const path = join(dir.path, "ledger");
    const intact = await readFile(path, "utf8");
    await writeFile(path, `${intact}garbage line 00000000\n`);
    await appendFile(path, formatLine({ t: "unban", k: banKey(ban()) }).slice(0, 20));
    const before = logger.entries.length;
    const again = await open();
    expect(again.active()).toHaveLength(1);
    expect(logger.entries.slice(before)).toEqual([
      expect.objectContaining({
        level: "warn",
        msg: "state file: skipped records that were not fully written",
        fields: expect.objectContaining({ tornLastLine: true, garbledLines: 1 }),
      }),
    ]);
    // Rewritten at open: the damage is gone from the file.
    expect(await readFile(path, "utf8")).toBe(intact);
    await again.close();
  });

  it("dead records are compacted away; the state stays the same", async () => {
    const ledger = await open({ compactAfterDeadRecords: 10 });
    for (let i = 0; i < 200; i++) {
      await ledger.ban(ban({ ip: `192.0.2.${i % 5}`, expiresAt: clock / 1000 + 600 + i }));
    }
    const lines = (await readFile(join(dir.path, "ledger"), "utf8")).split("\n").length - 1;
    expect(lines).toBeLessThan(40);
    await ledger.close();
    const again = await open();
    expect(again.active().map((b) => [b.ip, b.expiresAt])).toEqual(
      [0, 1, 2, 3, 4].map((i) => [`192.0.2.${i}`, clock / 1000 + 600 + 195 + i]),
    );
    await again.close();
  });

  it("changes made in one turn share one flush", async () => {
    const ledger = await open();
    const before = ledger.flushes;
    await Promise.all(
      Array.from({ length: 500 }, (_, i) => ledger.ban(ban({ ip: `198.51.100.${i % 250}`, name: `j${i}` }))),
    );
    expect(ledger.active()).toHaveLength(500);
    expect(ledger.flushes - before).toBeLessThanOrEqual(2);
    await ledger.close();
    expect(await reread()).toHaveLength(500);
  });
});

/**
 * `fixtures/state-0.1.0` holds what net2ban 0.1.0 (commit ab6b988, before the agent's journal and this
 * log became one module) wrote: `ledger` after the operations of writeLedger(), `ledger.compacted` what it
 * rewrote that file to when it opened it 10 s later. Servers already have such files in state_dir/server.
 */
describe("a ledger written by net2ban 0.1.0", () => {
  const fixture = (name: string) => new URL(`./fixtures/state-0.1.0/${name}`, import.meta.url);
  const sshd = {
    file: "iptables-multiport",
    name: "sshd",
    ip: "203.0.113.9",
    params: { port: "ssh", protocol: "tcp" },
    expiresAt: 1_700_000_600,
    requestId: "request-1",
    sender: "ctl",
    to: null,
  };

  async function writeLedger(ledger: Ledger): Promise<void> {
    const { ban: first } = await ledger.ban(sshd);
    await ledger.setHostStates([
      { key: first.key, host: "web1", status: { state: "applied", at: 1_700_000_001 } },
      {
        key: first.key,
        host: "web2",
        status: {
          state: "failed",
          at: 1_700_000_002.5,
          exitCode: 4,
          detail: "iptables: No chain/target/match by that name.",
        },
      },
    ]);
    clock += 5000;
    await ledger.ban({
      file: "nftables",
      name: 'nginx "é"',
      ip: "2001:db8::1",
      params: {},
      expiresAt: null,
      requestId: "request-2",
      sender: "web1",
      to: ["web2"],
    });
    await ledger.ban({
      file: "nftables",
      name: "recidive",
      ip: "198.51.100.7",
      params: { bantime: "86400" },
      expiresAt: 1_700_086_400,
      requestId: "request-3",
      sender: "ctl",
      to: null,
    });
    clock += 5000;
    await ledger.ban({ ...sshd, expiresAt: 1_700_001_200, requestId: "request-4" });
    await ledger.setHostStates([
      { key: first.key, host: "web1", status: { state: "pending", at: 1_700_000_010 } },
    ]);
    await ledger.unban({ ip: "198.51.100.7" });
  }

  it("loads with its bans and host states, also with a torn tail; the rewrite is 0.1.0's byte for byte", async () => {
    const path = join(dir.path, "ledger");
    await copyFile(fixture("ledger"), path);
    await appendFile(path, '{"t":"unban","k":"[\\"nftables');
    clock = 1_700_000_010_000;
    const ledger = await open();
    try {
      expect(ledger.active().map((b) => [b.file, b.name, b.ip, b.expiresAt, b.requestId])).toEqual([
        ["iptables-multiport", "sshd", "203.0.113.9", 1_700_001_200, "request-4"],
        ["nftables", 'nginx "é"', "2001:db8::1", null, "request-2"],
      ]);
      expect(Object.fromEntries(ledger.active()[0]!.hosts)).toEqual({
        web1: { state: "pending", at: 1_700_000_010 },
        web2: {
          state: "failed",
          at: 1_700_000_002.5,
          exitCode: 4,
          detail: "iptables: No chain/target/match by that name.",
        },
      });
      expect(ledger.active()[1]!.to).toEqual(["web2"]);
    } finally {
      await ledger.close();
    }
    expect(await readFile(path)).toEqual(await readFile(fixture("ledger.compacted")));
  });

  it("the same operations write the same bytes", async () => {
    const ledger = await open();
    try {
      await writeLedger(ledger);
    } finally {
      await ledger.close();
    }
    expect(await readFile(join(dir.path, "ledger"))).toEqual(await readFile(fixture("ledger")));
  });
});
