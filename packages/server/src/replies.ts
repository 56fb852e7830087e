// Replies to net2banctl: a `--wait` caller is told which hosts to expect (`accepted`, or why its request
// was refused), then gets each expected host's result; `status` replies are sealed with the same codec.
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { type Codec, LIMITS, type Message } from "@net2ban/protocol";
import type { AcceptedMessage, ResultMessage } from "@net2ban/protocol/fleet";
import type { Logger } from "@net2ban/runtime";
import type { Broker } from "@net2ban/transport";

/** The sender of what the server itself writes: replies, applies, syncs. */
export const SERVER_SENDER = `net2ban-server@${hostname()}`
  .slice(0, 255)
  .replace(/[^A-Za-z0-9._@:+/-]/g, "_");

/** How long a `--wait` caller is sent results for its request (it gives up sooner with --timeout). */
const WAIT_KEPT_MS = 15 * 60 * 1000;
const MAX_WAITS = 10_000;
const SWEEP_INTERVAL_MS = 30_000;

interface Wait {
  replyTo: string;
  /** Who asked: its replies are sealed with its key. */
  publisher: string;
  hosts: Set<string>;
  until: number;
}

export interface RepliesOptions {
  broker: Broker;
  /**
   * The from-server codec of who asked: "server" (the [server] key) or a publisher's name; undefined for
   * one no longer configured (revoked: it is sent nothing more).
   */
  codecFor: (publisher: string) => Codec | undefined;
  logger: Logger;
  /** Clock in milliseconds since the epoch. */
  now: () => number;
}

/** The callers waiting for results, and what they are sent. */
export class Replies {
  readonly #broker: Broker;
  readonly #codecFor: (publisher: string) => Codec | undefined;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #waits = new Map<string, Wait>();
  /** apply ids that answer a request of another id (an unban of several bans). */
  readonly #aliases = new Map<string, string>();
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: RepliesOptions) {
    this.#broker = options.broker;
    this.#codecFor = options.codecFor;
    this.#logger = options.logger;
    this.#now = options.now;
  }

  /** Forgets, from time to time, the callers whose wait is over. */
  start(): void {
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweepTimer.unref();
  }

  stop(): void {
    clearInterval(this.#sweepTimer);
  }

  /** Seals a reply (a `state` part) for `publisher`'s caller; undefined when it is revoked. */
  seal(message: Message, publisher: string): Buffer | undefined {
    return this.#codecFor(publisher)?.seal(message);
  }

  /** The caller of `publisher` at `replyTo` is sent the results of `hosts` for request `requestId`. */
  expect(requestId: string, replyTo: string, hosts: string[], publisher: string): void {
    if (this.#waits.size >= MAX_WAITS) this.#waits.delete(this.#waits.keys().next().value as string);
    this.#waits.set(requestId, {
      replyTo,
      publisher,
      hosts: new Set(hosts),
      until: this.#now() + WAIT_KEPT_MS,
    });
  }

  /** Results of apply `applyId` answer request `requestId`. */
  alias(applyId: string, requestId: string): void {
    this.#aliases.set(applyId, requestId);
  }

  /** Tells the caller, if it waits, that request `requestId` was refused and why. */
  async refuse(
    requestId: string,
    replyTo: string | undefined,
    reason: string,
    publisher: string,
  ): Promise<void> {
    if (replyTo === undefined) return;
    await this.accepted(replyTo, { requestId, hosts: [], refused: reason.slice(0, LIMITS.note) }, publisher);
  }

  /** Tells the caller which hosts its request went to. */
  async accepted(
    replyTo: string,
    fields: Omit<AcceptedMessage, "cmd" | "timestamp" | "id" | "sender">,
    publisher: string,
  ): Promise<void> {
    const codec = this.#codecFor(publisher);
    if (codec === undefined) return;
    const message: AcceptedMessage = {
      cmd: "accepted",
      ...fields,
      timestamp: this.#now() / 1000,
      id: randomUUID(),
      sender: SERVER_SENDER,
    };
    await this.#publish(replyTo, codec.seal(message));
  }

  /** A host's result, to the caller waiting for it (under the request's own id). */
  async result(result: ResultMessage): Promise<void> {
    const requestId = this.#aliases.get(result.requestId) ?? result.requestId;
    const wait = this.#waits.get(requestId);
    const codec = wait === undefined ? undefined : this.#codecFor(wait.publisher);
    if (wait?.hosts.has(result.client) && codec !== undefined) {
      await this.#publish(wait.replyTo, codec.seal({ ...result, requestId }));
    }
  }

  #sweep(): void {
    const now = this.#now();
    for (const [id, wait] of this.#waits) if (wait.until <= now) this.#waits.delete(id);
    for (const [alias, id] of this.#aliases) if (!this.#waits.has(id)) this.#aliases.delete(alias);
  }

  /** Replies are best effort: the caller may have given up (its queue is gone). */
  async #publish(replyTo: string, body: Buffer): Promise<void> {
    try {
      await this.#broker.publish(replyTo, body);
    } catch (error) {
      this.#logger.debug({ err: error, replyTo }, "reply not delivered (the caller is gone)");
      for (const [id, wait] of this.#waits) if (wait.replyTo === replyTo) this.#waits.delete(id);
    }
  }
}
