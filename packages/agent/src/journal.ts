// The agent's journal: which message ids it started and finished, on disk, so that each id takes effect
// once per agent across restarts and crashes, and an action cut off by a crash is known to be in doubt.
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

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
const TEMP = "journal.tmp";
/** Record kinds: started, done, abandoned (forget it), floor (ids at or below it were evicted). */
type RecordKind = "S" | "D" | "A" | "F";
const RECORD = /^([SDAF]) (\S+) (\S+) ([0-9a-f]{8})$/;

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
  const body = `${kind} ${key} ${timestamp}`;
  return `${body} ${crc32(body).toString(16).padStart(8, "0")}\n`;
}

/** The record of a line, or undefined for a line that is torn, garbled or not a record. */
export function parseRecord(line: string): { kind: RecordKind; key: string; timestamp: number } | undefined {
  const match = RECORD.exec(line);
  if (match === null) return undefined;
  const [, kind, key, time, crc] = match as unknown as [string, RecordKind, string, string, string];
  if (crc32(`${kind} ${key} ${time}`).toString(16).padStart(8, "0") !== crc) return undefined;
  const timestamp = Number(time);
  if (!Number.isFinite(timestamp) || timestamp < 0) return undefined;
  if (kind !== "F" && !KEY.test(key)) return undefined;
  return { kind, key, timestamp };
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * An append-only file of records, flushed (fdatasync) before the promise of each record resolves.
 * Records written in the same turn of the event loop, or while a flush is under way, share the next
 * flush (group commit). It is rewritten from the live entries when dead records pile up, and at
 * open, which also drops a torn last line left by a crash.
 */
export class Journal {
  readonly #dir: string;
  readonly #path: string;
  readonly #retentionSeconds: number;
  readonly #maxEntries: number;
  readonly #compactAfter: number;
  readonly #now: () => number;
  readonly #logger: JournalLogger;
  readonly #openFile: NonNullable<JournalOptions["openFile"]>;
  /** Insertion order is close to timestamp order: the head is pruned and evicted first. */
  readonly #entries = new Map<string, JournalEntry>();
  #floor = 0;
  #handle: FileHandle | undefined;
  /** Bytes known to be in the file and flushed; a failed write is cut back to it. */
  #size = 0;
  /** Records in the file; those beyond the live entries are dead weight until compaction. */
  #records = 0;
  #pending: string[] = [];
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  #flushes = 0;
  #evictedSinceWarning = 0;
  #lastFullWarning = Number.NEGATIVE_INFINITY;

  private constructor(options: Required<Omit<JournalOptions, "logger">> & { logger: JournalLogger }) {
    this.#dir = options.dir;
    this.#path = join(options.dir, FILE);
    this.#retentionSeconds = options.retentionSeconds;
    this.#maxEntries = options.maxEntries;
    this.#compactAfter = options.compactAfterDeadRecords;
    this.#now = options.now;
    this.#logger = options.logger;
    this.#openFile = options.openFile;
  }

  /** Reads the journal in `dir` (if any), rewrites it without dead or torn records, and opens it for appending. */
  static async open(options: JournalOptions): Promise<Journal> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    if (typeof options.dir !== "string" || !options.dir.startsWith("/")) {
      throw new TypeError(`"options.dir" expected an absolute path, got ${JSON.stringify(options.dir)}`);
    }
    if (
      typeof options.retentionSeconds !== "number" ||
      !Number.isFinite(options.retentionSeconds) ||
      options.retentionSeconds <= 0
    ) {
      throw new TypeError(
        `"options.retentionSeconds" expected a number > 0, got ${options.retentionSeconds}`,
      );
    }
    if (typeof options.logger !== "object" || options.logger === null) {
      throw new TypeError(`"options.logger" expected a logger`);
    }
    const maxEntries = options.maxEntries ?? 100_000;
    assertCount(maxEntries, "options.maxEntries", 1);
    const compactAfter = options.compactAfterDeadRecords ?? 1024;
    assertCount(compactAfter, "options.compactAfterDeadRecords", 0);
    const now = options.now ?? Date.now;
    if (typeof now !== "function") throw new TypeError(`"options.now" expected a function`);
    const openFile = options.openFile ?? open;
    if (typeof openFile !== "function") throw new TypeError(`"options.openFile" expected a function`);
    const journal = new Journal({
      dir: options.dir,
      retentionSeconds: options.retentionSeconds,
      logger: options.logger,
      maxEntries,
      compactAfterDeadRecords: compactAfter,
      now,
      openFile,
    });
    await journal.#load();
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
    return this.#flushes;
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
    const records = [formatRecord("S", key, timestamp)];
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
    return this.#append([formatRecord("D", key, entry.timestamp)]);
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
    return this.#append([formatRecord("A", key, entry.timestamp)]);
  }

  /** Waits for pending records to reach the disk, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing !== undefined) await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
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
  #evictOldest(): string {
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
    return formatRecord("F", "-", this.#floor);
  }

  #append(records: string[]): Promise<void> {
    this.#pending.push(...records);
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#flushing ??= this.#drain();
    });
  }

  async #drain(): Promise<void> {
    // Let every record written in this turn of the event loop join the first flush.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      const waiters = this.#waiters;
      this.#pending = [];
      this.#waiters = [];
      try {
        await this.#write(batch.join(""));
        this.#records += batch.length;
        for (const waiter of waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of waiters) waiter.reject(error as Error);
        continue;
      }
      if (this.#records - this.#entries.size > Math.max(this.#compactAfter, this.#entries.size)) {
        try {
          await this.#compact();
        } catch (error) {
          // The old file is intact (the rename did not happen): keep appending to it.
          this.#logger.warn({ err: error, path: this.#path }, "journal compaction failed; will retry");
        }
      }
    }
    this.#flushing = undefined;
  }

  async #write(text: string): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new JournalClosedError();
    const bytes = Buffer.from(text, "utf8");
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      await handle.datasync();
      this.#flushes += 1;
      this.#size += bytes.length;
    } catch (error) {
      // Cut a partial write off, so that the next record starts on a line of its own.
      await handle.truncate(this.#size).catch(() => undefined);
      throw new JournalWriteError(`cannot write the journal ${this.#path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  async #load(): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new JournalOpenError(
        `cannot create the journal directory ${this.#dir}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    let text = "";
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new JournalOpenError(`cannot read the journal ${this.#path}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    const lines = text.split("\n");
    // The last piece has no newline: empty for a clean file, a torn record after a crash mid-write.
    const torn = lines.pop() !== "";
    let garbled = 0;
    for (const line of lines) {
      const record = parseRecord(line);
      if (record === undefined) {
        garbled += 1;
        continue;
      }
      this.#replay(record);
    }
    if (torn || garbled > 0) {
      this.#logger.warn(
        { path: this.#path, tornLastLine: torn, garbledLines: garbled },
        "journal: skipped records that were not fully written",
      );
    }
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
    try {
      await this.#compact();
    } catch (error) {
      throw new JournalOpenError(`cannot write the journal ${this.#path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  #replay(record: { kind: RecordKind; key: string; timestamp: number }): void {
    const { kind, key, timestamp } = record;
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

  /** Rewrites the live entries to a temp file, flushes it, renames it over the journal, reopens it. */
  async #compact(): Promise<void> {
    const lines: string[] = [];
    if (this.#floor > 0) lines.push(formatRecord("F", "-", this.#floor));
    for (const [key, entry] of this.#entries) {
      lines.push(formatRecord(entry.state === "done" ? "D" : "S", key, entry.timestamp));
    }
    const text = lines.join("");
    const temp = join(this.#dir, TEMP);
    const out = await this.#openFile(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      await out.writeFile(text, "utf8");
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temp, this.#path);
    // The rename itself must survive a crash, or the journal could come back empty.
    const dir = await this.#openFile(this.#dir, constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.#handle?.close();
    this.#handle = await this.#openFile(this.#path, constants.O_WRONLY | constants.O_APPEND, 0o600);
    this.#size = Buffer.byteLength(text, "utf8");
    this.#records = lines.length;
  }
}
