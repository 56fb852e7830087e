// An append-only file of records, one line each checked by a CRC and flushed to disk before its promise
// resolves; rewritten from the owner's live state when dead records pile up. The server's ledger, the
// agents' ban schedule (JSON records) and the agents' journal of message ids (its own compact lines) keep
// their state in one.
import { constants } from "node:fs";
import { type FileHandle, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";

/** The subset of a pino logger the log writes to. */
export interface StateLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** How a record becomes the text of its line and back; the log adds the CRC and the newline. */
export interface LineCodec<R> {
  /** The record's text: never a newline in it. */
  encode(record: R): string;
  /** The record of a line's text (its CRC already checked), or undefined if it is not one. */
  decode(text: string): R | undefined;
}

/** The default codec: a record is its JSON (any JSON value; the owner checks its shape in `replay`). */
export const jsonLines: LineCodec<unknown> = {
  encode: (record) => JSON.stringify(record),
  decode: (text) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  },
};

interface AppendLogBaseOptions<R> {
  /** Directory of the file; created (mode 0700) if missing. Absolute. */
  dir: string;
  /** File name inside `dir`. */
  file: string;
  logger: StateLogger;
  /** What the file is to an operator, in errors and log lines (`journal`); default `state file`. */
  label?: string;
  /** Called with each intact record read back at open, in order. */
  replay: (record: NoInfer<R>) => void;
  /**
   * Called once after the last replay, before the file is rewritten at open: the owner drops what the
   * records left stale (ids expired while the process was down), so the rewrite leaves them out.
   */
  replayed?: () => void;
  /** The live state as records (written by compaction); called after every replay. */
  snapshot: () => NoInfer<R>[];
  /** Dead records tolerated before the file is rewritten (beyond the live ones); default 1024. */
  compactAfterDeadRecords?: number;
  /** Opens files and the directory (default node:fs/promises `open`; tests inject failures). */
  openFile?: (path: string, flags: number, mode?: number) => Promise<FileHandle>;
}

/**
 * Records other than plain JSON values need their codec (a JSON line read back is not checked); the record
 * type comes from the codec alone, so an owner's snapshot of typed records still uses the JSON default.
 */
export type AppendLogOptions<R = unknown> = AppendLogBaseOptions<R> &
  (unknown extends R ? { codec?: LineCodec<R> } : { codec: LineCodec<R> });

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

const crcHex = (text: string): string => crc32(text).toString(16).padStart(8, "0");

/**
 * One line: the record's text (its JSON by default), a space, the CRC-32 of the text (8 hex digits), a
 * newline; a torn or garbled line shows.
 */
export function formatLine(record: unknown): string;
export function formatLine<R>(record: R, codec: LineCodec<R>): string;
export function formatLine<R>(record: R, codec = jsonLines as LineCodec<R>): string {
  const text = codec.encode(record);
  if (text.includes("\n"))
    throw new TypeError(`"record" expected text without a newline, got ${JSON.stringify(text)}`);
  return `${text} ${crcHex(text)}\n`;
}

