// The agent's ban schedule in state_dir/<client>/bans: the bans of the ledger this host holds, with their
// params and end, and a timer that calls back at each end (to the second) so the agent lifts them by
// itself, also when the server and the detecting host are gone. It survives restarts.
import { AppendLog, type BanIdentity, banKey, digestOf, type StateLogger } from "@net2ban/ledger";

/** One ban this host holds (or was applying when the agent stopped). */
export interface ScheduledBan extends BanIdentity {
  key: string;
  /** The `<tags>` its actionban ran with (besides ip and name); its actionunban uses the same. */
  params: Record<string, string>;
  /** When it ends (seconds since the epoch); null: never. */
  expiresAt: number | null;
  /** When this host applied it. */
  appliedAt: number;
}

export interface BanScheduleOptions {
  /** The agent's own directory, `state_dir/<client>`. */
  dir: string;
  logger: StateLogger;
  /** Called when held bans reach their end; the agent lifts them and calls release(). */
  onDue: (bans: ScheduledBan[]) => void;
  /** Clock in milliseconds since the epoch (as Date.now). */
  now?: () => number;
  compactAfterDeadRecords?: number;
}

type ScheduleRecord =
  | { t: "begin"; b: Omit<ScheduledBan, "key"> }
  | { t: "hold"; b: Omit<ScheduledBan, "key"> }
  | { t: "end"; k: string; e: number | null }
  | { t: "drop"; k: string };

const FILE = "bans";
/** setTimeout's limit; a later end is reached in steps. */
const MAX_TIMER_MS = 2_147_483_647;

function isBanFields(b: unknown): b is Omit<ScheduledBan, "key"> {
  if (typeof b !== "object" || b === null) return false;
  const v = b as Partial<ScheduledBan>;
  return (
    typeof v.file === "string" &&
    typeof v.name === "string" &&
    typeof v.ip === "string" &&
    typeof v.params === "object" &&
    v.params !== null &&
    (v.expiresAt === null || typeof v.expiresAt === "number") &&
    typeof v.appliedAt === "number"
  );
}

function isRecord(value: unknown): value is ScheduleRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as { t?: unknown; b?: unknown; k?: unknown; e?: unknown };
  switch (r.t) {
    case "begin":
    case "hold":
      return isBanFields(r.b);
    case "end":
      return typeof r.k === "string" && (r.e === null || typeof r.e === "number");
    case "drop":
      return typeof r.k === "string";
    default:
      return false;
  }
}

function fields(ban: ScheduledBan): Omit<ScheduledBan, "key"> {
  const { key: _key, ...rest } = ban;
  return rest;
}

/**
 * Held bans and bans in doubt. A ban is recorded as begun (on disk) before its actionban runs and as held
 * once it succeeded: one begun but never held was cut off by a crash, and the agent undoes it at start
 * (the catch-up from the server applies it again if it is still active).
 */
export class BanSchedule {
  readonly #held = new Map<string, ScheduledBan>();
  readonly #begun = new Map<string, ScheduledBan>();
  readonly #now: () => number;
  readonly #onDue: (bans: ScheduledBan[]) => void;
  readonly #logger: StateLogger;
  #log: AppendLog | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Keys handed to onDue and not yet released or moved: not handed again. */
  readonly #due = new Set<string>();
  #running = false;

  private constructor(options: BanScheduleOptions) {
    this.#now = options.now ?? Date.now;
    this.#onDue = options.onDue;
    this.#logger = options.logger;
  }

