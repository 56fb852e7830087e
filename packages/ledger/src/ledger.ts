// The server's ledger: the authoritative set of active bans (with their end, params and target hosts) and
// each host's state of each ban, kept durably in state_dir and pruned as bans expire.
import { AppendLog, type StateLogger } from "./append-log.js";
import { type BanIdentity, banKey } from "./digest.js";

/** A host's state of one ban: sent and not confirmed, confirmed, or its action failed there. */
export interface HostStatus {
  state: "pending" | "applied" | "failed";
  /** When it was set (seconds since the epoch). */
  at: number;
  exitCode?: number | null;
  detail?: string;
}

/** One active ban. Times are seconds since the epoch. */
export interface LedgerBan extends BanIdentity {
  key: string;
  /** `<tags>` the hosts run its action with (besides ip and name); the unban uses the same. */
  params: Record<string, string>;
  /** When it ends; null: never. */
  expiresAt: number | null;
  createdAt: number;
  updatedAt: number;
  /** The request that created or last extended it. */
  requestId: string;
  sender: string;
  /**
   * Whose key sealed that request: "server" (the [server] key) or a publisher's name. Ledgers written
   * before publishers existed read as "server".
   */
  publisher: string;
  /**
   * Who holds it and until when (null: no end), by publisher ("server" for the [server] key). The ban
   * lasts until the last hold ends or is released; `expiresAt` is the latest of them.
   */
  holders: Map<string, number | null>;
  /** The hosts it is for; null: every host. */
  to: string[] | null;
  /** Each host's state, by client name. */
  hosts: Map<string, HostStatus>;
}

/** What a ban request asks for. */
export interface BanInput extends BanIdentity {
  params: Record<string, string>;
  expiresAt: number | null;
  requestId: string;
  sender: string;
  /** Whose key sealed the request; default "server". */
  publisher?: string;
  to: string[] | null;
}

/**
 * What a ban did to the ledger: a new ban; an active one made to last longer (`extended`); or nothing,
 * because the active one already lasts at least as long (`unchanged`).
 */
export type BanChange = "new" | "extended" | "unchanged";

export interface LedgerOptions {
  /** The server's own state directory, e.g. `state_dir/server`. */
  dir: string;
  logger: StateLogger;
  /** Clock in milliseconds since the epoch (as Date.now). */
  now?: () => number;
  /** See AppendLog. */
  compactAfterDeadRecords?: number;
}

type Record_ =
  | {
      t: "ban";
      b: Omit<LedgerBan, "hosts" | "key" | "publisher" | "holders"> & {
        publisher?: string;
        holders?: Record<string, number | null>;
      };
    }
  | { t: "unban"; k: string }
  | { t: "host"; k: string; h: string; s: HostStatus };

const FILE = "ledger";

/** A later end than `b`? null (no end) is later than any time. */
function endsLater(a: number | null, b: number | null): boolean {
  if (a === null) return b !== null;
  return b !== null && a > b;
}

function isRecord(value: unknown): value is Record_ {
  if (typeof value !== "object" || value === null) return false;
  const t = (value as { t?: unknown }).t;
  if (t === "ban") {
    const b = (value as { b?: Partial<LedgerBan> }).b;
    return (
      typeof b === "object" &&
      b !== null &&
      typeof b.file === "string" &&
      typeof b.name === "string" &&
      typeof b.ip === "string" &&
      typeof b.params === "object" &&
      b.params !== null &&
      (b.expiresAt === null || typeof b.expiresAt === "number") &&
      typeof b.createdAt === "number" &&
      typeof b.updatedAt === "number" &&
      typeof b.requestId === "string" &&
      typeof b.sender === "string" &&
      (b.publisher === undefined || typeof b.publisher === "string") &&
      (b.holders === undefined || (typeof b.holders === "object" && b.holders !== null)) &&
      (b.to === null || Array.isArray(b.to))
    );
  }
  if (t === "unban") return typeof (value as { k?: unknown }).k === "string";
  if (t === "host") {
    const v = value as { k?: unknown; h?: unknown; s?: { state?: unknown; at?: unknown } };
    return (
      typeof v.k === "string" &&
      typeof v.h === "string" &&
      typeof v.s === "object" &&
      v.s !== null &&
      ["pending", "applied", "failed"].includes(String(v.s.state)) &&
      typeof v.s.at === "number"
    );
  }
  return false;
}