/** The record of a line (without its newline), or undefined for a line that is torn, garbled or not a record. */
export function parseLine(line: string): unknown;
export function parseLine<R>(line: string, codec: LineCodec<R>): R | undefined;
export function parseLine<R>(line: string, codec = jsonLines as LineCodec<R>): R | undefined {
  const space = line.lastIndexOf(" ");
  if (space <= 0 || line.length - space !== 9) return undefined;
  const text = line.slice(0, space);
  if (crcHex(text) !== line.slice(space + 1)) return undefined;
  return codec.decode(text);
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
export class AppendLog<R = unknown> {
  readonly #dir: string;
  readonly #path: string;
  readonly #label: string;
  readonly #logger: StateLogger;
  readonly #codec: LineCodec<R>;
  readonly #snapshot: () => R[];
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

  private constructor(options: AppendLogOptions<R>) {
    this.#dir = options.dir;
    this.#path = join(options.dir, options.file);
    this.#label = options.label ?? "state file";
    this.#logger = options.logger;
    this.#codec = options.codec ?? (jsonLines as LineCodec<R>);
    this.#snapshot = options.snapshot;
    this.#compactAfter = options.compactAfterDeadRecords ?? 1024;
    this.#openFile = options.openFile ?? open;
  }

  /** Reads the file (if any) through `replay`, rewrites it from `snapshot()`, opens it for appending. */
  static async open<R = unknown>(options: AppendLogOptions<R>): Promise<AppendLog<R>> {
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
    for (const name of ["replayed", "openFile"] as const) {
      if (options[name] !== undefined && typeof options[name] !== "function") {
        throw new TypeError(`"options.${name}" expected a function`);
      }
    }
    if (typeof options.logger !== "object" || options.logger === null) {
      throw new TypeError(`"options.logger" expected a logger`);
    }
    if (options.label !== undefined && (typeof options.label !== "string" || options.label === "")) {
      throw new TypeError(`"options.label" expected a name, got ${JSON.stringify(options.label)}`);
    }
    const codec: unknown = options.codec;
    if (
      codec !== undefined &&
      (typeof codec !== "object" ||
        codec === null ||
        typeof (codec as LineCodec<R>).encode !== "function" ||
        typeof (codec as LineCodec<R>).decode !== "function")
    ) {
      throw new TypeError(`"options.codec" expected { encode, decode }`);
    }
    const compactAfter = options.compactAfterDeadRecords ?? 1024;
    if (!Number.isSafeInteger(compactAfter) || compactAfter < 0) {
      throw new TypeError(`"options.compactAfterDeadRecords" expected an integer >= 0, got ${compactAfter}`);
    }
    const log = new AppendLog<R>(options);
    await log.#load(options.replay, options.replayed);
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
  append(records: readonly R[], live: number): Promise<void> {
    if (this.#closed) return Promise.reject(new StateClosedError(`${this.#label} is closed`));
    this.#live = live;
    for (const record of records) this.#pending.push(formatLine(record, this.#codec));
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
          this.#logger.warn({ err: error, path: this.#path }, `${this.#label} compaction failed; will retry`);
        }
      }
    }
    this.#flushing = undefined;
  }

  async #write(text: string): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) throw new StateClosedError(`${this.#label} is closed`);
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
      throw new StateWriteError(this.#failed("write", this.#path, error), { cause: error });
    }
  }

  /** `cannot write the journal /var/lib/net2ban/web1/journal: ENOSPC: ...` */
  #failed(verb: "create" | "read" | "write", path: string, error: unknown): string {
    const what = verb === "create" ? `${this.#label} directory` : this.#label;
    return `cannot ${verb} the ${what} ${path}: ${(error as Error).message}`;
  }

  async #load(replay: (record: R) => void, replayed: (() => void) | undefined): Promise<void> {
    try {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new StateOpenError(this.#failed("create", this.#dir, error), { cause: error });
    }
    let text = "";
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new StateOpenError(this.#failed("read", this.#path, error), { cause: error });
      }
    }
    const lines = text.split("\n");
    // The last piece has no newline: empty for a clean file, a torn record after a crash mid-write.
    const torn = lines.pop() !== "";
    let garbled = 0;
    for (const line of lines) {
      const record = parseLine(line, this.#codec);
      if (record === undefined) garbled += 1;
      else replay(record);
    }
    if (torn || garbled > 0) {
      this.#logger.warn(
        { path: this.#path, tornLastLine: torn, garbledLines: garbled },
        `${this.#label}: skipped records that were not fully written`,
      );
    }
    replayed?.();
    try {
      await this.#compact();
    } catch (error) {
      throw new StateOpenError(this.#failed("write", this.#path, error), { cause: error });
    }
  }

  /**
   * Rewrites the live state to a temp file, flushes it, renames it over the file, reopens it. The temp
   * file is always a new one: whatever is at its path (a crash's leftover, a planted symlink) is
   * removed first (unlink never follows a link), and it is created with O_EXCL | O_NOFOLLOW, so the
   * state is never written through a link into another file; if something appears there in between,
   * the compaction fails (EEXIST) and the old file stays in use.
   */
  async #compact(): Promise<void> {
    const records = this.#snapshot();
    const text = records.map((record) => formatLine(record, this.#codec)).join("");
    const temp = `${this.#path}.tmp`;
    await rm(temp, { force: true });
    const out = await this.#openFile(
      temp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      await out.writeFile(text, "utf8");
      await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temp, this.#path);
    // The rename itself must survive a crash, or the state could come back empty.
    const dir = await this.#openFile(this.#dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    await this.#handle?.close();
    this.#handle = await this.#openFile(
      this.#path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW,
      0o600,
    );
    this.#size = Buffer.byteLength(text, "utf8");
    this.#records = records.length;
    this.#live = records.length;
  }
}
