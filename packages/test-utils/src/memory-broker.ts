// A Broker kept in memory for unit tests. It implements @net2ban/transport's interface, so a method added
// there breaks it, and every test that uses it, at compile time. It records what is published, the
// queues and bindings declared and the verdicts consumers return; a publish to a queue with a consumer
// is delivered to it, one to a queue without one waits there (queueInfo counts it).
import type {
  Broker,
  BrokerEvent,
  BrokerEventInfo,
  Consumer,
  ConsumerOptions,
  Delivery,
  PublishItem,
  PublishOptions,
  QueueBinding,
  QueueInfo,
  QueueSpec,
  Verdict,
} from "@net2ban/transport";

type Handler = (delivery: Delivery) => Promise<Verdict>;

/** What a consumer made of one delivery; a handler that threw has `error` (the transport retries it). */
export interface DeliveryVerdict {
  queue: string;
  delivery: Delivery;
  verdict: Verdict | "error";
  error?: unknown;
}

/** A queue operation, as the broker got it. */
export type QueueOperation =
  | ["assertQueue", QueueSpec]
  | ["bindQueue", QueueBinding]
  | ["consume", QueueSpec]
  | ["deleteQueue", string];

export interface DeliverOptions {
  redelivered?: boolean;
  messageId?: string;
  headers?: Record<string, unknown>;
}

export class MemoryBroker implements Broker {
  /** Every message published, in order (publishAll's items one by one). */
  readonly published: PublishItem[] = [];
  /** assertQueue, bindQueue, consume and deleteQueue calls, in order. */
  readonly operations: QueueOperation[] = [];
  /** The queues declared (assertQueue, consume, bindQueue), by name. */
  readonly queues = new Map<string, QueueSpec>();
  readonly bindings: QueueBinding[] = [];
  /** What the consumers returned, in the order they returned it. */
  readonly verdicts: DeliveryVerdict[] = [];
  closed = false;
  /**
   * Called with each item before it is published: throw to make that publish fail (a full queue, a lost
   * connection). publishAll stops at the first failure and rejects with it.
   */
  beforePublish: ((item: PublishItem) => void) | undefined;

  readonly #consumers = new Map<string, Handler>();
  /** Published to a queue nobody consumes yet: delivered to its next consumer. */
  readonly #waiting = new Map<string, PublishItem[]>();
  readonly #listeners = new Map<BrokerEvent, Array<(info: BrokerEventInfo) => void>>();
  readonly #running = new Set<Promise<unknown>>();
  #deliveryTag = 0;

  async assertQueue(spec: QueueSpec): Promise<void> {
    this.operations.push(["assertQueue", spec]);
    this.#declare(spec);
  }

  async bindQueue(binding: QueueBinding): Promise<void> {
    this.operations.push(["bindQueue", binding]);
    this.#declare(binding.queue);
    this.bindings.push(binding);
  }

  async publish(queue: string, body: Buffer, opts: PublishOptions = {}): Promise<void> {
    this.#publish({ queue, body, ...definedOf(opts) });
  }

  async publishAll(items: PublishItem[]): Promise<void> {
    for (const item of items) this.#publish(item);
  }

