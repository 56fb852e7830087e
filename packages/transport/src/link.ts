// One live connection and its channels: the confirm channel publishes go through (reopened after RabbitMQ
// closes it over a refused publish), and the channel queue management runs on, one operation at a time.
import type { Channel, ChannelModel, ConsumeMessage, Options } from "amqplib";
import { describeError, PublishError, replyCode } from "./errors.js";
import { ConfirmPublisher, type PublishProperties } from "./publisher.js";
import { deadLetterDeclaration, type QueueDeclaration } from "./queues.js";
import type { SubscriptionLink } from "./subscription.js";
import type { QueueSpec, TransportLogger } from "./types.js";
import { redactUrl } from "./url.js";

/** What a link needs of the broker that opened it (broker.ts). */
export interface LinkOwner {
  /** Where rejected messages are copied to `.dead` through, if not the default exchange. */
  readonly deadLetterExchange: string | undefined;
  /** Declares one queue on `link`. */
  declare(link: Link, declaration: QueueDeclaration): Promise<void>;
}

/** Operations that may close a channel on error (declare, passive check) run one at a time on this one. */
export class AdminChannel {
  readonly #model: ChannelModel;
  readonly #logger: TransportLogger;
  #channel: Promise<Channel> | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(model: ChannelModel, logger: TransportLogger) {
    this.#model = model;
    this.#logger = logger;
  }

  run<T>(operation: (channel: Channel) => Promise<T>): Promise<T> {
    const result = this.#queue.then(async () => operation(await this.#open()));
    this.#queue = result.catch(() => {});
    return result;
  }

  #open(): Promise<Channel> {
    if (this.#channel !== null) return this.#channel;
    const opening = this.#model.createChannel().then((channel) => {
      channel.on("close", () => {
        if (this.#channel === opening) this.#channel = null;
      });
      // Expected after a failed passive check or a mismatched declare: the next operation opens a new one.
      channel.on("error", (error: Error) => {
        this.#logger.debug({ err: describeError(error) }, "RabbitMQ closed the queue-management channel");
      });
      channel.on("handler-error", (error: Error, event: string) => {
        this.#logger.error({ err: describeError(error), event }, "error in a channel listener");
      });
      return channel;
    });
    opening.catch(() => {
      if (this.#channel === opening) this.#channel = null;
    });
    this.#channel = opening;
    return opening;
  }
}

/** One live connection and the channels on it. */
export class Link implements SubscriptionLink {
  readonly model: ChannelModel;
  readonly url: string;
  readonly admin: AdminChannel;
  readonly #declaredDeadQueues = new Set<string>();
  readonly #checkedExchanges = new Set<string>();
  readonly #broker: LinkOwner;
  readonly #logger: TransportLogger;
  #publisher: ConfirmPublisher;
  #reopening: Promise<ConfirmPublisher> | null = null;
  closed = false;

  constructor(
    broker: LinkOwner,
    model: ChannelModel,
    url: string,
    publisher: ConfirmPublisher,
    logger: TransportLogger,
  ) {
    this.#broker = broker;
    this.model = model;
    this.url = url;
    this.#publisher = publisher;
    this.#logger = logger;
    this.admin = new AdminChannel(model, logger);
  }

  get publisher(): ConfirmPublisher {
    return this.#publisher;
  }

  /**
   * Publishes on this connection's confirm channel. RabbitMQ closes a channel (not the connection) over a
   * refused publish; a new channel is opened then, so one refusal does not fail every later publish.
   * A named exchange is checked once (passively: no access needed): publishing to a missing one would
   * otherwise surface as a closed channel.
   */
  async send(queue: string, body: Buffer, properties: PublishProperties): Promise<void> {
    const exchange = properties.exchange;
    if (exchange !== undefined && !this.#checkedExchanges.has(exchange)) {
      try {
        await this.admin.run((channel) => channel.checkExchange(exchange));
      } catch (error) {
        if (replyCode(error) !== 404) throw error;
        throw new PublishError(
          queue,
          "refused",
          `no exchange "${exchange}" on the broker (it is declared by whoever binds the queues to it)`,
          { messageId: properties.messageId, cause: error },
        );
      }
      this.#checkedExchanges.add(exchange);
    }
    let publisher = this.#publisher;
    if ((publisher.closed || publisher.retired) && !this.closed) publisher = await this.#reopenPublisher();
    await publisher.send(queue, body, properties);
  }

  #reopenPublisher(): Promise<ConfirmPublisher> {
    const previous = this.#publisher;
    this.#reopening ??= this.model
      .createConfirmChannel()
      .then((channel) => {
        this.#publisher = new ConfirmPublisher(channel, this.#logger);
        // A retired (nacked) channel is still open: close it once its last confirms are in.
        if (!previous.closed) void previous.settled().then(() => previous.close());
        this.#logger.info({ url: redactUrl(this.url) }, "publish channel reopened");
        return this.#publisher;
      })
      .finally(() => {
        this.#reopening = null;
      });
    return this.#reopening;
  }

  async deadLetter(spec: QueueSpec, message: ConsumeMessage, reason: string): Promise<void> {
    const declaration = deadLetterDeclaration(spec);
    if (!this.#declaredDeadQueues.has(declaration.name)) {
      await this.#broker.declare(this, declaration);
      this.#declaredDeadQueues.add(declaration.name);
    }
    const p = message.properties;
    const extra: Options.Publish = {};
    if (p.contentType !== undefined) extra.contentType = p.contentType;
    if (p.contentEncoding !== undefined) extra.contentEncoding = p.contentEncoding;
    if (p.correlationId !== undefined) extra.correlationId = p.correlationId;
    if (p.timestamp !== undefined) extra.timestamp = p.timestamp;
    if (p.type !== undefined) extra.type = p.type;
    if (p.appId !== undefined) extra.appId = p.appId;
    const properties: PublishProperties = {
      messageId: typeof p.messageId === "string" ? p.messageId : undefined,
      headers: { ...(p.headers ?? {}), "x-net2ban-reason": reason, "x-net2ban-from": spec.name },
      extra,
      exchange: this.#broker.deadLetterExchange,
    };
    await this.send(declaration.name, message.content, properties);
  }
}
