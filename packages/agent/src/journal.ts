// The agent's journal: which message ids it started and finished, on disk, so that each id takes effect
// once per agent across restarts and crashes, and an action cut off by a crash is known to be in doubt.
// The file is an AppendLog of @net2ban/ledger (CRC per line, group-commit fdatasync, compaction) with
// the journal's own compact lines.
import type { FileHandle } from "node:fs/promises";
import {
  AppendLog,
  formatLine,
  type LineCodec,
  parseLine,
  StateClosedError,
  StateOpenError,
  StateWriteError,
} from "@net2ban/ledger";

/** The subset of a pino logger the journal writes to. */
export interface JournalLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface JournalOptions {
  /** This agent's own directory, `state_dir/<client>`; created (mode 0700) if missing. */
  dir: string;
  /**
   * valid_wtime: seconds an id is kept after its message's timestamp. A message older than that is
   * refused by the freshness check anyway, so its id can be forgotten.
   */
  retentionSeconds: number;
  logger: JournalLogger;
  /** Most ids kept at once (default 100 000, as the freshness guard's memory). */
  maxEntries?: number;
  /** Dead records (superseded or expired) tolerated in the file before it is rewritten; default 1024. */
  compactAfterDeadRecords?: number;
  /** Clock in milliseconds since the epoch (as Date.now). */
  now?: () => number;
  /** Opens the journal's files and directory (default node:fs/promises `open`; tests inject failures). */
  openFile?: (path: string, flags: number, mode?: number) => Promise<FileHandle>;
}

/** What the journal knows of one message id. */
export interface JournalEntry {
  /** `started`: its action was about to run or running; `done`: it ran (or was refused) and is settled. */
  state: "started" | "done";
  /** The message's own timestamp (seconds since the epoch). */
  timestamp: number;
  /**
   * Started by an earlier process that never recorded the end: the action may have run fully,
   * partly or not at all. The agent resolves it when the broker delivers the message again.
   */
  inDoubt: boolean;
}

/** The journal's directory or file could not be read or created. */
export class JournalOpenError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalOpenError";
  }
}

/** A record could not be written and flushed to disk: the message it was for must not go ahead. */
export class JournalWriteError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalWriteError";
  }
}

/** The journal was used after close(). */
export class JournalClosedError extends Error {
  constructor(message = "journal is closed", options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalClosedError";
  }
}

/** v2 message ids, v1 MAC hex and the server's `v1-<mac prefix>` ids: never a space or a newline. */
const KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,255}$/;
const FILE = "journal";
/** Record kinds: started, done, abandoned (forget it), floor (ids at or below it were evicted). */
type RecordKind = "S" | "D" | "A" | "F";
interface JournalRecord {
  kind: RecordKind;
  key: string;
  timestamp: number;
}
const RECORD = /^([SDAF]) (\S+) (\S+)$/;

/** `<kind> <key> <timestamp>`: the log adds ` <crc32>` and the newline. */
const journalLines: LineCodec<JournalRecord> = {
  encode: ({ kind, key, timestamp }) => `${kind} ${key} ${timestamp}`,
  decode(text) {
    const match = RECORD.exec(text);
    if (match === null) return undefined;
    const [, kind, key, time] = match as unknown as [string, RecordKind, string, string];
    const timestamp = Number(time);
    if (!Number.isFinite(timestamp) || timestamp < 0) return undefined;
    if (kind !== "F" && !KEY.test(key)) return undefined;
    return { kind, key, timestamp };
  },
};

function assertKey(key: unknown, name: string): asserts key is string {
  if (typeof key !== "string" || !KEY.test(key)) {
    throw new TypeError(
      `"${name}" expected 1-256 of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(key)?.slice(0, 80)}`,
    );
  }
}

function assertTimestamp(value: unknown, name: string): asserts value is number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`"${name}" expected seconds since the epoch (a finite number >= 0), got ${value}`);
  }
}

function assertCount(value: unknown, name: string, min: number): asserts value is number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`"${name}" expected an integer >= ${min}, got ${value}`);
  }
}

/** One line: `<kind> <key> <timestamp> <crc32 of the rest>`; the CRC makes a torn or garbled line visible. */
export function formatRecord(kind: RecordKind, key: string, timestamp: number): string {
  return formatLine({ kind, key, timestamp }, journalLines);
}

/** The record of a line, or undefined for a line that is torn, garbled or not a record. */
export function parseRecord(line: string): JournalRecord | undefined {
  return parseLine(line, journalLines);
}

/** The log's errors as the journal's own (same message and cause), which callers already catch. */
function asJournalError(error: unknown): unknown {
  if (error instanceof StateOpenError) return new JournalOpenError(error.message, { cause: error.cause });
  if (error instanceof StateWriteError) return new JournalWriteError(error.message, { cause: error.cause });
  if (error instanceof StateClosedError) return new JournalClosedError(undefined, { cause: error });
  return error;
}

