// Helpers of the fault-injection suite: a seeded PRNG for kill points, a publisher that streams sealed
// requests with confirms and retries across broker restarts, and a tally of the demo action's ban log.
import amqp, { type ConfirmChannel } from "amqplib";

/** mulberry32: a small seeded PRNG, so that a run's kill points can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`"seed" expected an integer, got ${seed}`);
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The i-th address of a run: 10.x.y.z from the counter, unique up to 2^24 bans. */
export function banAddress(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0 || index >= 2 ** 24) {
    throw new RangeError(`"index" expected an integer in [0, 2^24), got ${index}`);
  }
  return `10.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`;
}

export interface StreamItem {
  id: string;
  body: Buffer;
}

export interface StreamOptions {
  /** AMQP URL of the broker. */
  url: string;
  /** Queue to publish into (the server's input queue). */
  queue: string;
  /** Sealed requests, published in order. */
  items: readonly StreamItem[];
  /** Publishes per confirm wait (default 50). */
  window?: number;
  /** Messages per second for this publisher (default: as fast as confirms allow). */
  ratePerSecond?: number;
  /** Gives up when nothing was confirmed for this long, in ms (default 120 000). */
  stallTimeoutMs?: number;
  /** Limit for one confirm wait before the window is sent again, in ms (default 20 000). */
  confirmTimeoutMs?: number;
  /** Called with the number confirmed so far after every confirmed window. */
  onConfirmed?: (confirmed: number) => void;
  /** Awaited before each window is sent: the caller holds the publisher back there (backpressure). */
  beforeWindow?: () => Promise<void>;
}

export interface StreamReport {
  /** Items confirmed by the broker (each counted once). */
  confirmed: number;
  /** Publishes sent again because their confirm never came (the broker may hold both copies). */
  resent: number;
  /** Connections opened after the first (the broker went away). */
  reconnects: number;
}

/** Thrown when a publisher made no progress for stallTimeoutMs. */
export class PublisherStalledError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PublisherStalledError";
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Publishes every item persistently on a confirm channel, a window at a time. A window whose confirms
 * do not all arrive (nack, connection lost, broker killed) is sent again on a new connection: a copy the
 * broker had already taken is then a duplicate with the same id, which the receivers drop.
 */
export async function streamConfirmed(options: StreamOptions): Promise<StreamReport> {
  const window = options.window ?? 50;
  const stallTimeoutMs = options.stallTimeoutMs ?? 120_000;
  const confirmTimeoutMs = options.confirmTimeoutMs ?? 20_000;
  const report: StreamReport = { confirmed: 0, resent: 0, reconnects: 0 };
  const started = Date.now();
  let lastProgress = started;
  let connection: amqp.ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  let opened = 0;
  const drop = () => {
    const old = connection;
    connection = undefined;
    channel = undefined;
    old?.close().catch(() => undefined);
  };
  try {
    while (report.confirmed < options.items.length) {
      if (Date.now() - lastProgress > stallTimeoutMs) {
        throw new PublisherStalledError(
          `no publish confirmed for ${stallTimeoutMs} ms (${report.confirmed}/${options.items.length} confirmed)`,
        );
      }
      if (channel === undefined) {
        try {
          connection = await amqp.connect(options.url, { timeout: 5000 });
          connection.on("error", () => undefined);
          channel = await connection.createConfirmChannel();
          channel.on("error", () => undefined);
          if (opened++ > 0) report.reconnects += 1;
        } catch {
          drop();
          await sleep(250);
          continue;
        }
      }
      if (options.beforeWindow !== undefined) {
        await options.beforeWindow();
        // Time held back by the caller is not a stall.
        lastProgress = Math.max(lastProgress, Date.now());
      }
      const batch = options.items.slice(report.confirmed, report.confirmed + window);
      try {
        for (const item of batch) {
          channel.sendToQueue(options.queue, item.body, { persistent: true, messageId: item.id });
        }
        await withTimeout(channel.waitForConfirms(), confirmTimeoutMs, "waiting for confirms");
      } catch {
        report.resent += batch.length;
        drop();
        await sleep(250);
        continue;
      }
      report.confirmed += batch.length;
      lastProgress = Date.now();
      options.onConfirmed?.(report.confirmed);
      if (options.ratePerSecond !== undefined) {
        const due = started + (report.confirmed / options.ratePerSecond) * 1000;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
      }
    }
  } finally {
    drop();
  }
  return report;
}

export interface BanTally {
  /** Addresses whose ban is in effect exactly once at the end. */
  executed: number;
  /** Addresses sent but not in effect. */
  lost: string[];
  /** Addresses in effect more than once (one unban would not lift them). */
  duplicated: string[];
  /** Addresses undone and banned again after a crash left their ban in doubt (unban lines present). */
  reapplied: string[];
  /** Lines for addresses that were never sent, or lines that are not bans or unbans. */
  unexpected: string[];
  banLines: number;
  unbanLines: number;
}

/**
 * Reads the demo action's append-only log (`ban <ip>` / `unban <ip>`) against the addresses sent, with
 * the counting rules of iptables: a ban adds a rule, an unban removes one if there is one (an unban of
 * an address without a rule fails and changes nothing). What is in effect at the end must be exactly one
 * rule per address sent.
 */
export function tallyBanLog(lines: readonly string[], sent: readonly string[]): BanTally {
  const net = new Map<string, number>();
  for (const ip of sent) net.set(ip, 0);
  const reapplied = new Set<string>();
  const unexpected: string[] = [];
  let banLines = 0;
  let unbanLines = 0;
  for (const line of lines) {
    const match = /^(ban|unban) (\S+)$/.exec(line);
    const ip = match?.[2];
    const count = ip === undefined ? undefined : net.get(ip);
    if (match === null || ip === undefined || count === undefined) {
      unexpected.push(line);
      continue;
    }
    if (match[1] === "ban") {
      banLines += 1;
      net.set(ip, count + 1);
    } else {
      unbanLines += 1;
      net.set(ip, Math.max(0, count - 1));
      reapplied.add(ip);
    }
  }
  const lost: string[] = [];
  const duplicated: string[] = [];
  let executed = 0;
  for (const [ip, count] of net) {
    if (count === 1) executed += 1;
    else if (count < 1) lost.push(ip);
    else duplicated.push(ip);
  }
  return { executed, lost, duplicated, reapplied: [...reapplied], unexpected, banLines, unbanLines };
}