function banRecord(ban: LedgerBan): Record_ {
  const { hosts: _hosts, key: _key, publisher, holders, ...fields } = ban;
  // A ban of the [server] key alone is written as before publishers existed, so older readers read it.
  const alone = holders.size === 1 && holders.get(publisher) === ban.expiresAt;
  if (alone && publisher === "server") return { t: "ban", b: fields };
  return {
    t: "ban",
    b: alone ? { ...fields, publisher } : { ...fields, publisher, holders: Object.fromEntries(holders) },
  };
}

/** The latest end of `holders` (null: one has no end). */
function latestEnd(holders: ReadonlyMap<string, number | null>): number | null {
  let latest: number | null = 0;
  for (const end of holders.values()) if (latest !== null && (end === null || end > latest)) latest = end;
  return latest;
}

/**
 * The active bans, by key (action file, jail name, address). Every change is on disk before its promise
 * resolves; reads are synchronous. A ban past its end is not active even before expire() removes it.
 */
export class Ledger {
  readonly #bans = new Map<string, LedgerBan>();
  readonly #now: () => number;
  #log: AppendLog | undefined;
  /** Records a rewrite would write: one per ban and one per host state. */
  #live = 0;

  private constructor(now: () => number) {
    this.#now = now;
  }

  static async open(options: LedgerOptions): Promise<Ledger> {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    const now = options.now ?? Date.now;
    if (typeof now !== "function") throw new TypeError(`"options.now" expected a function`);
    const ledger = new Ledger(now);
    let skipped = 0;
    ledger.#log = await AppendLog.open({
      dir: options.dir,
      file: FILE,
      logger: options.logger,
      ...(options.compactAfterDeadRecords === undefined
        ? {}
        : { compactAfterDeadRecords: options.compactAfterDeadRecords }),
      replay: (record) => {
        if (isRecord(record)) ledger.#replay(record);
        else skipped += 1;
      },
      snapshot: () => ledger.#snapshot(),
    });
    if (skipped > 0) {
      options.logger.warn({ path: ledger.#log.path, skipped }, "ledger: skipped records of an unknown shape");
    }
    return ledger;
  }

  #nowSeconds(): number {
    return this.#now() / 1000;
  }

  #isActive(ban: LedgerBan, nowSeconds: number): boolean {
    return ban.expiresAt === null || ban.expiresAt > nowSeconds;
  }

  /** Flushes to disk so far (a batch of changes made together shares one). */
  get flushes(): number {
    return this.#log?.flushes ?? 0;
  }

  /** Bans held (active or past their end but not yet expired()). */
  get size(): number {
    return this.#bans.size;
  }

  /** The active bans, oldest first. */
  active(): LedgerBan[] {
    const nowSeconds = this.#nowSeconds();
    return [...this.#bans.values()].filter((ban) => this.#isActive(ban, nowSeconds));
  }

  /** The active ban of `identity`, if any. */
  get(identity: BanIdentity | string): LedgerBan | undefined {
    const ban = this.#bans.get(typeof identity === "string" ? identity : banKey(identity));
    return ban !== undefined && this.#isActive(ban, this.#nowSeconds()) ? ban : undefined;
  }

  /** The earliest end among the bans held (seconds), or undefined when none ends. */
  nextExpiry(): number | undefined {
    let next: number | undefined;
    for (const ban of this.#bans.values()) {
      if (ban.expiresAt !== null && (next === undefined || ban.expiresAt < next)) next = ban.expiresAt;
    }
    return next;
  }

  /**
   * Records a ban. An active ban of the same key that ends earlier is extended to the new end (its params
   * stay those its hosts applied, its hosts are the union of both); one that ends as late or later is
   * left as it is. Hosts of a new ban start with no state; the caller marks them pending as it sends.
   */
  async ban(input: BanInput): Promise<{ ban: LedgerBan; change: BanChange }> {
    const nowSeconds = this.#nowSeconds();
    const key = banKey(input);
    const existing = this.#bans.get(key);
    if (existing !== undefined && this.#isActive(existing, nowSeconds)) {
      const later = endsLater(input.expiresAt, existing.expiresAt);
      const to =
        existing.to === null || input.to === null ? null : [...new Set([...existing.to, ...input.to])];
      const widened = existing.to !== null && (to === null || to.length > existing.to.length);
      // Each publisher's hold has its own end; the ban lasts as long as the latest.
      const holder = input.publisher ?? "server";
      const own = existing.holders.get(holder);
      const holdGrows = own === undefined || endsLater(input.expiresAt, own);
      if (holdGrows) existing.holders.set(holder, input.expiresAt);
      if (!later && !widened) {
        if (!holdGrows) return { ban: existing, change: "unchanged" };
        existing.updatedAt = nowSeconds;
        await this.#append([banRecord(existing)]);
        return { ban: existing, change: "unchanged" };
      }
      if (later) existing.expiresAt = input.expiresAt;
      existing.to = to;
      existing.updatedAt = nowSeconds;
      existing.requestId = input.requestId;
      existing.sender = input.sender;
      existing.publisher = input.publisher ?? "server";
      await this.#append([banRecord(existing)]);
      return { ban: existing, change: later ? "extended" : "unchanged" };
    }
    if (existing !== undefined) this.#remove(key);
    const ban: LedgerBan = {
      key,
      file: input.file,
      name: input.name,
      ip: input.ip,
      params: { ...input.params },
      expiresAt: input.expiresAt,
      createdAt: nowSeconds,
      updatedAt: nowSeconds,
      requestId: input.requestId,
      sender: input.sender,
      publisher: input.publisher ?? "server",
      holders: new Map([[input.publisher ?? "server", input.expiresAt]]),
      to: input.to === null ? null : [...input.to],
      hosts: new Map(),
    };
    this.#bans.set(key, ban);
    this.#live += 1;
    await this.#append(existing === undefined ? [banRecord(ban)] : [{ t: "unban", k: key }, banRecord(ban)]);
    return { ban, change: "new" };
  }

  /** Removes the active bans of `ip` (of that file / name only, when given); returns them. */
  async unban(match: {
    ip: string;
    file?: string | undefined;
    name?: string | undefined;
  }): Promise<LedgerBan[]> {
    const removed = this.active().filter(
      (ban) =>
        ban.ip === match.ip &&
        (match.file === undefined || ban.file === match.file) &&
        (match.name === undefined || ban.name === match.name),
    );
    return this.#removeAll(removed);
  }

  /**
   * Releases `publisher`'s hold on the active bans of `ip` (of that file / name only, when given): a ban
   * nobody else holds is removed (`lifted`, to be lifted on the hosts); one still held by others stays
   * (`kept`) and lasts until the latest remaining hold.
   */
  async release(match: {
    ip: string;
    file?: string | undefined;
    name?: string | undefined;
    publisher: string;
  }): Promise<{ lifted: LedgerBan[]; kept: LedgerBan[] }> {
    const held = this.active().filter(
      (ban) =>
        ban.ip === match.ip &&
        ban.holders.has(match.publisher) &&
        (match.file === undefined || ban.file === match.file) &&
        (match.name === undefined || ban.name === match.name),
    );
    const lifted = held.filter((ban) => ban.holders.size === 1);
    const kept = held.filter((ban) => ban.holders.size > 1);
    for (const ban of kept) {
      ban.holders.delete(match.publisher);
      ban.expiresAt = latestEnd(ban.holders);
      ban.updatedAt = this.#nowSeconds();
    }
    if (kept.length > 0) await this.#append(kept.map(banRecord));
    await this.#removeAll(lifted);
    return { lifted, kept };
  }

  /** Removes the bans whose end has come; returns them. */
  async expire(): Promise<LedgerBan[]> {
    const nowSeconds = this.#nowSeconds();
    return this.#removeAll([...this.#bans.values()].filter((ban) => !this.#isActive(ban, nowSeconds)));
  }

  /** Sets hosts' states of active bans; unknown keys are skipped (the ban ended meanwhile). */
  async setHostStates(
    updates: ReadonlyArray<{ key: string; host: string; status: HostStatus }>,
  ): Promise<void> {
    const records: Record_[] = [];
    for (const { key, host, status } of updates) {
      const ban = this.#bans.get(key);
      if (ban === undefined) continue;
      if (!ban.hosts.has(host)) this.#live += 1;
      ban.hosts.set(host, { ...status });
      records.push({ t: "host", k: key, h: host, s: status });
    }
    if (records.length > 0) await this.#append(records);
  }

  /**
   * Forgets every state of `host` (a client removed from the config). Not written: a state read back
   * from the file later only concerns a host that is no longer configured, and a rewrite drops it.
   */
  forgetHost(host: string): void {
    for (const ban of this.#bans.values()) if (ban.hosts.delete(host)) this.#live -= 1;
  }

  async close(): Promise<void> {
    await this.#log?.close();
  }

  async #removeAll(bans: LedgerBan[]): Promise<LedgerBan[]> {
    if (bans.length === 0) return [];
    for (const ban of bans) this.#remove(ban.key);
    await this.#append(bans.map((ban) => ({ t: "unban", k: ban.key })));
    return bans;
  }

  #remove(key: string): void {
    const ban = this.#bans.get(key);
    if (ban === undefined) return;
    this.#bans.delete(key);
    this.#live -= 1 + ban.hosts.size;
  }

  #append(records: Record_[]): Promise<void> {
    if (this.#log === undefined) throw new Error("unreachable: ledger used before open");
    return this.#log.append(records, this.#live);
  }

  #replay(record: Record_): void {
    switch (record.t) {
      case "ban": {
        const b = record.b;
        const key = banKey(b);
        const existing = this.#bans.get(key);
        const ban: LedgerBan = {
          key,
          file: b.file,
          name: b.name,
          ip: b.ip,
          params: { ...b.params },
          expiresAt: b.expiresAt,
          createdAt: b.createdAt,
          updatedAt: b.updatedAt,
          requestId: b.requestId,
          sender: b.sender,
          publisher: b.publisher ?? "server",
          holders: new Map(
            b.holders === undefined ? [[b.publisher ?? "server", b.expiresAt]] : Object.entries(b.holders),
          ),
          to: b.to === null ? null : [...b.to],
          hosts: existing?.hosts ?? new Map(),
        };
        if (existing === undefined) this.#live += 1;
        this.#bans.set(key, ban);
        break;
      }
      case "unban":
        this.#remove(record.k);
        break;
      case "host": {
        const ban = this.#bans.get(record.k);
        if (ban === undefined) break;
        if (!ban.hosts.has(record.h)) this.#live += 1;
        ban.hosts.set(record.h, record.s);
        break;
      }
    }
  }

  #snapshot(): Record_[] {
    const records: Record_[] = [];
    for (const ban of this.#bans.values()) {
      records.push(banRecord(ban));
      for (const [host, status] of ban.hosts) records.push({ t: "host", k: ban.key, h: host, s: status });
    }
    this.#live = records.length;
    return records;
  }
}