/**
 * The ids of the messages this agent started and settled, in an append-only file: each record is on
 * disk (fdatasync) before its promise resolves; records written in the same turn of the event loop, or
 * while a flush is under way, share the next flush (group commit). It is rewritten from the live
 * entries when dead records pile up, and at open, which also drops a torn last line left by a crash.
 */
export class Journal {
  readonly #retentionSeconds: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #logger: JournalLogger;
  /** Insertion order is close to timestamp order: the head is pruned and evicted first. */
  readonly #entries = new Map<string, JournalEntry>();
  #floor = 0;
  #log: AppendLog<JournalRecord> | undefined;
  #closed = false;
  #evictedSinceWarning = 0;
  #lastFullWarning = Number.NEGATIVE_INFINITY;

  private constructor(options: {
    retentionSeconds: number;
    maxEntries: number;
    now: () => number;
    logger: JournalLogger;
  }) {
    this.#retentionSeconds = options.retentionSeconds;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now;
    this.#logger = options.logger;
  }

  /** Reads the journal in `dir` (if any), rewrites it without dead or torn records, and opens it for appending. */
  static async open(options: JournalOptions): Promise<Journal> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    if (
      typeof options.retentionSeconds !== "number" ||
      !Number.isFinite(options.retentionSeconds) ||
      options.retentionSeconds <= 0
    ) {
      throw new TypeError(
        `"options.retentionSeconds" expected a number > 0, got ${options.retentionSeconds}`,
      );
    }
    const maxEntries = options.maxEntries ?? 100_000;
    assertCount(maxEntries, "options.maxEntries", 1);
    const now = options.now ?? Date.now;
    if (typeof now !== "function") throw new TypeError(`"options.now" expected a function`);
    const journal = new Journal({
      retentionSeconds: options.retentionSeconds,
      maxEntries,
      now,
      logger: options.logger,
    });
    try {
      journal.#log = await AppendLog.open({
        dir: options.dir,
        file: FILE,
        label: "journal",
        logger: options.logger,
        codec: journalLines,
        replay: (record) => journal.#replay(record),
        replayed: () => journal.#settleReplayed(),
        snapshot: () => journal.#snapshot(),
        ...(options.compactAfterDeadRecords === undefined
          ? {}
          : { compactAfterDeadRecords: options.compactAfterDeadRecords }),
        ...(options.openFile === undefined ? {} : { openFile: options.openFile }),
      });
    } catch (error) {
      throw asJournalError(error);
    }
    return journal;
  }

  /** Ids remembered (started or done, not expired by the last prune). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Timestamp (seconds) at or below which ids may have been forgotten because the journal was full:
   * a message that old and unknown must be refused, as it could have run already. 0 until the first eviction.
   */
  get floor(): number {
    return this.#floor;
  }

  /** Flushes to disk so far (each shared by every record written since the one before). */
  get flushes(): number {
    return this.#log?.flushes ?? 0;
  }

  /** What is known of `key`, or undefined (never seen, abandoned, or expired). */
  lookup(key: string): JournalEntry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (this.#expired(entry, this.#now() / 1000)) return undefined;
    return { ...entry };
  }

  /** Ids whose action was running when an earlier process stopped without recording its end. */
  inDoubt(): string[] {
    const nowSeconds = this.#now() / 1000;
    return [...this.#entries]
      .filter(([, e]) => e.inDoubt && !this.#expired(e, nowSeconds))
      .map(([key]) => key);
  }

  /**
   * Records that the action of `key` is about to run. Resolves once the record is on disk: only then
   * may the action run. A `key` in doubt stops being in doubt (it is being resolved now).
   */
  begin(key: string, timestamp: number): Promise<void> {
    assertKey(key, "key");
    assertTimestamp(timestamp, "timestamp");
    this.#assertOpen();
    const nowSeconds = this.#now() / 1000;
    this.#prune(nowSeconds);
    const records: JournalRecord[] = [{ kind: "S", key, timestamp }];
    if (!this.#entries.has(key)) {
      while (this.#entries.size >= this.#maxEntries) records.push(this.#evictOldest());
    }
    this.#entries.set(key, { state: "started", timestamp, inDoubt: false });
    return this.#append(records);
  }

  /** Records that `key` is settled (its action ran, or it was refused for good). Resolves once on disk. */
  finish(key: string): Promise<void> {
    assertKey(key, "key");
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      return Promise.reject(new RangeError(`"key" ${key} was not begun (or has expired)`));
    }
    entry.state = "done";
    entry.inDoubt = false;
    return this.#append([{ kind: "D", key, timestamp: entry.timestamp }]);
  }

  /**
   * Forgets `key`: its action did not run (it failed before starting), so a redelivery must run it.
   * The record is flushed with the next one; if it is lost in a crash, the id is merely in doubt.
   */
  abandon(key: string): Promise<void> {
    assertKey(key, "key");
    this.#assertOpen();
    const entry = this.#entries.get(key);
    if (entry === undefined) return Promise.resolve();
    this.#entries.delete(key);
    return this.#append([{ kind: "A", key, timestamp: entry.timestamp }]);
  }

  /** Waits for pending records to reach the disk, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#log?.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new JournalClosedError();
  }

  #expired(entry: JournalEntry, nowSeconds: number): boolean {
    return entry.timestamp < nowSeconds - this.#retentionSeconds;
  }

  /** Drops expired entries from the head; an entry still in doubt when it expires is said so, loudly. */
  #prune(nowSeconds: number): void {
    for (const [key, entry] of this.#entries) {
      if (!this.#expired(entry, nowSeconds)) break;
      this.#entries.delete(key);
      if (entry.inDoubt) this.#reportExpiredInDoubt(key, entry);
    }
  }

  #reportExpiredInDoubt(key: string, entry: JournalEntry): void {
    this.#logger.error(
      { id: key, timestamp: entry.timestamp },
      `message ${key} was in doubt after a crash and was never delivered again before it expired: check its action by hand`,
    );
  }

  /** The journal is full of live ids: forget the oldest, and raise the floor so it can never run again. */
  #evictOldest(): JournalRecord {
    const first = this.#entries.entries().next();
    if (first.done === true) throw new Error("unreachable: evicting from an empty journal");
    const [key, entry] = first.value;
    this.#entries.delete(key);
    if (entry.timestamp > this.#floor) this.#floor = entry.timestamp;
    if (entry.state === "started") {
      this.#logger.error(
        { id: key, maxEntries: this.#maxEntries },
        `journal full: forgetting message ${key} before it was settled`,
      );
    } else {
      this.#evictedSinceWarning += 1;
      // Under a flood every new id evicts one: say so once a minute, with the count, not once per message.
      if (this.#now() - this.#lastFullWarning >= 60_000) {
        this.#logger.warn(
          { maxEntries: this.#maxEntries, floor: this.#floor, forgotten: this.#evictedSinceWarning },
          "journal full: the oldest ids are forgotten and older messages refused",
        );
        this.#lastFullWarning = this.#now();
        this.#evictedSinceWarning = 0;
      }
    }
    return { kind: "F", key: "-", timestamp: this.#floor };
  }

  #append(records: JournalRecord[]): Promise<void> {
    if (this.#log === undefined) throw new Error("unreachable: journal used before open");
    // Live records: what a rewrite would write, the floor's included.
    const live = this.#entries.size + (this.#floor > 0 ? 1 : 0);
    return this.#log.append(records, live).catch((error: unknown) => {
      throw asJournalError(error);
    });
  }

  #replay({ kind, key, timestamp }: JournalRecord): void {
    switch (kind) {
      case "S":
        // A start without its end, read back at open, is exactly what "in doubt" means.
        this.#entries.set(key, { state: "started", timestamp, inDoubt: true });
        break;
      case "D":
        this.#entries.set(key, { state: "done", timestamp, inDoubt: false });
        break;
      case "A":
        this.#entries.delete(key);
        break;
      case "F":
        if (timestamp > this.#floor) this.#floor = timestamp;
        break;
    }
  }

  /** At open, before the rewrite: forget what expired while the agent was down, report what is in doubt. */
  #settleReplayed(): void {
    const nowSeconds = this.#now() / 1000;
    for (const [key, entry] of [...this.#entries]) {
      if (!this.#expired(entry, nowSeconds)) continue;
      this.#entries.delete(key);
      if (entry.inDoubt) this.#reportExpiredInDoubt(key, entry);
    }
    while (this.#entries.size > this.#maxEntries) this.#evictOldest();
    const inDoubt = this.inDoubt();
    if (inDoubt.length > 0) {
      this.#logger.warn(
        { inDoubt: inDoubt.slice(0, 20), count: inDoubt.length },
        `${inDoubt.length} message(s) were being carried out when the agent stopped; they are resolved when redelivered`,
      );
    }
  }

  /** The live entries as records, the floor first: what a rewrite writes. */
  #snapshot(): JournalRecord[] {
    const records: JournalRecord[] = [];
    if (this.#floor > 0) records.push({ kind: "F", key: "-", timestamp: this.#floor });
    for (const [key, entry] of this.#entries) {
      records.push({ kind: entry.state === "done" ? "D" : "S", key, timestamp: entry.timestamp });
    }
    return records;
  }
}
