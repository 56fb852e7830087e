// The transport seam: the interface net2ban's apps take as a parameter, independent of amqplib.

import type { ReconnectPolicy } from "./backoff.js";

/** The pino methods the transport uses; a pino logger fits as is. */
export interface TransportLogger {
  debug(o: object, msg?: string): void;
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

export interface BrokerOptions {
  /**
   * One or more amqp(s):// URLs (nodes of one cluster), tried in turn round the list from the start
   * index: see `startIndex`.
   */
  urls: string[];
  /** PEM contents for amqps:// URLs; the TLS server name is the URL's host. */
  tls?:
    | {
        ca?: Buffer | string | undefined;
        cert?: Buffer | string | undefined;
        key?: Buffer | string | undefined;
      }
    | undefined;
  /** Heartbeat asked of the broker, in seconds (default 30); a `?heartbeat=` in a URL wins. */
  heartbeatSeconds?: number | undefined;
  /** Shown by `rabbitmqctl list_connections name client_properties`. */
  connectionName?: string | undefined;
  logger: TransportLogger;
  /**
   * true for long-running apps: wait for the broker at start-up and reconnect forever after a loss.
   * false (the default) for one-shot tools: fail fast with BrokerUnavailableError.
   */
  recover?: boolean | undefined;
  /** Limit for one TCP + TLS + AMQP handshake, in ms (default 10 000). */
  connectTimeoutMs?: number | undefined;
  /**
   * Limit for one publish (waiting for a connection, buffer space and the confirm) and one queue
   * operation, in ms (default 30 000). A timed-out publish may still arrive: callers retry and dedupe.
   */
  operationTimeoutMs?: number | undefined;
  /** Reconnect backoff (defaults: 500 ms doubling to 30 s, jitter 0.2). */
  reconnect?: Partial<ReconnectPolicy> | undefined;
  /**
   * Rejected messages are copied to `<queue>.dead` through this exchange (routing key `<queue>.dead`)
   * instead of the default exchange, so a login without write access to the default exchange can still
   * dead-letter. Whoever may bind (net2ban-server) binds the `.dead` queues to it: see bindQueue.
   */
  deadLetterExchange?: string | undefined;
  /**
   * Index of the first URL to try. Default: with a `connectionName`, `preferredUrlIndex(connectionName,
   * urls.length)` (each client always prefers the same node, a fleet spreads evenly); without, random.
   */
  startIndex?: number | undefined;
  /** Source of randomness for the start index and jitter (tests pass a fixed one). */
  random?: (() => number) | undefined;
  /**
   * Aborts connecting (a daemon told to stop while it still waits for the broker): connectBroker rejects
   * with BrokerClosedError. After connectBroker resolved, use close().
   */
  signal?: AbortSignal | undefined;
}

export interface QueueSpec {
  name: string;
  /** "classic" (default: what the Python net2ban created) or "quorum" (replicated). */
  queueType?: "classic" | "quorum" | undefined;
  /** Quorum only: deliveries before the broker dead-letters a message to `<name>.dead` (default 20). */
  deliveryLimit?: number | undefined;
  /**
   * A reply queue (net2banctl --wait, status): exclusive to this connection and deleted with it, so not
   * durable; classic only. Its consumer should never reject (that would declare a durable `.dead`).
   */
  exclusive?: boolean | undefined;
}

export interface Delivery {
  body: Buffer;
  messageId?: string;
  /** The broker delivered this message before (to this or another consumer): it may be a duplicate. */
  redelivered: boolean;
  deliveryTag: number;
  headers: Record<string, unknown>;
}

/**
 * What to do with a delivery once the handler is done.
 * - ack: done, remove it.
 * - reject: can never be handled; copied to `<queue>.dead` (confirmed) and then acked.
 * - requeue: hand it back to the broker for another try.
 */
export type Verdict = "ack" | "reject" | "requeue";

export interface ConsumerOptions {
  /** Deliveries handed out before an ack; handlers run concurrently up to this many. */
  prefetch: number;
  /** Declared (durable) before consuming, and again after every reconnect. */
  queue: QueueSpec;
}

export interface Consumer {
  /** Stops receiving, waits for in-flight handlers to finish and their messages to be settled. */
  cancel(): Promise<void>;
}

export interface PublishOptions {
  messageId?: string | undefined;
  headers?: Record<string, unknown> | undefined;
  /**
   * Publish through this exchange, with the queue's name as routing key, instead of the default exchange
   * (the queue must be bound there under its name: bindQueue). Checked to exist once per connection.
   */
  exchange?: string | undefined;
}

export interface PublishItem {
  queue: string;
  body: Buffer;
  messageId?: string | undefined;
  headers?: Record<string, unknown> | undefined;
  /** As PublishOptions.exchange. */
  exchange?: string | undefined;
}

/** A queue bound to a named exchange under its own name (see bindQueue). */
export interface QueueBinding {
  /** Declared durable if missing. */
  exchange: string;
  /** "topic" lets RabbitMQ topic permissions limit which queue names a login may publish to. */
  exchangeType: "direct" | "topic";
  /** Declared as assertQueue declares it. */
  queue: QueueSpec;
  /** Bind the queue's `<name>.dead` queue instead of the queue itself. */
  deadLetter?: boolean | undefined;
}

export interface QueueInfo {
  /** Messages ready for delivery (not those delivered and awaiting an ack). */
  messageCount: number;
  consumerCount: number;
}

export type BrokerEvent = "connected" | "disconnected";

export interface BrokerEventInfo {
  /** The node's URL, password masked. */
  url: string;
  error?: Error;
}

export interface Broker {
  /** Declares a durable queue; it is remembered and declared again after every reconnect. */
  assertQueue(spec: QueueSpec): Promise<void>;
  /**
   * Declares the exchange and the queue (or its `.dead` queue) and binds that queue under its own name, so
   * that a publish through the exchange with the queue's name reaches it. Needs configure access to both
   * and read access to the exchange. Remembered and done again after every reconnect.
   */
  bindQueue(binding: QueueBinding): Promise<void>;
  /**
   * Persistent, mandatory publish to the default exchange (or `opts.exchange`) on a confirm channel.
   * Resolves once the broker confirmed; rejects with PublishError on nack, on return (no such queue), on
   * refusal (access, missing exchange), on connection loss, or on timeout. The caller decides whether to retry.
   */
  publish(queue: string, body: Buffer, opts?: PublishOptions): Promise<void>;
  /** Many publishes, pipelined; resolves when all are confirmed, else rejects with PublishBatchError. */
  publishAll(items: PublishItem[]): Promise<void>;
  /** Subscribes with manual acks; see Verdict. Re-subscribes after every reconnect. */
  consume(options: ConsumerOptions, handler: (delivery: Delivery) => Promise<Verdict>): Promise<Consumer>;
  /** Passive check; null if the queue does not exist. */
  queueInfo(name: string): Promise<QueueInfo | null>;
  /** Deletes the queue (and forgets it for re-declaration). */
  deleteQueue(name: string): Promise<void>;
  /** Graceful: cancels consumers, waits for in-flight handlers and unconfirmed publishes, closes. */
  close(): Promise<void>;
  on(event: BrokerEvent, listener: (info: BrokerEventInfo) => void): void;
}
