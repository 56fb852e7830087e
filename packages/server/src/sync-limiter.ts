// How often the server sends one agent its whole set of bans. Each differing digest asks for a sync, and
// a sync is built and published under the ledger lock: an agent sending differing digests without end
// would hold up every ban for the rest of the fleet. So an agent gets at most one sync per interval; what
// it asks for meanwhile is folded into one sync at the end of the interval, which sends the set as it is
// then (a later sync always carries everything an earlier one would have).

/** The subset of a pino logger the limiter writes to. */
export interface SyncLimiterLogger {
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** Least time between two whole-set syncs to the same agent. */
export const MIN_SYNC_INTERVAL_MS = 10_000;
/** While an agent keeps being limited, the line saying so comes at most this often. */
const LIMITED_LOG_INTERVAL_MS = 60_000;

export interface SyncLimiterOptions {
  /** Sends the deferred sync of `client` (the caller takes the ledger lock). */
  send: (client: string, reason: string) => Promise<void>;
  logger: SyncLimiterLogger;
  /** Default MIN_SYNC_INTERVAL_MS. */
  minIntervalMs?: number;
  /** Clock in milliseconds since the epoch. */
  now?: () => number;
}

interface ClientSyncs {
  /** When the last sync went out (ms). */
  lastAt: number;
  /** A sync folded for later: when it goes, and why it was asked for first. */
  deferred?: { timer: NodeJS.Timeout; reason: string; folded: number };
  /** When it was last logged as limited (ms). */
  loggedAt?: number;
}

export class SyncLimiter {
  readonly #send: SyncLimiterOptions["send"];
  readonly #logger: SyncLimiterLogger;
  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #clients = new Map<string, ClientSyncs>();
  #stopped = false;

  constructor(options: SyncLimiterOptions) {
    if (typeof options !== "object" || options === null) throw new TypeError(`"options" expected an object`);
    if (typeof options.send !== "function") throw new TypeError(`"options.send" expected a function`);
    const interval = options.minIntervalMs ?? MIN_SYNC_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 0) {
      throw new TypeError(`"options.minIntervalMs" expected a number >= 0, got ${String(interval)}`);
    }
    this.#send = options.send;
    this.#logger = options.logger;
    this.#intervalMs = interval;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Whether a sync to `client` may go out now (then it counts as sent). If not, one sync is scheduled
   * for the end of the interval, and this request is folded into it.
   */
  take(client: string, reason: string): boolean {
    const now = this.#now();
    const syncs = this.#clients.get(client);
    if (syncs === undefined || (syncs.deferred === undefined && now - syncs.lastAt >= this.#intervalMs)) {
      this.#clients.set(client, {
        lastAt: now,
        ...(syncs?.loggedAt === undefined ? {} : { loggedAt: syncs.loggedAt }),
      });
      return true;
    }
    if (syncs.deferred !== undefined) {
      syncs.deferred.folded += 1;
      return false;
    }
    if (this.#stopped) return false;
    const delay = Math.max(0, syncs.lastAt + this.#intervalMs - now);
    const timer = setTimeout(() => this.#due(client), delay);
    timer.unref();
    syncs.deferred = { timer, reason, folded: 1 };
    if (syncs.loggedAt === undefined || now - syncs.loggedAt >= LIMITED_LOG_INTERVAL_MS) {
      syncs.loggedAt = now;
      this.#logger.warn(
        { client, minIntervalMs: this.#intervalMs, reason },
        `syncs to ${client} limited to one per ${this.#intervalMs / 1000} s: its next digests wait for one sync`,
      );
    }
    return false;
  }

  /** The agent's digest matched the ledger: a sync waiting for it is not needed any more. */
  settled(client: string): void {
    const syncs = this.#clients.get(client);
    if (syncs?.deferred === undefined) return;
    clearTimeout(syncs.deferred.timer);
    delete syncs.deferred;
  }

  /** A client removed from the config. */
  forget(client: string): void {
    this.settled(client);
    this.#clients.delete(client);
  }

  /** Drops every sync waiting; none is sent after this. */
  stop(): void {
    this.#stopped = true;
    for (const client of [...this.#clients.keys()]) this.settled(client);
  }

  #due(client: string): void {
    const syncs = this.#clients.get(client);
    const deferred = syncs?.deferred;
    if (syncs === undefined || deferred === undefined || this.#stopped) return;
    delete syncs.deferred;
    syncs.lastAt = this.#now();
    this.#send(client, deferred.reason).catch((error: unknown) => {
      // The next digest that differs asks again.
      this.#logger.error(
        { err: error, client, folded: deferred.folded },
        `deferred sync to ${client} failed`,
      );
    });
  }
}