  static async open(options: BanScheduleOptions): Promise<BanSchedule> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    if (typeof options.onDue !== "function") throw new TypeError(`"options.onDue" expected a function`);
    if (options.now !== undefined && typeof options.now !== "function") {
      throw new TypeError(`"options.now" expected a function`);
    }
    const schedule = new BanSchedule(options);
    let skipped = 0;
    schedule.#log = await AppendLog.open({
      dir: options.dir,
      file: FILE,
      logger: options.logger,
      ...(options.compactAfterDeadRecords === undefined
        ? {}
        : { compactAfterDeadRecords: options.compactAfterDeadRecords }),
      replay: (record) => {
        if (isRecord(record)) schedule.#replay(record);
        else skipped += 1;
      },
      snapshot: () => schedule.#snapshot(),
    });
    if (skipped > 0) options.logger.warn({ skipped }, "ban schedule: skipped records of an unknown shape");
    return schedule;
  }

  /** Seconds since the epoch. */
  now(): number {
    return this.#now() / 1000;
  }

  /** The bans held, in the order they were applied. */
  held(): ScheduledBan[] {
    return [...this.#held.values()];
  }

  get(key: string): ScheduledBan | undefined {
    return this.#held.get(key);
  }

  get size(): number {
    return this.#held.size;
  }

  /** Bans whose actionban was running when an earlier process stopped. */
  inDoubt(): ScheduledBan[] {
    return [...this.#begun.values()];
  }

  /** Held bans whose end has come. */
  overdue(): ScheduledBan[] {
    const now = this.now();
    return this.held().filter((ban) => ban.expiresAt !== null && ban.expiresAt <= now);
  }

  /** Count and hash of the held bans that are not past their end, plus `extra` keys (see AgentState). */
  digest(extra: Iterable<string> = []): { count: number; hash: string } {
    const now = this.now();
    const keys = this.held()
      .filter((ban) => ban.expiresAt === null || ban.expiresAt > now)
      .map((ban) => ban.key);
    return digestOf([...keys, ...extra]);
  }

  /** Records (on disk) that `ban`'s actionban is about to run. */
  async begin(
    ban: BanIdentity & { params: Record<string, string>; expiresAt: number | null },
  ): Promise<ScheduledBan> {
    const [entry] = await this.beginAll([ban]);
    return entry!;
  }

  /**
   * Records (on disk, one flush for all) that the actionban of each of `bans` is about to run; the
   * entries come back in the same order.
   */
  async beginAll(
    bans: ReadonlyArray<BanIdentity & { params: Record<string, string>; expiresAt: number | null }>,
  ): Promise<ScheduledBan[]> {
    const appliedAt = this.now();
    const entries = bans.map(
      (ban): ScheduledBan => ({
        key: banKey(ban),
        file: ban.file,
        name: ban.name,
        ip: ban.ip,
        params: { ...ban.params },
        expiresAt: ban.expiresAt,
        appliedAt,
      }),
    );
    for (const entry of entries) this.#begun.set(entry.key, entry);
    await this.#append(entries.map((entry): ScheduleRecord => ({ t: "begin", b: fields(entry) })));
    return entries;
  }

  /** The begun ban's actionban succeeded: it is held until its end. */
  hold(entry: ScheduledBan): Promise<void> {
    return this.settle([entry], []);
  }

  /**
   * How the actionbans of begun bans went, in one flush: `held` succeeded (held until their end), the
   * bans of `released` did not (forgotten).
   */
  async settle(held: readonly ScheduledBan[], released: readonly string[]): Promise<void> {
    const records: ScheduleRecord[] = [];
    for (const entry of held) {
      this.#begun.delete(entry.key);
      this.#held.set(entry.key, entry);
      this.#due.delete(entry.key);
      records.push({ t: "hold", b: fields(entry) });
    }
    records.push(...this.#forget(released));
    await this.#append(records);
    this.#arm();
  }

  /** Moves a held ban's end (the ledger's end wins, longer or shorter). */
  setEnd(key: string, expiresAt: number | null): Promise<void> {
    return this.setEnds([{ key, expiresAt }]);
  }

  /** Moves the ends of held bans, in one flush. */
  async setEnds(changes: ReadonlyArray<{ key: string; expiresAt: number | null }>): Promise<void> {
    const records: ScheduleRecord[] = [];
    for (const { key, expiresAt } of changes) {
      const entry = this.#held.get(key);
      if (entry === undefined || entry.expiresAt === expiresAt) continue;
      entry.expiresAt = expiresAt;
      this.#due.delete(key);
      records.push({ t: "end", k: key, e: expiresAt });
    }
    if (records.length === 0) return;
    await this.#append(records);
    this.#arm();
  }

  /** Forgets a ban (lifted, or its actionban failed, or found gone from the host). */
  release(key: string): Promise<void> {
    return this.releaseAll([key]);
  }

  /** Forgets bans, in one flush. */
  async releaseAll(keys: readonly string[]): Promise<void> {
    const records = this.#forget(keys);
    if (records.length > 0) await this.#append(records);
    this.#arm();
  }

  #forget(keys: readonly string[]): ScheduleRecord[] {
    const records: ScheduleRecord[] = [];
    for (const key of keys) {
      const known = this.#held.delete(key) || this.#begun.delete(key);
      this.#due.delete(key);
      if (known) records.push({ t: "drop", k: key });
    }
    return records;
  }

  /** Flushes of the schedule file so far (a batch of bans costs one per step, not one per ban). */
  get flushes(): number {
    return this.#log?.flushes ?? 0;
  }

  /** Starts calling onDue at each end (at once for those already past). */
  start(): void {
    this.#running = true;
    this.#arm();
  }

  /** Stops the timer and closes the file. */
  async close(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#log?.close();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#running) return;
    let next: number | undefined;
    for (const ban of this.#held.values()) {
      if (ban.expiresAt === null || this.#due.has(ban.key)) continue;
      if (next === undefined || ban.expiresAt < next) next = ban.expiresAt;
    }
    if (next === undefined) return;
    const delay = Math.min(Math.max(0, next * 1000 - this.#now()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => this.#fire(), delay);
    // The broker connection keeps the agent alive; the timer must not hold a stopping process.
    this.#timer.unref();
  }

  #fire(): void {
    this.#timer = undefined;
    const due = this.overdue().filter((ban) => !this.#due.has(ban.key));
    for (const ban of due) this.#due.add(ban.key);
    if (due.length > 0) {
      try {
        this.#onDue(due);
      } catch (error) {
        this.#logger.error({ err: error }, "ban schedule: the expiry handler failed");
      }
    }
    this.#arm();
  }

  #append(records: ScheduleRecord[]): Promise<void> {
    if (this.#log === undefined) throw new Error("unreachable: schedule used before open");
    return this.#log.append(records, this.#held.size + this.#begun.size);
  }

  #replay(record: ScheduleRecord): void {
    switch (record.t) {
      case "begin": {
        const entry = { ...record.b, key: banKey(record.b) };
        this.#begun.set(entry.key, entry);
        break;
      }
      case "hold": {
        const entry = { ...record.b, key: banKey(record.b) };
        this.#begun.delete(entry.key);
        this.#held.set(entry.key, entry);
        break;
      }
      case "end": {
        const entry = this.#held.get(record.k);
        if (entry !== undefined) entry.expiresAt = record.e;
        break;
      }
      case "drop":
        this.#held.delete(record.k);
        this.#begun.delete(record.k);
        break;
    }
  }

  #snapshot(): ScheduleRecord[] {
    return [
      ...[...this.#held.values()].map((ban): ScheduleRecord => ({ t: "hold", b: fields(ban) })),
      ...[...this.#begun.values()].map((ban): ScheduleRecord => ({ t: "begin", b: fields(ban) })),
    ];
  }
}
