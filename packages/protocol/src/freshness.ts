// Freshness and replay rules: a message runs once, within valid_wtime of its timestamp, before it expires.
import { assertFunction, assertInteger, assertNumber, assertObject } from "./assert.js";
import type { OpenedMessage } from "./codec.js";
import { MessageRejectedError } from "./errors.js";

/** Options of FreshnessGuard; `validWindowSeconds` is the config's valid_wtime. */
export interface FreshnessGuardOptions {
  /** valid_wtime: how old (seconds) a message may be. */
  validWindowSeconds: number;
  /** How far (seconds) a timestamp may be ahead of this clock; default 60. */
  maxFutureSkewSeconds?: number;
  /** Most message ids remembered at once; default 100 000. */
  maxEntries?: number;
  /** Clock in milliseconds since the epoch (as Date.now); default Date.now. */
  now?: () => number;
}

interface Seen {
  key: string;
  timestamp: number;
}

/**
 * Rejects messages older than the window, too far in the future, past their `expires`, or seen
 * before. Memory is bounded: an id is remembered only while its timestamp is inside the window
 * (after that the message is rejected as expired anyway). When `maxEntries` ids are inside the window,
 * the oldest is forgotten and the acceptance floor rises to its timestamp: from then on nothing at or
 * below the floor is accepted, so a forgotten id can never be accepted again. Under a flood the
 * effective window shrinks (older messages are refused), which is the safe way to fail. The floor also
 * covers a clock that steps back: ids dropped for age stay below it.
 */
export class FreshnessGuard {
  readonly #windowSeconds: number;
  readonly #skewSeconds: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Remembered ids and their timestamps. */
  readonly #seen = new Map<string, number>();
  /** Min-heap by timestamp; entries whose key was forgotten or re-added are skipped when they surface. */
  readonly #heap: Seen[] = [];
  /** Nothing with a timestamp at or below this is accepted (seconds). */
  #floor = Number.NEGATIVE_INFINITY;

  constructor(options: FreshnessGuardOptions) {
    assertObject(options, "options");
    assertNumber(options.validWindowSeconds, "validWindowSeconds", Number.MIN_VALUE, Number.MAX_SAFE_INTEGER);
    const skew = options.maxFutureSkewSeconds ?? 60;
    assertNumber(skew, "maxFutureSkewSeconds", 0, Number.MAX_SAFE_INTEGER);
    const maxEntries = options.maxEntries ?? 100_000;
    assertInteger(maxEntries, "maxEntries", 1, 100_000_000);
    const now = options.now ?? Date.now;
    assertFunction(now, "now");
    this.#windowSeconds = options.validWindowSeconds;
    this.#skewSeconds = skew;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /** Ids currently remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * Accepts `opened` and remembers it, or throws MessageRejectedError with the reason.
   *
   * @example
   * ```ts
   * const guard = new FreshnessGuard({ validWindowSeconds: 3600 }); // valid_wtime
   * const opened = codec.open(wire); // MessageRejectedError for bad bytes
   * guard.check(opened); // MessageRejectedError: expired, future, expires-passed, replay
   * ```
   */
  check(opened: OpenedMessage): void {
    const nowSeconds = this.#now() / 1000;
    const { message, replayKey } = opened;
    const timestamp = message.timestamp;
    this.#prune(nowSeconds);
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
    if (this.#seen.has(replayKey)) throw new MessageRejectedError("replay");
    if (this.#seen.size >= this.#maxEntries) {
      // Full: the oldest remembered id goes, unless the newcomer is older still (then it is the one refused).
      const oldest = this.#oldestLive();
      if (oldest !== undefined && timestamp <= oldest.timestamp) {
        throw new MessageRejectedError("expired", "replay memory full, older than every remembered message");
      }
      this.#evictOldest();
    }
    this.#seen.set(replayKey, timestamp);
    this.#push({ key: replayKey, timestamp });
    // forget() leaves heap entries behind; rebuild before they outnumber the live ones.
    if (this.#heap.length > 2 * this.#maxEntries + 16) this.#rebuild();
  }

  /**
   * Forgets `opened` so that a redelivery of the same message is accepted: for a message that was
   * accepted but could not be carried out.
   *
   * @example
   * ```ts
   * guard.check(opened);
   * try { await carryOut(opened.message); } catch (error) { guard.forget(opened); throw error; }
   * ```
   */
  forget(opened: OpenedMessage): void {
    this.#seen.delete(opened.replayKey);
  }

  /** Drops ids whose timestamp left the window; the floor rises so the clock stepping back cannot revive them. */
  #prune(nowSeconds: number): void {
    const horizon = nowSeconds - this.#windowSeconds;
    for (let top = this.#heap[0]; top !== undefined && top.timestamp < horizon; top = this.#heap[0]) {
      this.#pop();
      if (this.#seen.get(top.key) === top.timestamp) {
        this.#seen.delete(top.key);
        if (top.timestamp > this.#floor) this.#floor = top.timestamp;
      }
    }
  }

  /** The remembered id with the lowest timestamp, dropping stale heap entries on the way. */
  #oldestLive(): Seen | undefined {
    for (let top = this.#heap[0]; top !== undefined; top = this.#heap[0]) {
      if (this.#seen.get(top.key) === top.timestamp) return top;
      this.#pop();
    }
    return undefined;
  }

  #evictOldest(): void {
    const oldest = this.#oldestLive();
    if (oldest === undefined) return;
    this.#pop();
    this.#seen.delete(oldest.key);
    if (oldest.timestamp > this.#floor) this.#floor = oldest.timestamp;
  }

  #rebuild(): void {
    this.#heap.length = 0;
    for (const [key, timestamp] of this.#seen) this.#push({ key, timestamp });
  }

  #push(entry: Seen): void {
    const heap = this.#heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]!.timestamp <= entry.timestamp) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = entry;
  }

  #pop(): Seen | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && heap[right]!.timestamp < heap[left]!.timestamp ? right : left;
      if (heap[child]!.timestamp >= last.timestamp) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}