  async consume(
    options: ConsumerOptions,
    handler: (delivery: Delivery) => Promise<Verdict>,
  ): Promise<Consumer> {
    const name = options.queue.name;
    if (this.#consumers.has(name)) throw new Error(`MemoryBroker: "${name}" has a consumer already`);
    this.operations.push(["consume", options.queue]);
    this.#declare(options.queue);
    this.#consumers.set(name, handler);
    const waiting = this.#waiting.get(name) ?? [];
    this.#waiting.delete(name);
    for (const item of waiting) this.#track(this.#handOver(item, handler, false));
    return {
      cancel: async () => {
        if (this.#consumers.get(name) === handler) this.#consumers.delete(name);
        await this.settled();
      },
    };
  }

  async queueInfo(name: string): Promise<QueueInfo | null> {
    if (!this.queues.has(name) && !this.#waiting.has(name)) return null;
    return {
      messageCount: this.#waiting.get(name)?.length ?? 0,
      consumerCount: this.#consumers.has(name) ? 1 : 0,
    };
  }

  async deleteQueue(name: string): Promise<void> {
    this.operations.push(["deleteQueue", name]);
    this.queues.delete(name);
    this.#waiting.delete(name);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.#consumers.clear();
    await this.settled();
  }

  on(event: BrokerEvent, listener: (info: BrokerEventInfo) => void): void {
    const listeners = this.#listeners.get(event) ?? [];
    listeners.push(listener);
    this.#listeners.set(event, listeners);
  }

  // --- the test's side ------------------------------------------------------------------------------

  /** Tells the listeners of `event`, as the transport does after a (re)connect or a loss. */
  emit(event: BrokerEvent, info: BrokerEventInfo = { url: "amqp://memory/" }): void {
    for (const listener of this.#listeners.get(event) ?? []) listener(info);
  }

  /** Hands `body` to the consumer of `queue` now and returns its verdict (also recorded in verdicts). */
  async deliver(queue: string, body: Buffer, options: DeliverOptions = {}): Promise<Verdict> {
    const handler = this.#consumers.get(queue);
    if (handler === undefined) throw new Error(`MemoryBroker: nothing consumes "${queue}"`);
    const { redelivered: _, ...fields } = options;
    const item: PublishItem = { queue, body, ...definedOf(fields) };
    const verdict = await this.#handOver(item, handler, options.redelivered ?? false);
    if (verdict === "error") throw this.verdicts.at(-1)!.error;
    return verdict;
  }

  /** Whether something consumes `queue`. */
  consumes(queue: string): boolean {
    return this.#consumers.has(queue);
  }

  /** Removes and returns what was published so far (to `queue` only, when given). */
  take(queue?: string): PublishItem[] {
    if (queue === undefined) return this.published.splice(0);
    const taken = this.published.filter((item) => item.queue === queue);
    const rest = this.published.filter((item) => item.queue !== queue);
    this.published.splice(0, this.published.length, ...rest);
    return taken;
  }

  /** Resolves once every delivery made so far has its verdict. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #declare(spec: QueueSpec): void {
    if (!this.queues.has(spec.name)) this.queues.set(spec.name, { ...spec });
  }

  #publish(item: PublishItem): void {
    if (this.closed) throw new Error("MemoryBroker: publish after close()");
    this.beforePublish?.(item);
    this.published.push(item);
    const handler = this.#consumers.get(item.queue);
    if (handler !== undefined) {
      this.#track(this.#handOver(item, handler, false));
      return;
    }
    const waiting = this.#waiting.get(item.queue) ?? [];
    waiting.push(item);
    this.#waiting.set(item.queue, waiting);
  }

  async #handOver(item: PublishItem, handler: Handler, redelivered: boolean): Promise<Verdict | "error"> {
    this.#deliveryTag += 1;
    const delivery: Delivery = {
      body: item.body,
      redelivered,
      deliveryTag: this.#deliveryTag,
      headers: { ...item.headers },
      ...(item.messageId === undefined ? {} : { messageId: item.messageId }),
    };
    // Never in the publisher's turn: a broker hands messages over asynchronously.
    await Promise.resolve();
    try {
      const verdict = await handler(delivery);
      this.verdicts.push({ queue: item.queue, delivery, verdict });
      return verdict;
    } catch (error) {
      this.verdicts.push({ queue: item.queue, delivery, verdict: "error", error });
      return "error";
    }
  }

  #track(running: Promise<unknown>): void {
    this.#running.add(running);
    void running.finally(() => this.#running.delete(running));
  }
}

/** The fields of `options` that are set (exactOptionalPropertyTypes: no explicit undefined). */
function definedOf<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
