// The server's replay memory of requests, on disk in state_dir/server beside the ledger: a request taken
// (its work done, about to be acknowledged) is refused for the rest of its validity window, also after a
// restart. Without it a sealed unban captured off the broker could be published again after a restart and
// lift an active ban. The file is an AppendLog of @net2ban/ledger (CRC per line, group-commit fdatasync,
// compaction) with lines of its own.
import { AppendLog, type LineCodec, type StateLogger } from "@net2ban/ledger";
import { type FreshnessGuard, MessageRejectedError, type OpenedMessage } from "@net2ban/protocol";

/** What Net2banServer asks of its replay memory (also met by an in-memory FreshnessGuard adapter). */
export interface RequestGuard {
  /** Accepts `opened` (fresh, not seen) and holds it as in progress, or throws MessageRejectedError. */
  check(opened: OpenedMessage): void;
  /** Lets a redelivery of `opened` through: it was refused or could not be carried out. */
  forget(opened: OpenedMessage): void;
  /**
   * `opened` was carried out: resolves once it is remembered for its whole window (on disk), so the
   * caller may acknowledge it. On failure it is forgotten, so the broker's redelivery is carried out.
   */
  taken(opened: OpenedMessage): Promise<void>;
  /** Whether `opened` was carried out already (a redelivery after a crash before its acknowledgement). */
  wasTaken(opened: OpenedMessage): boolean;
}

export interface RequestMemoryOptions {
  /** The server's state directory, `state_dir/server`. */
  dir: string;
  /** valid_wtime of [server]: how long (seconds) after its timestamp a request is accepted. */
  validWindowSeconds: number;
  logger: StateLogger;
  /** How far (seconds) a timestamp may be ahead of this clock; default 60, as the in-memory guard. */
  maxFutureSkewSeconds?: number;
  /** Most ids kept (default 100 000): when full the oldest goes and the floor rises to its timestamp. */
  maxEntries?: number;
  /** See AppendLog. */
  compactAfterDeadRecords?: number;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
}

const FILE = "requests";
/** v2 ids, v1 MAC hex: never a space or a newline (the line format relies on it). */
const KEY = /^[A-Za-z0-9._:-]{1,256}$/;

/** `T <key> <timestamp>`: taken; `F - <timestamp>`: nothing at or below it is accepted. */
interface MemoryRecord {
  kind: "T" | "F";
  key: string;
  timestamp: number;
}

const LINE = /^([TF]) (\S+) (\S+)$/;

const memoryLines: LineCodec<MemoryRecord> = {
  encode: ({ kind, key, timestamp }) => `${kind} ${key} ${timestamp}`,
  decode(text) {
    const match = LINE.exec(text);
    if (match === null) return undefined;
    const [, kind, key, time] = match as unknown as [string, "T" | "F", string, string];
    const timestamp = Number(time);
    if (!Number.isFinite(timestamp)) return undefined;
    if (kind === "T" && !KEY.test(key)) return undefined;
    return { kind, key, timestamp };
  },
};

function assertPositive(value: unknown, name: string): asserts value is number {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`"${name}" expected a number > 0, got ${String(value)}`);
  }
}

/**
 * The request ids taken within the window, kept on disk. The same freshness rules as FreshnessGuard
 * (window, future skew, `expires`, floor) decide first; then an id taken before, by this process or an
 * earlier one, is a replay. A request is written when it was carried out, not when it arrives: a crash in
 * between leaves it unacknowledged and unwritten, and the broker's redelivery is carried out again (agents
 * deduplicate by id), where writing it first would refuse that redelivery and lose the request.
 */
export class RequestMemory implements RequestGuard {
  readonly #skewSeconds: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #logger: StateLogger;
  #windowSeconds: number;
  /** Taken ids and their timestamps; insertion order is close to timestamp order (pruned from the head). */
  readonly #taken = new Map<string, number>();
  /** Accepted and being carried out: not on disk, a second copy meanwhile is a replay. */
  readonly #inProgress = new Map<string, number>();
  /** Nothing at or below this is accepted (seconds); raised by eviction and by ids leaving the window. */
  #floor = 0;
  #log: AppendLog<MemoryRecord> | undefined;
  #lastFullWarning = Number.NEGATIVE_INFINITY;

