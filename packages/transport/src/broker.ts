// The amqplib implementation of Broker: one connection to one node of the URL list at a time,
// reconnected with backoff and jitter; queues and consumers are restored on every new connection.
//
// amqplib 2.x has opt-in recovery, but it reconnects to one fixed URL; net2ban must fail over between
// the nodes of a cluster, so the loop lives here (same backoff shape, same setup-after-connect idea).

import amqp, { type ChannelModel } from "amqplib";
import { assertBuffer, assertFunction, assertInteger, assertNonEmptyString, assertObject } from "./assert.js";
import { reconnectDelayMs, reconnectStaggerMs } from "./backoff.js";
import {
  BrokerClosedError,
  BrokerUnavailableError,
  describeError,
  PublishBatchError,
  PublishError,
  QueueMismatchError,
  QueueOperationError,
  replyCode,
} from "./errors.js";
import { assertExchangeName, assertQueueBinding, bindingDeclarations, bindingKey } from "./exchanges.js";
import { Link, type LinkOwner } from "./link.js";
import { resolveBrokerOptions, type Settings } from "./options.js";
import { ConfirmPublisher } from "./publisher.js";
import {
  assertQueueName,
  assertQueueSpec,
  declarationsFor,
  describeDeclaration,
  parseQueueMismatch,
  type QueueDeclaration,
} from "./queues.js";
import { Subscription } from "./subscription.js";
import { withTimeout } from "./timeouts.js";
import type {
  Broker,
  BrokerEvent,
  BrokerEventInfo,
  BrokerOptions,
  Consumer,
  ConsumerOptions,
  Delivery,
  PublishItem,
  PublishOptions,
  QueueBinding,
  QueueInfo,
  QueueSpec,
  TransportLogger,
  Verdict,
} from "./types.js";
import { redactUrl, withHeartbeat } from "./url.js";

/**
 * Connects to the first reachable URL. With `recover: false` it rejects with BrokerUnavailableError
 * after one pass over the URLs; with `recover: true` it waits (logging each failure) until one answers.
 */
