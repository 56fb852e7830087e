// An append-only file of JSON records, each line checked by a CRC and flushed to disk before its promise
// resolves; rewritten from the owner's live state when dead records pile up. The server's ledger and
// the agents' ban schedule keep their state in one (the agent's journal of message ids set the pattern).
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/** The subset of a pino logger the log writes to. */
export interface StateLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

export interface AppendLogOptions {
  /** Directory of the file; created (mode 0700) if missing. Absolute. */
  dir: string;
  /** File name inside `dir`. */
  file: string;
  logger: StateLogger;
  /** Called with each intact record read back at open, in order. */
  replay: (record: unknown) => void;
  /** The live state as records (written by compaction); called after every replay. */
  snapshot: () => unknown[];
  /** Dead records tolerated before the file is rewritten (beyond the live ones); default 1024. */
  compactAfterDeadRecords?: number;
  /** Opens files and the directory (default node:fs/promises `open`; tests inject failures). */
  openFile?: (path: string, flags: number, mode?: number) => Promise<FileHandle>;
}

/** The state file could not be read or created. */
export class StateOpenError extends Error {
  override readonly name = "StateOpenError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A record could not be written and flushed: the change it was for must not be relied on. */
export class StateWriteError extends Error {
  override readonly name = "StateWriteError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The log was used after close(). */
export class StateClosedError extends Error {
  override readonly name = "StateClosedError";
  constructor(message = "state file is closed", options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One line: the record's JSON, a space, the CRC-32 of the JSON (hex); a torn or garbled line shows. */
export function formatLine(record: unknown): string {
  const json = JSON.stringify(record);
  return `${json} ${crc32(json).toString(16).padStart(8, "0")}\n`;
}

/** The record of a line, or undefined for a line that is torn, garbled or not a record. */
export function parseLine(line: string): unknown {
  const space = line.lastIndexOf(" ");
  if (space <= 0 || line.length - space !== 9) return undefined;
  const json = line.slice(0, space);
  if (crc32(json).toString(16).padStart(8, "0") !== line.slice(space + 1)) return undefined;
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
  }
}

interface Waiter {
  resolve: () => void;
  reject: (error: Error) => void;
}

/**
 * Records appended in the same turn of the event loop, or while a flush runs, share the next flush
 * (group commit: thousands of records cost one fdatasync). The file is rewritten from `snapshot()` at
 * open (dropping a torn last line left by a crash) and whenever dead records outnumber the live ones.
 */
export class AppendLog {
  readonly #dir: string;
  readonly #path: string;
  readonly #logger: StateLogger;
  readonly #snapshot: () => unknown[];
  readonly #compactAfter: number;
  readonly #openFile: NonNullable<AppendLogOptions["openFile"]>;
  #handle: FileHandle | undefined;
  #size = 0;
  #records = 0;
  #live = 0;
  #pending: string[] = [];
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | undefined;
  #closed = false;
  #flushes = 0;

  private constructor(options: AppendLogOptions) {
    this.#dir = options.dir;
    this.#path = join(options.dir, options.file);
    this.#logger = options.logger;
    this.#snapshot = options.snapshot;
    this.#compactAfter = options.compactAfterDeadRecords ?? 1024;
    this.#openFile = options.openFile ?? open;
  }

  /** Reads the file (if any) through `replay`, rewrites it from `snapshot()`, opens it for appending. */
  static async open(options: AppendLogOptions): Promise<AppendLog> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    if (typeof options.dir !== "string" || !options.dir.startsWith("/")) {
      throw new TypeError(`"options.dir" expected an absolute path, got ${JSON.stringify(options.dir)}`);
    }
    if (typeof options.file !== "string" || !/^[A-Za-z0-9_.-]+$/.test(options.file)) {
      throw new TypeError(`"options.file" expected a plain file name, got ${JSON.stringify(options.file)}`);
    }
    for (const name of ["replay", "snapshot"] as const) {
      if (typeof options[name] !== "function") throw new TypeError(`"options.${name}" expected a function`);
    }
    if (typeof options.logger !== "object" || options.logger === null) {
      throw new TypeError(`"options.logger" expected a logger`);
    }
    const compactAfter = options.compactAfterDeadRecords ?? 1024;
    if (!Number.isSafeInteger(compactAfter) || compactAfter < 0) {
      throw new TypeError(`"options.compactAfterDeadRecords" expected an integer >= 0, got ${compactAfter}`);
    }
    const log = new AppendLog(options);
    await log.#load(options.replay);
    return log;
  }

  /** Where the records are. */
  get path(): string {
    return this.#path;
  }

  /** Flushes to disk so far. */
  get flushes(): number {
    return this.#flushes;
  }

  /**
   * Appends `records`; resolves once they are on disk. `live` is how many records the owner's state
   * holds after this change (what a rewrite would write), which decides when to compact.
   */
  append(records: readonly unknown[], live: number): Promise<void> {
    if (this.#closed) return Promise.reject(new StateClosedError());
    this.#live = live;
    for (const record of records) this.#pending.push(formatLine(record));
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#flushing ??= this.#drain();
    });
  }

  /** Waits for pending records to reach the disk, then closes the file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#flushing !== undefined) await this.#flushing;
    await this.#handle?.close();
    this.#handle = undefined;
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
      if (this.#records - this.#live > Math.max(this.#compactAfter, this.#live)) {
        try {
          await this.#compact();
        } catch (error) {
          // The old file is intact (the rename did not happen): keep appending to it.
          this.#logger.warn({ err: error, path: this.#path }, "state file compaction failed; will retry");
        }
      }
    }
    this.#flushing = undefined;
  }

  async #write(text: string): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new StateClosedError();
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
      throw new StateWriteError(`cannot write ${this.#path}: ${(error as Error).message}`, { cause: error });
    }
  }

  async #load(replay: (record: unknown) => void): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StateOpenError(`cannot create ${this.#dir}: ${(error as Error).message}`, { cause: error });
    }
    let text = "";
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new StateOpenError(`cannot read ${this.#path}: ${(error as Error).message}`, { cause: error });
      }
    }
    const lines = text.split("\n");
    // The last piece has no newline: empty for a clean file, a torn record after a crash mid-write.
    const torn = lines.pop() !== "";
    let garbled = 0;
    for (const line of lines) {
      const record = parseLine(line);
      if (record === undefined) garbled += 1;
      else replay(record);
    }
    if (torn || garbled > 0) {
      this.#logger.warn(
        { path: this.#path, tornLastLine: torn, garbledLines: garbled },
        "state file: skipped records that were not fully written",
      );
    }
    try {
      await this.#compact();
    } catch (error) {
      throw new StateOpenError(`cannot write ${this.#path}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Rewrites the live state to a temp file, flushes it, renames it over the file, reopens it. */
  async #compact(): Promise<void> {
    const records = this.#snapshot();
    const text = records.map((record) => formatLine(record)).join("");
    const temp = `${this.#path}.tmp`;
    const out = await this.#openFile(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      await out.writeFile(text, "utf8");
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temp, this.#path);
    // The rename itself must survive a crash, or the state could come back empty.
    const dir = await this.#openFile(this.#dir, constants.O_RDONLY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.#handle?.close();
    this.#handle = await this.#openFile(this.#path, constants.O_WRONLY | constants.O_APPEND, 0o600);
    this.#size = Buffer.byteLength(text, "utf8");
    this.#records = records.length;
    this.#live = records.length;
  }
}