  private constructor(options: RequestMemoryOptions) {
    this.#windowSeconds = options.validWindowSeconds;
    this.#skewSeconds = options.maxFutureSkewSeconds ?? 60;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /** Reads `dir/requests` (if any), drops what left the window while the server was down, opens it. */
  static async open(options: RequestMemoryOptions): Promise<RequestMemory> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    assertPositive(options.validWindowSeconds, "options.validWindowSeconds");
    if (options.maxFutureSkewSeconds !== undefined) {
      assertPositive(options.maxFutureSkewSeconds, "options.maxFutureSkewSeconds");
    }
    const maxEntries = options.maxEntries ?? 100_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new TypeError(`"options.maxEntries" expected an integer >= 1, got ${String(maxEntries)}`);
    }
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new TypeError(`"options.now" expected a function`);
    }
    const memory = new RequestMemory(options);
    memory.#log = await AppendLog.open({
      dir: options.dir,
      file: FILE,
      label: "request memory",
      logger: options.logger,
      codec: memoryLines,
      replay: (record) => memory.#replay(record),
      replayed: () => memory.#prune(memory.#now() / 1000, true),
      snapshot: () => memory.#snapshot(),
      ...(options.compactAfterDeadRecords === undefined
        ? {}
        : { compactAfterDeadRecords: options.compactAfterDeadRecords }),
    });
    return memory;
  }

  /** Ids remembered as taken. */
  get size(): number {
    return this.#taken.size;
  }

  /** Nothing with a timestamp at or below this is accepted (seconds since the epoch; 0: none yet). */
  get floor(): number {
    return this.#floor;
  }

  /** A reload's valid_wtime; the ids kept stay (a shorter window only forgets them sooner). */
  set validWindowSeconds(seconds: number) {
    assertPositive(seconds, "validWindowSeconds");
    this.#windowSeconds = seconds;
  }

  check(opened: OpenedMessage): void {
    const nowSeconds = this.#now() / 1000;
    const { message, replayKey } = opened;
    const timestamp = message.timestamp;
    this.#prune(nowSeconds, false);
    if (timestamp < nowSeconds - this.#windowSeconds) {
      throw new MessageRejectedError("expired", `${Math.round(nowSeconds - timestamp)} s old`);
    }
    if (timestamp <= this.#floor) {
      throw new MessageRejectedError("expired", "older than the replay memory floor");
    }
    if (timestamp > nowSeconds + this.#skewSeconds) {
      throw new MessageRejectedError("future", `${Math.round(timestamp - nowSeconds)} s ahead`);
    }
    if ("expires" in message && message.expires !== undefined && message.expires <= nowSeconds) {
      throw new MessageRejectedError("expires-passed");
    }
    if (this.#taken.has(replayKey) || this.#inProgress.has(replayKey)) {
      throw new MessageRejectedError("replay");
    }
    if (!KEY.test(replayKey)) {
      // Unreachable through the codecs (ids are checked by the schema, v1 keys are MAC hex).
      throw new MessageRejectedError("schema", "request id not fit for the replay memory");
    }
    this.#inProgress.set(replayKey, timestamp);
  }

  forget(opened: OpenedMessage): void {
    this.#inProgress.delete(opened.replayKey);
  }

  wasTaken(opened: OpenedMessage): boolean {
    return this.#taken.has(opened.replayKey);
  }

  async taken(opened: OpenedMessage): Promise<void> {
    const { replayKey } = opened;
    const timestamp = opened.message.timestamp;
    this.#inProgress.delete(replayKey);
    if (this.#log === undefined) throw new Error("unreachable: request memory used before open");
    const records: MemoryRecord[] = [{ kind: "T", key: replayKey, timestamp }];
    this.#taken.set(replayKey, timestamp);
    while (this.#taken.size > this.#maxEntries) records.push(this.#evictOldest());
    try {
      await this.#log.append(records, this.#live());
    } catch (error) {
      this.#taken.delete(replayKey);
      throw error;
    }
  }

  /** Waits for pending records to reach the disk, then closes the file. */
  async close(): Promise<void> {
    await this.#log?.close();
  }

  #live(): number {
    return this.#taken.size + (this.#floor > 0 ? 1 : 0);
  }

  /**
   * Drops ids whose timestamp left the window (they are refused as expired anyway) and raises the floor to
   * them, so that a clock stepping back cannot let them in again. `all`: look at every id (at open),
   * else stop at the first live one from the head.
   */
  #prune(nowSeconds: number, all: boolean): void {
    const horizon = nowSeconds - this.#windowSeconds;
    for (const [key, timestamp] of this.#taken) {
      if (timestamp >= horizon) {
        if (all) continue;
        break;
      }
      this.#taken.delete(key);
      if (timestamp > this.#floor) this.#floor = timestamp;
    }
  }

  /** Full: forget the oldest id and raise the floor to it, so it can never be taken again. */
  #evictOldest(): MemoryRecord {
    const first = this.#taken.entries().next();
    if (first.done === true) throw new Error("unreachable: evicting from an empty request memory");
    const [key, timestamp] = first.value;
    this.#taken.delete(key);
    if (timestamp > this.#floor) this.#floor = timestamp;
    if (this.#now() - this.#lastFullWarning >= 60_000) {
      this.#logger.warn(
        { maxEntries: this.#maxEntries, floor: this.#floor },
        "request memory full: the oldest ids are forgotten and older requests refused",
      );
      this.#lastFullWarning = this.#now();
    }
    return { kind: "F", key: "-", timestamp: this.#floor };
  }

  #replay({ kind, key, timestamp }: MemoryRecord): void {
    if (kind === "F") {
      if (timestamp > this.#floor) this.#floor = timestamp;
    } else {
      this.#taken.set(key, timestamp);
    }
  }

  /** The floor, then every id taken: what a rewrite writes. */
  #snapshot(): MemoryRecord[] {
    const records: MemoryRecord[] = [];
    if (this.#floor > 0) records.push({ kind: "F", key: "-", timestamp: this.#floor });
    for (const [key, timestamp] of this.#taken) records.push({ kind: "T", key, timestamp });
    return records;
  }
}

/** A server without a state_dir: the in-process FreshnessGuard, which forgets everything on a restart. */
export function inMemoryRequestGuard(guard: FreshnessGuard): RequestGuard {
  return {
    check: (opened) => guard.check(opened),
    forget: (opened) => guard.forget(opened),
    taken: async () => undefined,
    wasTaken: () => false,
  };
}