export async function connectBroker(options: BrokerOptions): Promise<Broker> {
  const broker = new AmqpBroker(resolveBrokerOptions(options));
  const signal = options.signal;
  if (signal?.aborted) throw new BrokerClosedError("connect aborted by signal");
  const onAbort = () => {
    void broker.close();
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    await broker.start();
  } catch (error) {
    if (signal?.aborted) throw new BrokerClosedError("connect aborted by signal");
    throw error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  return broker;
}

type State = "connecting" | "connected" | "reconnecting" | "lost" | "closing" | "closed";

interface LinkWaiter {
  resolve: (link: Link) => void;
  reject: (error: Error) => void;
}

class AmqpBroker implements Broker, LinkOwner {
  readonly #settings: Settings;
  readonly #logger: TransportLogger;
  #state: State = "connecting";
  #link: Link | null = null;
  #cursor: number;
  #lastFailures: { url: string; error: unknown }[] = [];
  #lostError: BrokerUnavailableError | null = null;
  #waiters: LinkWaiter[] = [];
  readonly #queues = new Map<string, QueueSpec>();
  readonly #bindings = new Map<string, QueueBinding>();
  readonly #subscriptions = new Set<Subscription>();
  readonly #listeners = new Map<BrokerEvent, Set<(info: BrokerEventInfo) => void>>();
  #pause: { timer: NodeJS.Timeout; resolve: () => void } | null = null;
  /** Subscriptions being retried on the live link, and the wake-ups of their pauses (close() runs them). */
  readonly #resubscribing = new Set<Subscription>();
  readonly #wakeUps = new Set<() => void>();
  #reconnecting: Promise<void> | null = null;
  #closing: Promise<void> | null = null;
  /** Aborted by close(): a connection attempt in flight gives up at once instead of at its timeout. */
  readonly #closeRequested = new AbortController();

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#logger = settings.logger;
    this.#cursor = settings.startIndex;
  }

  async start(): Promise<void> {
    try {
      await this.#connectRounds();
    } catch (error) {
      this.#state = "closed";
      throw error;
    }
  }

  // --- Broker API -----------------------------------------------------------------------------------

  async assertQueue(spec: QueueSpec): Promise<void> {
    assertQueueSpec(spec, "spec");
    const copy = normaliseSpec(spec);
    await this.#withLink("assertQueue", (link) => this.#declareSpec(link, copy));
    this.#queues.set(copy.name, copy);
  }

  async publish(queue: string, body: Buffer, opts: PublishOptions = {}): Promise<void> {
    assertQueueName(queue, "queue");
    assertBuffer(body, "body");
    assertObject(opts, "opts");
    if (opts.messageId !== undefined) assertNonEmptyString(opts.messageId, "opts.messageId");
    if (opts.headers !== undefined) assertObject(opts.headers, "opts.headers");
    if (opts.exchange !== undefined) assertExchangeName(opts.exchange, "opts.exchange");
    await this.#publishChecked(queue, body, opts);
  }

  async publishAll(items: PublishItem[]): Promise<void> {
    if (!Array.isArray(items))
      throw new TypeError(`"items" expected an array of { queue, body, messageId? }`);
    items.forEach((item, i) => {
      assertObject(item, `items[${i}]`);
      assertQueueName(item.queue, `items[${i}].queue`);
      assertBuffer(item.body, `items[${i}].body`);
      if (item.messageId !== undefined) assertNonEmptyString(item.messageId, `items[${i}].messageId`);
      if (item.headers !== undefined) assertObject(item.headers, `items[${i}].headers`);
      if (item.exchange !== undefined) assertExchangeName(item.exchange, `items[${i}].exchange`);
    });
    // Pipelined: every message is written before any confirm is awaited.
    const outcomes = await Promise.allSettled(
      items.map((item) =>
        this.#publishChecked(item.queue, item.body, {
          messageId: item.messageId,
          headers: item.headers,
          exchange: item.exchange,
        }),
      ),
    );
    const failures: PublishError[] = [];
    outcomes.forEach((outcome, i) => {
      if (outcome.status === "fulfilled") return;
      const error = outcome.reason;
      failures.push(
        error instanceof PublishError
          ? error
          : new PublishError(items[i]!.queue, "connection-lost", describeError(error), {
              messageId: items[i]!.messageId,
              cause: error,
            }),
      );
    });
    if (failures.length > 0) throw new PublishBatchError(failures, items.length);
  }

  async consume(
    options: ConsumerOptions,
    handler: (delivery: Delivery) => Promise<Verdict>,
  ): Promise<Consumer> {
    assertObject(options, "options");
    assertInteger(options.prefetch, "options.prefetch", 1, 65_535);
    assertQueueSpec(options.queue, "options.queue");
    assertFunction(handler, "handler");
    const spec = normaliseSpec(options.queue);
    await this.#withLink("consume", (link) => this.#declareSpec(link, spec));
    this.#queues.set(spec.name, spec);
    const subscription = new Subscription(
      spec,
      options.prefetch,
      handler,
      this.#logger,
      (s) => this.#subscriptions.delete(s),
      (s) => {
        if (this.#link !== null) this.#resubscribeLater(s, this.#link);
      },
    );
    // In the set before subscribing, so a reconnect meanwhile resubscribes it too (subscribe() is per link).
    this.#subscriptions.add(subscription);
    try {
      await this.#withLink("consume", (link) => subscription.subscribe(link));
    } catch (error) {
      await subscription.cancel();
      throw error;
    }
    return subscription;
  }

  async bindQueue(binding: QueueBinding): Promise<void> {
    assertQueueBinding(binding, "binding");
    const copy: QueueBinding = {
      exchange: binding.exchange,
      exchangeType: binding.exchangeType,
      queue: normaliseSpec(binding.queue),
      ...(binding.deadLetter === undefined ? {} : { deadLetter: binding.deadLetter }),
    };
    await this.#withLink("bindQueue", (link) => this.#bind(link, copy));
    this.#bindings.set(bindingKey(copy), copy);
  }

  async queueInfo(name: string): Promise<QueueInfo | null> {
    assertQueueName(name, "name");
    try {
      const ok = await this.#withLink("queueInfo", (link) =>
        this.#bounded(
          link.admin.run((channel) => channel.checkQueue(name)),
          `queueInfo of "${name}"`,
        ),
      );
      return { messageCount: ok.messageCount, consumerCount: ok.consumerCount };
    } catch (error) {
      if (replyCode(error) === 404) return null;
      if (error instanceof BrokerUnavailableError || error instanceof BrokerClosedError) throw error;
      throw new QueueOperationError(name, "passive check", error);
    }
  }

  async deleteQueue(name: string): Promise<void> {
    assertQueueName(name, "name");
    try {
      await this.#withLink("deleteQueue", (link) =>
        this.#bounded(
          link.admin.run((channel) => channel.deleteQueue(name)),
          `deleteQueue of "${name}"`,
        ),
      );
    } catch (error) {
      if (error instanceof BrokerUnavailableError || error instanceof BrokerClosedError) throw error;
      throw new QueueOperationError(name, "delete", error);
    }
    this.#queues.delete(name);
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  on(event: BrokerEvent, listener: (info: BrokerEventInfo) => void): void {
    if (event !== "connected" && event !== "disconnected") {
      throw new TypeError(
        `"event" expected "connected" or "disconnected", got ${JSON.stringify(String(event))}`,
      );
    }
    assertFunction(listener, "listener");
    let set = this.#listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(event, set);
    }
    set.add(listener);
  }

  // --- used by Link ---------------------------------------------------------------------------------

  get deadLetterExchange(): string | undefined {
    return this.#settings.deadLetterExchange;
  }

  /** Declares one queue on the link, mapping broker refusals to QueueMismatchError / QueueOperationError. */
  async declare(link: Link, declaration: QueueDeclaration): Promise<void> {
    try {
      await this.#bounded(
        link.admin.run((channel) =>
          channel.assertQueue(declaration.name, {
            durable: declaration.exclusive !== true,
            ...(declaration.exclusive === true ? { exclusive: true, autoDelete: true } : {}),
            ...(declaration.arguments === undefined ? {} : { arguments: declaration.arguments }),
          }),
        ),
        `declare of "${declaration.name}"`,
      );
    } catch (error) {
      if (error instanceof BrokerUnavailableError) throw error;
      if (replyCode(error) === 406) {
        const detail = {
          ...parseQueueMismatch(describeError(error)),
          declaredAs: describeDeclaration(declaration),
        };
        throw new QueueMismatchError(declaration.name, detail, { cause: error });
      }
      throw new QueueOperationError(declaration.name, "declare", error);
    }
  }

  // --- internals ------------------------------------------------------------------------------------

  async #declareSpec(link: Link, spec: QueueSpec): Promise<void> {
    for (const declaration of declarationsFor(spec)) await this.declare(link, declaration);
  }

  /** Declares the exchange and the bound queue, then binds the queue under its own name. */
  async #bind(link: Link, binding: QueueBinding): Promise<void> {
    const { exchange, exchangeType } = binding;
    const declarations = bindingDeclarations(binding);
    const bound = declarations.at(-1)!.name;
    try {
      await this.#bounded(
        link.admin.run((channel) => channel.assertExchange(exchange, exchangeType, { durable: true })),
        `declare of exchange "${exchange}"`,
      );
    } catch (error) {
      if (error instanceof BrokerUnavailableError) throw error;
      throw new QueueOperationError(
        bound,
        `declare of ${exchangeType} exchange "${exchange}" for the binding`,
        error,
      );
    }
    for (const declaration of declarations) await this.declare(link, declaration);
    try {
      await this.#bounded(
        link.admin.run((channel) => channel.bindQueue(bound, exchange, bound)),
        `bind of "${bound}" to "${exchange}"`,
      );
    } catch (error) {
      if (error instanceof BrokerUnavailableError) throw error;
      throw new QueueOperationError(bound, `bind to exchange "${exchange}"`, error);
    }
  }

  async #publishChecked(queue: string, body: Buffer, opts: PublishOptions): Promise<void> {
    const { operationTimeoutMs } = this.#settings;
    const timeout = () =>
      new PublishError(
        queue,
        "timeout",
        `not confirmed within ${operationTimeoutMs} ms (it may still arrive)`,
        {
          messageId: opts.messageId,
        },
      );
    let link: Link;
    try {
      link = await this.#requireLink("publish");
    } catch (error) {
      if (error instanceof BrokerClosedError) {
        throw new PublishError(queue, "closed", error.message, { messageId: opts.messageId, cause: error });
      }
      if (error instanceof BrokerUnavailableError) {
        throw new PublishError(queue, "connection-lost", error.message, {
          messageId: opts.messageId,
          cause: error,
        });
      }
      throw error;
    }
    await withTimeout(
      link.send(queue, body, { messageId: opts.messageId, headers: opts.headers, exchange: opts.exchange }),
      operationTimeoutMs,
      timeout,
    );
  }

  /**
   * Runs an idempotent operation (declare, passive check, delete, subscribe) on the live link. If the
   * connection dies under it while recovering, it runs again on the next connection (a few times at most).
   */
  async #withLink<T>(operation: string, run: (link: Link) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const link = await this.#requireLink(operation);
      try {
        return await run(link);
      } catch (error) {
        if (!link.closed || !this.#settings.recover || this.#isClosing() || attempt >= 5) throw error;
        this.#logger.info(
          { operation, err: describeError(error) },
          `${operation} cut off by a lost connection; retrying`,
        );
      }
    }
  }

  /** The live link, waiting for a reconnect (bounded by operationTimeoutMs) when recovering. */
  #requireLink(operation: string): Promise<Link> {
    if (this.#link !== null) return Promise.resolve(this.#link);
    if (this.#state === "closing" || this.#state === "closed")
      return Promise.reject(new BrokerClosedError(operation));
    if (this.#state === "lost" && this.#lostError !== null) return Promise.reject(this.#lostError);
    const waiting = new Promise<Link>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
    });
    const { operationTimeoutMs } = this.#settings;
    return withTimeout(waiting, operationTimeoutMs, () => {
      const failures =
        this.#lastFailures.length > 0
          ? this.#lastFailures
          : this.#settings.urls.map((url) => ({ url, error: new Error("not connected") }));
      return new BrokerUnavailableError(
        failures.map((f) => ({
          url: f.url,
          error: `${describeError(f.error)}; ${operation} waited ${operationTimeoutMs} ms`,
        })),
      );
    });
  }

  #bounded<T>(promise: Promise<T>, what: string): Promise<T> {
    const { operationTimeoutMs } = this.#settings;
    return withTimeout(
      promise,
      operationTimeoutMs,
      () => new Error(`${what}: no reply from RabbitMQ within ${operationTimeoutMs} ms`),
    );
  }

  /** Passes over the URL list until one connects; between passes it waits with backoff (recover) or gives up. */
  async #connectRounds(): Promise<void> {
    const { urls, recover, reconnect, random } = this.#settings;
    let failedRounds = 0;
    for (;;) {
      const failures: { url: string; error: unknown }[] = [];
      for (let i = 0; i < urls.length; i++) {
        if (this.#isClosing()) throw new BrokerClosedError("connect");
        const url = urls[this.#cursor]!;
        this.#cursor = (this.#cursor + 1) % urls.length;
        try {
          await this.#open(url);
          return;
        } catch (error) {
          if (error instanceof BrokerClosedError) throw error;
          failures.push({ url, error });
          this.#logger.warn(
            { url: redactUrl(url), err: describeError(error) },
            "RabbitMQ connection attempt failed",
          );
        }
      }
      this.#lastFailures = failures;
      if (!recover) throw new BrokerUnavailableError(failures);
      failedRounds += 1;
      const delayMs = reconnectDelayMs(failedRounds, reconnect, random);
      this.#logger.warn(
        { delayMs, rounds: failedRounds, urls: urls.map(redactUrl) },
        `RabbitMQ unreachable; retrying in ${delayMs} ms`,
      );
      await this.#sleep(delayMs);
    }
  }

  /** Connects to one URL and restores channels, queues and consumers on it. */
  async #open(url: string): Promise<void> {
    const { heartbeatSeconds, socketOptions } = this.#settings;
    const model = await this.#unlessClosed(amqp.connect(withHeartbeat(url, heartbeatSeconds), socketOptions));
    let link: Link | null = null;
    let closedDuringSetup: Error | undefined;
    model.on("error", (error: Error) => {
      this.#logger.warn({ url: redactUrl(url), err: describeError(error) }, "RabbitMQ connection error");
    });
    model.on("handler-error", (error: Error, event: string) => {
      this.#logger.error({ err: describeError(error), event }, "error in a connection listener");
    });
    model.on("blocked", (reason: string) => {
      this.#logger.warn({ url: redactUrl(url), reason }, "RabbitMQ blocked publishing (resource alarm)");
    });
    model.on("unblocked", () => {
      this.#logger.info({ url: redactUrl(url) }, "RabbitMQ unblocked publishing");
    });
    model.on("close", (error?: Error) => {
      if (link === null) {
        closedDuringSetup = error ?? new Error("connection closed");
        return;
      }
      link.closed = true;
      this.#onLinkClosed(link, error);
    });
    const abandon = async (error: unknown): Promise<never> => {
      await model.close().catch(() => {});
      throw error;
    };

    let candidate: Link;
    const unsubscribed: Subscription[] = [];
    try {
      const publisher = new ConfirmPublisher(await model.createConfirmChannel(), this.#logger);
      candidate = new Link(this, model, url, publisher, this.#logger);
      for (const spec of this.#queues.values()) {
        try {
          await this.#declareSpec(candidate, spec);
        } catch (error) {
          // A mismatch will not heal by reconnecting, and another node cannot serve a classic queue whose
          // node is down: report it and keep the rest of the connection useful (consumers retry below).
          if (!isQueueRefusal(error)) throw error;
          this.#logger.error({ queue: spec.name, err: error.message }, "queue could not be declared again");
        }
      }
      for (const binding of this.#bindings.values()) {
        try {
          await this.#bind(candidate, binding);
        } catch (error) {
          if (!isQueueRefusal(error)) throw error;
          this.#logger.error(
            { queue: binding.queue.name, exchange: binding.exchange, err: error.message },
            "binding could not be made again",
          );
        }
      }
      for (const subscription of this.#subscriptions) {
        try {
          await subscription.subscribe(candidate);
        } catch (error) {
          if (closedDuringSetup !== undefined) throw error;
          this.#logger.error(
            { queue: subscription.spec.name, err: describeError(error) },
            "consumer could not resubscribe; retrying",
          );
          unsubscribed.push(subscription);
        }
      }
    } catch (error) {
      return abandon(error);
    }
    if (closedDuringSetup !== undefined) return abandon(closedDuringSetup);
    if (this.#isClosing()) return abandon(new BrokerClosedError("connect"));

    link = candidate;
    this.#link = link;
    this.#state = "connected";
    this.#lostError = null;
    this.#lastFailures = [];
    const info = { url: redactUrl(url) };
    this.#logger.info(info, `Connected to RabbitMQ at ${info.url}`);
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(link);
    this.#emit("connected", info);
    for (const subscription of unsubscribed) this.#resubscribeLater(subscription, link);
  }

  /**
   * Declares the queue and subscribes again on `link`, with growing pauses (0.5 s doubling to 5 s), until it
   * works, the link is gone (the next connection resubscribes everything) or the consumer is cancelled.
   * For a consumer RabbitMQ cancelled, or one that could not subscribe after a reconnect: a classic queue
   * whose node is down comes back with its node.
   */
  #resubscribeLater(subscription: Subscription, link: Link): void {
    if (this.#resubscribing.has(subscription)) return;
    this.#resubscribing.add(subscription);
    const queue = subscription.spec.name;
    const live = () =>
      !this.#isClosing() && this.#link === link && !link.closed && this.#subscriptions.has(subscription);
    void (async () => {
      try {
        for (let attempt = 1; live(); attempt++) {
          const delayMs = Math.min(5000, 500 * 2 ** Math.min(attempt - 1, 4));
          await this.#wait(delayMs);
          if (!live()) return;
          try {
            await this.#declareSpec(link, subscription.spec);
            await subscription.subscribe(link);
            this.#logger.info({ queue, attempt }, `consuming ${queue} again`);
            return;
          } catch (error) {
            if (!live()) return;
            this.#logger.warn(
              { queue, attempt, err: describeError(error) },
              `cannot consume ${queue} yet; trying again`,
            );
          }
        }
      } finally {
        this.#resubscribing.delete(subscription);
      }
    })().catch(() => {
      // Only a throwing logger gets here; nothing to report it to.
    });
  }

  /**
   * The connection being opened, or BrokerClosedError as soon as close() is called: a host that does not
   * answer would otherwise hold stop() for the whole connect timeout. A connection that still comes up
   * after that is closed at once.
   */
  #unlessClosed(connecting: Promise<ChannelModel>): Promise<ChannelModel> {
    const closeRequested = this.#closeRequested.signal;
    const discard = (model: ChannelModel) => {
      model.on("error", () => {});
      model.close().catch(() => {});
    };
    if (closeRequested.aborted) {
      connecting.then(discard, () => {});
      return Promise.reject(new BrokerClosedError("connect"));
    }
    return new Promise((resolve, reject) => {
      const onClose = () => reject(new BrokerClosedError("connect"));
      closeRequested.addEventListener("abort", onClose, { once: true });
      connecting.then(
        (model) => {
          closeRequested.removeEventListener("abort", onClose);
          if (closeRequested.aborted) discard(model);
          else resolve(model);
        },
        (error: unknown) => {
          closeRequested.removeEventListener("abort", onClose);
          reject(error);
        },
      );
    });
  }

  /** A pause that close() cuts short. */
  #wait(ms: number): Promise<void> {
    if (this.#isClosing()) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakeUps.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakeUps.add(wake);
    });
  }

  #onLinkClosed(link: Link, error: Error | undefined): void {
    if (this.#link !== link) return;
    this.#link = null;
    const info: BrokerEventInfo = { url: redactUrl(link.url), ...(error === undefined ? {} : { error }) };
    if (this.#isClosing()) return;
    this.#logger.warn(
      { url: info.url, err: error === undefined ? undefined : describeError(error) },
      "Connection to RabbitMQ lost",
    );
    this.#emit("disconnected", info);
    if (!this.#settings.recover) {
      this.#state = "lost";
      this.#lostError = new BrokerUnavailableError([{ url: link.url, error: error ?? "connection closed" }], {
        lost: true,
      });
      for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#lostError);
      return;
    }
    this.#state = "reconnecting";
    this.#reconnecting ??= this.#reconnect();
  }

  async #reconnect(): Promise<void> {
    try {
      await this.#sleep(reconnectStaggerMs(this.#settings.reconnect, this.#settings.random));
      await this.#connectRounds();
    } catch (error) {
      if (!(error instanceof BrokerClosedError)) {
        this.#logger.error({ err: describeError(error) }, "RabbitMQ reconnect loop stopped");
      }
    } finally {
      this.#reconnecting = null;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#isClosing()) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pause = null;
        resolve();
      }, ms);
      this.#pause = { timer, resolve };
    });
  }

  #isClosing(): boolean {
    return this.#state === "closing" || this.#state === "closed";
  }

  #emit(event: BrokerEvent, info: BrokerEventInfo): void {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        listener(info);
      } catch (error) {
        this.#logger.error({ event, err: describeError(error) }, "a broker event listener threw");
      }
    }
  }

  async #close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closing";
    this.#closeRequested.abort();
    if (this.#pause !== null) {
      clearTimeout(this.#pause.timer);
      this.#pause.resolve();
      this.#pause = null;
    }
    for (const waiter of this.#waiters.splice(0))
      waiter.reject(new BrokerClosedError("waiting for a connection"));
    for (const wake of this.#wakeUps) wake();
    await Promise.allSettled([...this.#subscriptions].map((s) => s.cancel()));
    const link = this.#link;
    if (link !== null) {
      await withTimeout(
        link.publisher.settled(),
        this.#settings.operationTimeoutMs,
        () => new Error("confirms pending"),
      ).catch(() => {
        this.#logger.warn({}, "closing with publishes still unconfirmed");
      });
      this.#link = null;
      await link.model.close().catch(() => {});
    }
    await this.#reconnecting;
    this.#state = "closed";
    this.#logger.debug({}, "RabbitMQ connection closed");
  }
}

function normaliseSpec(spec: QueueSpec): QueueSpec {
  return {
    name: spec.name,
    ...(spec.queueType === undefined ? {} : { queueType: spec.queueType }),
    ...(spec.deliveryLimit === undefined ? {} : { deliveryLimit: spec.deliveryLimit }),
    ...(spec.exclusive === true ? { exclusive: true } : {}),
  };
}

/** RabbitMQ refused a declare or bind (another type, a classic queue whose node is down, access). */
function isQueueRefusal(error: unknown): error is QueueMismatchError | QueueOperationError {
  return error instanceof QueueMismatchError || error instanceof QueueOperationError;
}
